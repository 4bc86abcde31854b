"""``runtime.Models`` is the one owner of loaded models: each loads once per process.

The real loader functions are replaced by counting ones that return cheap fakes implementing
the real interfaces (tests/fakes.py), so these tests run the real indexing and answering code
without loading any weights.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeTranscriber, LoadCounter, fake_weights

from viewfinder.runtime import Models
from viewfinder.settings import Settings


def _tiny_video(path: Path, seed: int, seconds: float = 2.0, fps: int = 10) -> Path:
    """A 64x64 video with a tone: different content (so a different index) per ``seed``."""
    av = pytest.importorskip("av")
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            image = np.full((64, 64, 3), base, np.uint8)
            image[: (i * 3) % 64] = 255 - base
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        out.mux(video.encode())
        t = np.arange(int(seconds * 16000)) / 16000
        wave = (0.3 * np.sin(2 * np.pi * (300 + 100 * seed) * t)).astype(np.float32)
        for start in range(0, len(wave), 1024):
            frame = av.AudioFrame.from_ndarray(
                wave[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return path


@pytest.fixture
def videos(tmp_path: Path) -> list[Path]:
    return [_tiny_video(tmp_path / f"v{i}.mp4", i) for i in range(3)]


@pytest.fixture
def weights(tmp_path: Path) -> dict[str, str]:
    return fake_weights(tmp_path / "weights", "asr", "ocr", "text-embedding", "llm")


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, weights: dict[str, str]) -> None:
    monkeypatch.setenv("VIEWFINDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VIEWFINDER_ASR", weights["asr"])
    monkeypatch.setenv("VIEWFINDER_OCR", weights["ocr"])
    monkeypatch.setenv("VIEWFINDER_TEXT_EMBEDDING", weights["text-embedding"])
    monkeypatch.setenv("VIEWFINDER_CLIP", "none")
    monkeypatch.setenv("VIEWFINDER_THREADS", "1")


def test_viewfinder_index_of_three_videos_loads_whisper_and_ocr_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, videos: list[Path], weights, capsys
):
    """``viewfinder index a b c`` in one process loads Whisper, OCR and the text embedder
    once each and uses them for all three videos (before, each video loaded its own)."""
    pytest.importorskip("sentence_transformers")
    from viewfinder.cli import main

    _env(monkeypatch, tmp_path, weights)
    counter = LoadCounter(monkeypatch)
    assert main(["index", *map(str, videos)]) == 0
    out = capsys.readouterr().out
    assert out.count("1 speech segments") == 3, out
    assert counter.counts == {"asr": 1, "ocr": 1, "text-embedding": 1}


def test_several_questions_load_each_model_once_and_close_releases_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, videos: list[Path], weights
):
    """A long-lived VideoQA indexes and answers with one Models: three questions over two
    videos load each role once; ``loaded()`` says what it holds and ``close()`` lets it go."""
    pytest.importorskip("langgraph")
    pytest.importorskip("sentence_transformers")
    from viewfinder import VideoQA

    _env(monkeypatch, tmp_path, weights)
    monkeypatch.setenv("VIEWFINDER_LLM", weights["llm"])
    monkeypatch.setenv("VIEWFINDER_VLM", "none")
    counter = LoadCounter(monkeypatch)
    with VideoQA() as qa:
        for video in (videos[0], videos[1], videos[0]):
            answer = qa.ask(video, "What is said?", ["hello there", "goodbye"])
            assert answer.text == "hello there"
        held = qa.models.loaded()
        assert set(held) == {"asr", "ocr", "text-embedding", "llm"}
        assert held["asr"]["path"] == str(Path(weights["asr"]).resolve())
        assert answer.models["llm"]["name"] == weights["llm"]
        assert counter.counts == {"asr": 1, "ocr": 1, "text-embedding": 1, "llm": 1}
    assert qa.models.loaded() == {}
    # Closed means released, not broken: the next question loads again.
    qa.ask(videos[1], "What is said?", ["hello there", "goodbye"])
    assert counter.counts["llm"] == 2


def test_thread_counts_share_one_model_but_result_options_do_not(tmp_path, monkeypatch):
    """Index building (1 thread per engine) and answering (all threads) share one Whisper;
    a different language is a different model instance, since results change with it."""
    from viewfinder.tools.asr import AsrOptions

    weights = fake_weights(tmp_path, "asr")
    counter = LoadCounter(monkeypatch)
    models = Models(Settings(cache_dir=tmp_path, asr=weights["asr"], threads=2))
    answering = models.get("asr")
    indexing = models.get("asr", AsrOptions(threads=1, workers=2))
    assert isinstance(answering, FakeTranscriber) and indexing is answering
    assert models.get("asr", AsrOptions(language="de")) is not answering
    assert counter.counts == {"asr": 2} and models.loaded()["asr"]["instances"] == 2


def test_a_slow_load_blocks_only_its_own_role(tmp_path, monkeypatch):
    """Two threads asking for the same role wait for one load; another role is not held up."""
    weights = fake_weights(tmp_path, "asr", "ocr")
    counter = LoadCounter(monkeypatch)
    release = threading.Event()
    real_asr = counter._asr

    def slow_asr(*args, **kwargs):
        release.wait(5)
        return real_asr(*args, **kwargs)

    monkeypatch.setattr("viewfinder.tools.asr.load_asr", slow_asr)
    models = Models(Settings(cache_dir=tmp_path, asr=weights["asr"], ocr=weights["ocr"]))
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(models.get("asr"))) for _ in range(2)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    assert models.get("ocr") is not None  # while Whisper is still loading
    assert time.perf_counter() - started < 2.0
    release.set()
    for t in threads:
        t.join(5)
    assert len(got) == 2 and got[0] is got[1] and counter.counts == {"asr": 1, "ocr": 1}


def test_missing_weights_are_reported_not_raised_by_get(tmp_path):
    """get() returns None for a model that is not installed and describe() says why."""
    models = Models(Settings(cache_dir=tmp_path, asr=str(tmp_path / "no-such-whisper")))
    assert models.get("asr") is None
    assert "does not exist" in models.describe()["asr"]["missing"]
    with pytest.raises(ValueError, match="roles are"):
        models.get("speech")


def test_a_failed_load_is_remembered_not_retried(tmp_path, monkeypatch):
    """A model whose load fails is not loaded again on every question: the error is kept."""
    from viewfinder.errors import ModelError

    weights = fake_weights(tmp_path, "asr")
    attempts = []

    def broken(*args, **kwargs):
        attempts.append(1)
        raise ModelError("Could not load the ASR model: truncated weights. Reinstall them.")

    monkeypatch.setattr("viewfinder.tools.asr.load_asr", broken)
    models = Models(Settings(cache_dir=tmp_path, asr=weights["asr"]))
    assert models.get("asr") is None and models.get("asr") is None
    with pytest.raises(ModelError, match="Reinstall"):
        models.load("asr")
    assert len(attempts) == 1 and "truncated" in models.missing("asr")
