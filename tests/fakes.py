"""Cheap fakes that implement viewfinder's real interfaces, shared by the tests.

Each fake subclasses (or satisfies) the interface the code under test depends on, so a change to
that interface breaks the fake where it is defined, not silently in one test file. None of them
loads weights; they answer from a script or from their inputs.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from viewfinder.indexes.fusion import Hit
from viewfinder.indexes.screen_text import TextSpan
from viewfinder.indexes.transcript import SpeechSegment
from viewfinder.models import ResolvedModel
from viewfinder.tools.asr import Segment, Word
from viewfinder.tools.llm import Generation, LLMOptions, TextLLM
from viewfinder.tools.ocr import Box, OcrEngine, OcrOptions
from viewfinder.tools.shots import Clip
from viewfinder.tools.video import VideoInfo

# --------------------------------------------------------------------------- model fakes


class ScriptedLLM(TextLLM):
    """A ``TextLLM`` whose answers come from a script; it records every prompt it is shown.

    ``choose`` returns the next entry of ``choices`` (the last one repeats); letters an entry
    leaves out share what probability it leaves. ``generate`` returns ``plan_text``. Token
    counts are real: the backend primitives below treat each word as a token.
    """

    BACKEND_NAME: ClassVar[str] = "scripted"

    def __init__(
        self, choices: Sequence[dict[str, float]] | None = None, plan_text: str = ""
    ) -> None:
        super().__init__(Path("scripted.gguf"), LLMOptions(n_ctx=4096), name="scripted")
        self.choices = list(choices or [{"A": 0.9}])
        self.plan_text = plan_text
        self.prompts: list[str] = []
        self.calls = 0
        self._vocab: dict[str, int] = {}

    def choose(
        self, system: str, user: str, letters: Sequence[str], *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        self.calls += 1
        self.prompts.append(user)
        probs = self.choices.pop(0) if len(self.choices) > 1 else self.choices[0]
        left_out = [k for k in letters if k not in probs]
        rest = max(0.0, 1.0 - sum(probs.get(k, 0.0) for k in letters))
        return {k: probs[k] if k in probs else rest / len(left_out) for k in letters}

    def generate(self, system: str, user: str, *args: Any, **kwargs: Any) -> Generation:
        self.prompts.append(user)
        return Generation(self.plan_text, len(user.split()), 5, -0.1, 0.01)

    # Backend primitives: words are tokens (token 0 ends a turn).
    def _load(self) -> None:
        pass

    def _chat_text(self, system: str, user: str) -> str:
        return f"{system}\n{user}\n"

    def _encode_plain(self, text: str) -> list[int]:
        return [self._vocab.setdefault(w, len(self._vocab) + 1) for w in text.split()]

    def _encode_prompt(self, text: str) -> list[int]:
        return self._encode_plain(text)

    def _decode(self, tokens: Sequence[int]) -> bytes:
        words = {i: w for w, i in self._vocab.items()}
        return " ".join(words.get(t, "") for t in tokens).encode()

    def _is_end(self, token: int) -> bool:
        return token == 0

    def _next_logits(self, tokens: Sequence[int]) -> np.ndarray:
        raise AssertionError("ScriptedLLM answers from its script; the decoding loop never runs")


class FakeTranscriber:
    """Stands in for ``tools.asr.Transcriber``: one segment per call, naming the audio length."""

    def __init__(self, name: str, options: Any = None) -> None:
        self.name = name
        self.options = options
        self.calls = 0

    def transcribe(self, audio: np.ndarray, progress: Callable[[float], None] | None = None):
        self.calls += 1
        seconds = len(audio) / 16000
        if progress:
            progress(1.0)
        if seconds <= 0:
            return []
        word = Word(0.0, min(seconds, 1.0), "hello", 0.9)
        return [Segment(0.0, min(seconds, 1.0), "hello there", (word,), -0.1, 0.01)]


class FakeOcrEngine(OcrEngine):
    """An ``OcrEngine`` that finds no text (the real detect/recognize contract, no runtime)."""

    ENGINE_NAME: ClassVar[str] = "fake-ocr"
    MODULE: ClassVar[str] = "numpy"
    EXTRA: ClassVar[str] = "ocr"

    def __init__(self, model: ResolvedModel, options: OcrOptions | None = None) -> None:
        super().__init__(model, options or OcrOptions())
        self.frames_seen = 0
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Box]:
        with self._lock:
            self.frames_seen += 1
        return []

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        return [("", 0.0) for _ in crops]


class FakeTextEmbedder:
    """Stands in for ``tools.text_embed.TextEmbedder``: a deterministic bag-of-words hash."""

    dim = 16

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def fingerprint(self) -> dict[str, str | None]:
        return {"name": self.name, "sha256": "fake"}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hashlib.sha1(word.encode()).digest()[0] % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-6)


class LoadCounter:
    """Replaces the real loader functions with counting ones that return the fakes above.

    ``counts[role]`` is how many times that role's loader ran: what "loaded once" means.
    """

    def __init__(self, monkeypatch: Any) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        monkeypatch.setattr("viewfinder.tools.asr.load_asr", self._asr)
        monkeypatch.setattr("viewfinder.tools.ocr.load_ocr", self._ocr)
        monkeypatch.setattr("viewfinder.tools.text_embed.text_embedder", self._embedder)
        monkeypatch.setattr("viewfinder.tools.llm.load_llm", self._llm)

    def _count(self, role: str) -> None:
        with self._lock:
            self.counts[role] = self.counts.get(role, 0) + 1

    def _asr(self, name: str, options: Any = None, cache_dir: Path | None = None):
        self._count("asr")
        return FakeTranscriber(name, options)

    def _ocr(self, name: str, options: Any = None, cache_dir: Path | None = None):
        self._count("ocr")
        return FakeOcrEngine(ResolvedModel("ocr", name, Path(name), None), options)

    def _embedder(self, name: str, options: Any = None, cache_dir: Path | None = None):
        self._count("text-embedding")
        return FakeTextEmbedder(name)

    def _llm(self, name: str, options: Any = None, cache_dir: Path | None = None, backend=None):
        self._count("llm")
        return ScriptedLLM([{"A": 0.9, "B": 0.1}])


def fake_weights(root: Path, *roles: str) -> dict[str, str]:
    """A directory per role standing for its weights: model names that resolve as paths."""
    names = {}
    for role in roles:
        directory = root / f"{role}-weights"
        directory.mkdir(parents=True, exist_ok=True)
        names[role] = str(directory)
    return names


# --------------------------------------------------------------------------- index fakes


def video_info(
    path: Path = Path("/videos/talk.mp4"),
    duration: float = 600.0,
    width: int = 1280,
    height: int = 720,
) -> VideoInfo:
    """A ``VideoInfo`` for a video that need not exist (the agent reads only these fields)."""
    return VideoInfo(
        path, duration, 30.0, width, height, int(duration * 30), True, "h264", "aac", False
    )


def line(start: float, end: float, text: str, box=(100.0, 600.0, 400.0, 630.0)) -> TextSpan:
    """An on-screen text span read with confidence 0.9."""
    return TextSpan(start, end, text, tuple(box), 0.9)


@dataclass
class FakeIndex:
    """An ``AgentIndex`` over given segments and spans; search ranks them by shared words.

    Every search is recorded in ``queries`` as (modality, query, k). Searching a modality that
    ``available`` marks missing fails the test: the agent must skip it.
    """

    info: VideoInfo = field(default_factory=video_info)
    clips: list[Clip] = field(default_factory=list)
    speech_segments: list[SpeechSegment] = field(default_factory=list)
    text_spans: list[TextSpan] = field(default_factory=list)
    available: dict[str, str] = field(
        default_factory=lambda: {
            "speech": "ok",
            "text": "ok",
            "visual": "no CLIP weights installed",
        }
    )
    queries: list[tuple[str, str, int]] = field(default_factory=list)

    def _search(self, modality: str, items: Sequence[Any], query: str, k: int) -> list[Hit]:
        if self.available.get(modality) != "ok":
            raise AssertionError(f"the {modality} index is unavailable and must not be searched")
        self.queries.append((modality, query, k))
        words = set(query.lower().split())
        scored = sorted(items, key=lambda s: -len(words & set(s.text.lower().split())))
        return [
            Hit(s.start, s.end, modality, s.text, 1.0 / (r + 1), r, f"{modality}:fake")
            for r, s in enumerate(scored[:k])
        ]

    def search_speech(self, query: str, k: int = 10) -> list[Hit]:
        return self._search("speech", self.speech_segments, query, k)

    def search_text(self, query: str, k: int = 10) -> list[Hit]:
        return self._search("text", self.text_spans, query, k)

    def search_visual(self, query: str, k: int = 10) -> list[Hit]:
        return self._search("visual", [], query, k)


def talk_index() -> FakeIndex:
    """A 10-minute talk: a shot every 10 s, a speech segment and a slide title every 20 s;
    the meeting's new day is said at 5:00."""
    speech = [
        SpeechSegment(t, t + 4, f"topic number {t // 20} is discussed") for t in range(0, 600, 20)
    ]
    speech[15] = SpeechSegment(300, 304, "the meeting moved to thursday")
    return FakeIndex(
        clips=[Clip(t, t + 10.0, (t + 5.0,)) for t in range(0, 600, 10)],
        speech_segments=speech,
        text_spans=[line(t + 10, t + 14, f"slide {t // 20}") for t in range(0, 600, 20)],
    )
