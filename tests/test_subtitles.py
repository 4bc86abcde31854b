"""Subtitles as speech evidence: SRT / WebVTT / JSON parsing, and ``ask(..., subtitles=...)``
on real footage replacing speech recognition for the agent, the uniform baseline and the
benchmark runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import ScriptedLLM

from viewfinder import VideoQA
from viewfinder.errors import AnnotationError, SubtitleError
from viewfinder.eval.datasets import Item, load_longvideobench
from viewfinder.eval.runner import VideoQAAnswerer, run_group
from viewfinder.settings import Settings
from viewfinder.tools.asr import Segment
from viewfinder.tools.subtitles import normalize, parse_srt, parse_vtt, read_subtitles

SRT = """\ufeff1
00:00:01,000 --> 00:00:02,500
<font color="white" size=".72c">Hello &amp; welcome</font>

2
00:00:03,200 --> 00:00:05,000 X1:40 X2:600
{\\an8}<i>two</i>
lines

3
00:00:06,000 --> 00:00:07,000
<i></i>
"""

VTT = """WEBVTT
Kind: captions
Language: en

NOTE made by hand

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Ann>Hi <c.yellow>there</c></v>

01:02:03.5 --> 01:02:04.250
<00:00:03.600>late line
"""

# Never spoken in the sample video: only the subtitles can put it there.
PHRASE = "the purple giraffe sells umbrellas"
SUBTITLES = [[5.0, 6.5, "The purple giraffe sells umbrellas."], [0.5, 2.0, "Hello world."]]
OPTIONS = ["Umbrellas", "Bicycles", "Oranges", "Pianos"]


# --------------------------------------------------------------------------- parsing


def test_srt_cues_with_markup_become_clean_lines() -> None:
    """SRT: times in seconds, tags and entities removed, multi-line text joined, empty cues
    dropped, position settings after the time line ignored."""
    assert parse_srt(SRT) == [(1.0, 2.5, "Hello & welcome"), (3.2, 5.0, "two lines")]


def test_vtt_header_notes_styles_and_tags_are_skipped() -> None:
    """WebVTT: header, NOTE and STYLE blocks skipped; cue ids, voice/class/time tags and
    cue settings removed; hours optional."""
    assert parse_vtt(VTT) == [(1.0, 2.0, "Hi there"), (3723.5, 3724.25, "late line")]


def test_read_subtitles_by_suffix_and_content(tmp_path: Path) -> None:
    """.srt, .vtt and LongVideoBench .json are read by suffix; another suffix by content;
    the offset moves lines onto the video's axis."""
    (tmp_path / "a.srt").write_text(SRT)
    (tmp_path / "a.vtt").write_text(VTT)
    (tmp_path / "a.txt").write_text(VTT)
    (tmp_path / "a.json").write_text(
        json.dumps([{"timestamp": [10.0, 12.0], "text": " hi "}, {"timestamp": [13.0, None]}])
    )
    assert read_subtitles(tmp_path / "a.srt", offset=1.0)[0] == (0.0, 1.5, "Hello & welcome")
    assert read_subtitles(tmp_path / "a.txt") == read_subtitles(tmp_path / "a.vtt")
    assert read_subtitles(tmp_path / "a.json", offset=10.0) == [(0.0, 2.0, "hi")]


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.srt", "1\n00:00:01,000 -> 00:00:02,000\nhi\n", r"bad.srt line 2: .*time line"),
        ("bad.srt", "Just some notes\nwith no times\n", r"line 2: .*'00:01:02,500 -->"),
        ("back.srt", "1\n00:00:05,000 --> 00:00:04,000\nhi\n", r"line 2: the cue ends"),
        ("nohead.vtt", "00:01.000 --> 00:02.000\nhi\n", r"starts with 'WEBVTT'"),
        ("bad.json", '[{"from": 1}]', r"entry 0: expected"),
        ("latin1.srt", b"1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n", r"not UTF-8.*iconv"),
    ],
)
def test_malformed_files_raise_with_the_line_and_the_fix(
    tmp_path: Path, name: str, text: str | bytes, match: str
) -> None:
    """A malformed subtitle file raises SubtitleError (an AnnotationError) naming the line
    and saying how to fix it."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SubtitleError, match=match) as info:
        read_subtitles(path)
    assert isinstance(info.value, AnnotationError) and isinstance(info.value, ValueError)


def test_normalize_clips_sorts_and_rejects_bad_lines() -> None:
    """Lines are sorted, clipped to the video, empty ones dropped; a bad line is refused."""
    lines = [(9.0, 12.0, "late"), (-2.0, 1.0, " early  one "), (20.0, 21.0, "after"), (3, 4, " ")]
    assert normalize(lines, duration=10.0) == ((0.0, 1.0, "early one"), (9.0, 10.0, "late"))
    with pytest.raises(SubtitleError, match=r"line 0 has times 5.0 -> 4.0"):
        normalize([(5.0, 4.0, "x")])
    with pytest.raises(SubtitleError, match=r"\(start, end, text\)"):
        normalize([(1.0, "x")])
    with pytest.raises(SubtitleError, match="read_subtitles"):
        normalize("talk.srt")


def test_longvideobench_loader_reads_srt_subtitles(tmp_path: Path) -> None:
    """The benchmark loader reads subtitles through the same parser (SRT here), offset
    applied, lines as [start, end, text] in the item's meta."""
    record = {
        "video_id": "v1",
        "question": "What is said?",
        "candidates": ["a", "b"],
        "correct_choice": 1,
        "id": "v1_0",
        "video_path": "v1.mp4",
        "subtitle_path": "v1.srt",
        "duration_group": 15,
        "question_category": "S2E",
        "starting_timestamp_for_subtitles": 1.0,
    }
    (tmp_path / "lvb.json").write_text(json.dumps([record]))
    (tmp_path / "v1.mp4").write_bytes(b"x")
    (tmp_path / "subtitles").mkdir()
    (tmp_path / "subtitles" / "v1.srt").write_text(SRT)
    item = load_longvideobench(tmp_path / "lvb.json", tmp_path, subtitles=True).items[0]
    assert item.meta["subtitles"] == [[0.0, 1.5, "Hello & welcome"], [2.2, 4.0, "two lines"]]


# --------------------------------------------------------------------------- real footage


class NoASR:
    """Fails the test if speech recognition runs."""

    def transcribe(self, *args, **kwargs):
        raise AssertionError("speech recognition ran although subtitles were given")


@pytest.fixture
def no_asr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any Whisper load for the index fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the index loaded Whisper although subtitles were given")

    monkeypatch.setattr("viewfinder.tools.asr.load_asr", refuse)


def _settings(tmp_path: Path, **kw) -> Settings:
    # No OCR / CLIP / VLM: the test is about speech, and stays fast on two cores.
    return Settings(cache_dir=tmp_path / "cache", ocr=None, clip=None, vlm=None, threads=1, **kw)


def _quotes_phrase(evidence) -> bool:
    return any(
        e.modality == "speech" and (e.start, e.end) == (5.0, 6.5) and PHRASE in e.text.lower()
        for e in evidence
    )


def test_agent_indexes_subtitles_instead_of_asr(sample_video: Path, tmp_path: Path, no_asr):
    """With subtitles, the agent's speech index is built from them (no ASR), search finds an
    unspoken phrase at its time, and the answer's evidence quotes it with that time."""
    qa = VideoQA(_settings(tmp_path))
    handle = qa.index(sample_video, subtitles=SUBTITLES)
    assert handle.work["subtitles"] == "built" and "speech" not in handle.work
    hits = handle.search_speech("giraffe selling umbrellas")
    assert (hits[0].start, hits[0].end) == (5.0, 6.5) and PHRASE in hits[0].text.lower()

    llm = ScriptedLLM([{"A": 0.9}])
    qa.models.use("llm", llm)
    ans = qa.ask(sample_video, "What does the giraffe sell?", OPTIONS, subtitles=SUBTITLES)
    assert ans.choice == "A" and ans.usage["speech_source"] == "subtitles"
    assert ans.usage["index"] == {p: "cached" for p in handle.work}  # index() built it
    assert _quotes_phrase(ans.evidence)
    assert any("purple giraffe" in p and "0:05" in p for p in llm.prompts)


def test_whisper_and_subtitle_indexes_are_cached_side_by_side(
    sample_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """One video keeps its ASR speech index and a subtitle-based one: building either never
    evicts the other, and each loads later without rebuilding."""

    @dataclass
    class FakeWhisper:
        calls: list

        def transcribe(self, audio, progress=None):
            self.calls.append(len(audio))
            return [Segment(0.0, 1.0, "hello world", (), -0.1, 0.01)]

    whisper = FakeWhisper([])
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: whisper)
    settings = _settings(tmp_path)
    asr_handle = VideoQA(settings).index(sample_video)
    assert asr_handle.work["speech"] == "built" and whisper.calls
    subs_handle = VideoQA(settings).index(sample_video, subtitles=SUBTITLES)
    assert subs_handle.work["subtitles"] == "built"

    whisper.calls.clear()
    again = VideoQA(settings)
    assert again.index(sample_video).work["speech"] == "loaded"
    assert again.index(sample_video, subtitles=SUBTITLES).work["subtitles"] == "loaded"
    assert whisper.calls == []
    assert [s.text for s in again.index(sample_video).speech_segments] == ["hello world"]
    other = [[1.0, 2.0, "a different subtitle track"]]
    assert again.index(sample_video, subtitles=other).work["subtitles"] == "built"


def test_uniform_reads_subtitles_as_its_transcript(sample_video: Path, tmp_path: Path):
    """The uniform baseline takes the subtitles as its transcript: no ASR, the line quoted."""
    qa = VideoQA(_settings(tmp_path, strategy="uniform"))
    llm = ScriptedLLM([{"A": 0.9}])
    qa.models.use("llm", llm)
    qa.models.use("asr", NoASR())
    srt = tmp_path / "talk.srt"  # a path works as well as lines
    srt.write_text("1\n00:00:05,000 --> 00:00:06,500\nThe purple giraffe sells umbrellas.\n")
    ans = qa.ask(sample_video, "What does the giraffe sell?", OPTIONS, subtitles=srt)
    assert _quotes_phrase(ans.evidence)
    assert [t for t in ans.trace if t.get("step") == "speech"][0]["source"] == "subtitles"
    assert any("purple giraffe" in p for p in llm.prompts)


def test_runner_passes_item_subtitles_to_index_and_answer(
    sample_video: Path, tmp_path: Path, no_asr
):
    """The benchmark runner indexes a video with its items' subtitles and answers from them:
    the logged evidence quotes the subtitle line, and no ASR runs."""
    answerer = VideoQAAnswerer(_settings(tmp_path))
    answerer._qa.models.use("llm", ScriptedLLM([{"A": 0.9}]))
    meta = {"duration_group": 15, "subtitles": SUBTITLES}
    items = [
        Item(f"q{n}", "What does the giraffe sell?", tuple(OPTIONS), "A", sample_video, meta)
        for n in range(2)
    ]
    records = list(run_group(answerer, "longvideobench", sample_video, items))
    assert [r["status"] for r in records] == ["ok", "ok"], records
    assert all(r["correct"] for r in records)
    index = records[0]["usage"]["index"]  # prepare() built it; the answer found it ready
    assert index["subtitles"] == "cached" and "speech" not in index
    assert records[0]["index_seconds"] > 0
    quoted = [e for e in records[0]["evidence"] if PHRASE in e["text"].lower()]
    assert quoted and (quoted[0]["start"], quoted[0]["end"]) == (5.0, 6.5)
    assert "subtitles" not in records[0]["meta"]  # kept out of the log


def test_cli_ask_with_a_malformed_subtitle_file_prints_the_fix(sample_video, tmp_path: Path):
    """`ask VIDEO Q --subtitles bad.srt`: one error line naming the bad line, exit code 1."""
    import subprocess
    import sys

    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01 to 00:00:02\nhello\n")
    code = "import sys; from viewfinder.cli import ask_main; sys.exit(ask_main())"
    result = subprocess.run(
        [sys.executable, "-c", code, str(sample_video), "What is said?", "--subtitles", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "bad.srt line 2" in lines[0] and "00:01:02,500 --> 00:01:04,000" in lines[0]
