"""``viewfinder transcript``: what the index heard and read, printed or exported as subtitles
that the project's own subtitle reader (and so ``ask --subtitles``) reads back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from viewfinder import VideoQA
from viewfinder.cli import main
from viewfinder.errors import ExportFormatError
from viewfinder.settings import Settings
from viewfinder.tools.asr import Segment
from viewfinder.tools.subtitles import format_srt, format_vtt, parse_srt, parse_vtt, read_subtitles
from viewfinder.transcript import Transcript, TranscriptLine, format_for, render

SPOKEN = [
    Segment(0.4, 2.25, "Hello world, this is a test.", (), -0.1, 0.01),
    Segment(3.0, 6.5, "  Now type   ls /usr  and press <Enter>. ", (), -0.2, 0.02),
]


@dataclass
class FakeWhisper:
    """Stands in for Whisper in the index build: returns fixed segments, counts calls."""

    calls: int = 0

    def transcribe(self, audio, progress=None):
        self.calls += 1
        if progress is not None:
            progress(1.0)
        return list(SPOKEN)


@pytest.fixture
def whisper(monkeypatch: pytest.MonkeyPatch) -> FakeWhisper:
    fake = FakeWhisper()
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: fake)
    return fake


def _settings(tmp_path: Path, **kw) -> Settings:
    # Speech only: no OCR, CLIP, VLM or text embedder, so the build stays fast on two cores.
    base = {"ocr": None, "clip": None, "vlm": None, "text_embedding": None, "threads": 1}
    return Settings(cache_dir=tmp_path / "cache", **{**base, **kw})


# --------------------------------------------------------------------------- writers


def test_srt_and_vtt_writers_round_trip_through_the_readers() -> None:
    """Times to the millisecond (past an hour too), markup-like text and whitespace survive
    a write and a read with the project's own parsers."""
    lines = [(0.0, 1.5, "first  line"), (3723.042, 3725.5, "a < b && c > d"), (9.0, 9.0, "x")]
    srt = format_srt(lines)
    assert "01:02:03,042 --> 01:02:05,500" in srt
    assert parse_srt(srt) == [(0.0, 1.5, "first line"), (3723.042, 3725.5, "a < b && c > d"),
                              (9.0, 9.0, "x")]  # fmt: skip
    vtt = format_vtt(lines)
    assert vtt.startswith("WEBVTT") and "a &lt; b &amp;&amp; c &gt; d" in vtt
    assert parse_vtt(vtt) == [(0.0, 1.5, "first line"), (3723.042, 3725.5, "a < b && c > d"),
                              (9.0, 9.0, "x")]  # fmt: skip


def test_format_comes_from_the_flag_then_the_suffix() -> None:
    assert format_for("out.VTT", None) == "vtt"
    assert format_for("out.srt", "json") == "json"
    assert format_for(None, None) == "txt"
    with pytest.raises(ExportFormatError, match=r"\.srt, \.vtt, \.json or \.txt"):
        format_for("subs.doc", None)
    with pytest.raises(ExportFormatError, match="choose one of"):
        render(Transcript("v.mp4", 1.0, ()), "ass")


def test_plain_text_lists_sources_and_times() -> None:
    t = Transcript(
        "v.mp4",
        70.0,
        (
            TranscriptLine(1.24, 2.0, "speech", "hello"),
            TranscriptLine(65.0, 66.0, "text", "ls /usr"),
        ),
    )
    assert render(t, "txt") == (
        "[00:01.2 - 00:02.0] speech: hello\n[01:05.0 - 01:06.0] screen text: ls /usr\n"
    )
    assert "[screen] ls /usr" in render(t, "srt")


# --------------------------------------------------------------------------- real footage


def test_transcript_builds_the_index_once_and_lists_its_speech(
    sample_video: Path, tmp_path: Path, whisper: FakeWhisper
) -> None:
    """The first call indexes the video (reporting progress), later calls read the cache;
    the lines are the speech index's segments with their times, whitespace tidied."""
    seen: list[str] = []
    qa = VideoQA(_settings(tmp_path))
    t = qa.transcript(sample_video, progress=lambda stage, done, total: seen.append(stage))
    assert whisper.calls == 1 and "speech" in seen and "decode" in seen
    assert [(x.start, x.end, x.source, x.text) for x in t.lines] == [
        (0.4, 2.25, "speech", "Hello world, this is a test."),
        (3.0, 6.5, "speech", "Now type ls /usr and press <Enter>."),
    ]
    assert t.notes == () and t.duration == pytest.approx(8.3, abs=0.2)
    again = VideoQA(_settings(tmp_path)).transcript(sample_video, text=True)
    assert whisper.calls == 1  # loaded from the cache
    assert again.notes == ("text: OCR disabled (Settings.ocr is None)",)


def test_transcript_without_speech_model_says_why(sample_video: Path, tmp_path: Path) -> None:
    t = VideoQA(_settings(tmp_path, asr=None)).transcript(sample_video)
    assert t.lines == () and t.notes == ("speech: ASR disabled (Settings.asr is None)",)


def _cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "CACHE_DIR": str(tmp_path / "cache"),
        "OCR": "none",
        "CLIP": "none",
        "VLM": "none",
        "TEXT_EMBEDDING": "none",
        "THREADS": "1",
    }.items():
        monkeypatch.setenv(f"VIEWFINDER_{name}", value)


@pytest.mark.parametrize("suffix", ["srt", "vtt", "json"])
def test_cli_exports_subtitles_that_read_back(
    sample_video: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    whisper: FakeWhisper,
    capsys: pytest.CaptureFixture[str],
    suffix: str,
) -> None:
    """``viewfinder transcript VIDEO -o subs.srt`` writes subtitles ``read_subtitles`` reads
    back to the same lines and times; the JSON keeps each line's source."""
    _cli_env(monkeypatch, tmp_path)
    out = tmp_path / f"subs.{suffix}"
    assert main(["transcript", str(sample_video), "-o", str(out), "-q"]) == 0
    assert "wrote 2 lines" in capsys.readouterr().err
    expected = [
        (0.4, 2.25, "Hello world, this is a test."),
        (3.0, 6.5, "Now type ls /usr and press <Enter>."),
    ]
    if suffix == "json":  # raw text, each line with its source (the reader drops "<tags>")
        lines = json.loads(out.read_text())["lines"]
        assert [(x["start"], x["end"], x["text"]) for x in lines] == expected
        assert {x["source"] for x in lines} == {"speech"}
        assert [x[:2] for x in read_subtitles(out)] == [x[:2] for x in expected]
    else:
        assert read_subtitles(out) == expected


def test_cli_prints_text_and_rejects_an_unknown_suffix_before_indexing(
    sample_video: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    whisper: FakeWhisper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cli_env(monkeypatch, tmp_path)
    assert main(["transcript", str(sample_video), "-o", str(tmp_path / "x.doc")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and whisper.calls == 0
    assert main(["transcript", str(sample_video), "--text", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "[00:00.4 - 00:02.2] speech: Hello world, this is a test.",
        "[00:03.0 - 00:06.5] speech: Now type ls /usr and press <Enter>.",
    ]
    assert "note: text: OCR disabled" in captured.err


@pytest.mark.slow
def test_real_ocr_screen_text_appears_with_its_time(sample_video: Path, tmp_path: Path) -> None:
    """With the real OCR engine, --text lists the terminal's typed ``ls /usr`` and the title
    as screen-text lines inside the 8-second sample (speech off to keep it short)."""
    qa = VideoQA(_settings(tmp_path, asr=None, ocr="rapidocr"))
    t = qa.transcript(sample_video, text=True)
    screen = [x for x in t.lines if x.source == "text"]
    assert screen and all(0 <= x.start <= x.end <= t.duration + 0.01 for x in screen)
    joined = " ".join(x.text.lower() for x in screen)
    assert "usr" in joined and "hello" in joined
