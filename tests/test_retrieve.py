"""``--strategy retrieve``: one search of the question (and options) over every index, the top
passages to the answering model; no plan, no per-option lookup, no second look."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from viewfinder import VideoQA
from viewfinder.cli import build_parser
from viewfinder.cli.evaluate import STRATEGIES as EVAL_STRATEGIES
from viewfinder.errors import UnknownStrategyError
from viewfinder.settings import Settings
from viewfinder.tools.asr import Segment
from viewfinder.tools.llm import Generation

SPOKEN = [
    Segment(0.3, 2.0, "Welcome to the demo of our editor.", (), -0.1, 0.01),
    Segment(2.2, 4.0, "The weather today is sunny.", (), -0.1, 0.01),
    Segment(4.5, 6.5, "To save the file, press F5.", (), -0.1, 0.01),
    Segment(6.6, 8.0, "Thanks for watching.", (), -0.1, 0.01),
]


@dataclass
class FakeWhisper:
    def transcribe(self, audio, progress=None):
        return list(SPOKEN)


@dataclass
class ReadingLLM:
    """Picks the option whose words occur in an evidence line; records every call."""

    n_ctx: int = 4096
    calls: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def choose(self, system, user, letters, assistant_prefix=""):
        self.calls.append("choose")
        self.prompts.append(user)
        evidence = user.split("Evidence from the video", 1)[1].split("Closest words", 1)[0]
        options = dict(re.findall(r"^\(([A-F])\) (.+)$", user.split("Evidence", 1)[0], re.M))
        hits = {k: float(options[k].lower() in evidence.lower()) for k in letters}
        total = sum(hits.values())
        if not total:
            return {k: 1 / len(letters) for k in letters}
        return {k: (0.9 * v / total + 0.1 / len(letters)) for k, v in hits.items()}

    def generate(self, system, user, max_tokens=64, stop=None, assistant_prefix="", **kw):
        self.calls.append("generate")
        self.prompts.append(user)
        return Generation("press F5", len(user.split()), 2, -0.2, 0.01)


@pytest.fixture
def qa(sample_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VideoQA:
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: FakeWhisper())
    settings = Settings(
        cache_dir=tmp_path / "cache",
        strategy="retrieve",
        ocr=None,
        clip=None,
        vlm=None,
        text_embedding=None,
        threads=1,
    )
    engine = VideoQA(settings)
    engine.models.use("llm", ReadingLLM())
    return engine


def test_retrieve_searches_once_and_answers_from_the_top_passages(
    qa: VideoQA, sample_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fused search with the question and the options' words, no planning generation;
    the passage that names the key is in the prompt and in the answer's evidence."""
    handle = qa.index(sample_video)
    searches: list[str] = []
    real = handle.search

    def counted(query, k=10, modalities=None):
        searches.append(query)
        return real(query, k, modalities)

    monkeypatch.setattr(handle, "search", counted)
    stages: list[tuple[str, float, float]] = []
    ans = qa.ask(
        sample_video,
        "Which key saves the file?",
        ["F2", "F5", "F9"],
        progress=lambda s, d, t: stages.append((s, d, t)),
    )
    llm = qa.models.get("llm")
    assert searches == ["Which key saves the file? F2 F5 F9"]
    assert llm.calls == ["choose"]  # no plan, no second look
    assert ans.choice == "B" and ans.text == "F5"
    assert "press F5" in llm.prompts[0]
    assert any(e.modality == "speech" and "press F5" in e.text for e in ans.evidence)
    assert ans.usage["strategy"] == "retrieve" and ans.usage["passages"] >= 1
    assert ("retrieve", 2, 2) in stages
    assert any("text index unavailable" in n for n in ans.notes)


def test_retrieve_answers_open_questions_with_one_generation(
    qa: VideoQA, sample_video: Path
) -> None:
    ans = qa.ask(sample_video, "What do you press to save the file?")
    llm = qa.models.get("llm")
    assert llm.calls == ["generate"] and ans.choice is None and "F5" in ans.text
    assert any("press F5" in e.text for e in ans.evidence)


def test_strategy_choice_is_offered_everywhere() -> None:
    parser, _ = build_parser()
    args = parser.parse_args(["ask", "v.mp4", "q", "--strategy", "retrieve"])
    assert args.strategy == "retrieve" and "retrieve" in EVAL_STRATEGIES
    with pytest.raises(UnknownStrategyError, match="retrieve"):
        VideoQA(strategy="ranked")


class CountingLLM(ReadingLLM):
    """Reports prompt tokens as it reads, like the real models' ``progress=`` argument."""

    def choose(self, system, user, letters, assistant_prefix="", progress=None):
        total = self.count_tokens(user)
        for done in range(0, total + 1, max(1, total // 4)):
            progress(min(done, total), total)
        progress(total, total)
        return super().choose(system, user, letters, assistant_prefix)


def test_the_answering_models_tokens_move_the_progress_bar(qa: VideoQA, sample_video: Path):
    """While the model reads the prompt, progress reports climb to its token count (the bar
    no longer sits still through answering)."""
    qa.models.use("llm", CountingLLM())
    stages: list[tuple[str, float, float]] = []
    qa.ask(sample_video, "Which key saves?", ["F2", "F5"], progress=lambda *a: stages.append(a))
    model = [(d, t) for s, d, t in stages if s == "answer model"]
    assert len(model) >= 4 and model[-1][0] == model[-1][1] > 20
