"""indexes/visual.py: frame/clip CLIP embeddings in FAISS, persisted in the video store.

The CLIP model is tiny and random, so queries are embeddings of known frames (retrieval
mechanics), never claims about what a text means.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")
pytest.importorskip("faiss")
sys.path.insert(0, str(Path(__file__).parent))

from tiny_clip import save_tiny_clip  # noqa: E402

from viewfinder.errors import ModelError  # noqa: E402
from viewfinder.indexes.store import VideoStore  # noqa: E402
from viewfinder.indexes.visual import (  # noqa: E402
    VisualIndex,
    VisualIndexOptions,
    load_or_build,
    open_embedder,
    sample_times,
)
from viewfinder.runtime import Models  # noqa: E402
from viewfinder.settings import Settings  # noqa: E402
from viewfinder.tools.clip import load_clip  # noqa: E402

# Three "scenes" of 4 s each, sampled at 1 fps; frames inside a scene differ only by noise.
SCENES = [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, cache: Path):  # noqa: ANN201
    return load_clip(str(save_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))), cache_dir=cache)


def _scene_frames() -> list[tuple[float, np.ndarray]]:
    rng = np.random.default_rng(7)
    bases = [rng.integers(0, 256, (72, 128, 3)) for _ in SCENES]
    frames = []
    for t in sample_times(12.0, 1.0):
        scene = int(t // 4)
        noise = rng.integers(-6, 7, bases[scene].shape)
        frames.append((float(t), np.clip(bases[scene] + noise, 0, 255).astype(np.uint8)))
    return frames


@pytest.fixture(scope="module")
def frames() -> list[tuple[float, np.ndarray]]:
    return _scene_frames()


@pytest.fixture(scope="module")
def index(clip, frames) -> VisualIndex:  # noqa: ANN001
    return VisualIndex.build(
        clip, frames, duration=12.0, clips=SCENES, options=VisualIndexOptions(fps=1.0, batch_size=5)
    )


def test_sample_times_are_interval_midpoints() -> None:
    """Frames are taken in the middle of each 1/fps interval, never past the end."""
    np.testing.assert_allclose(sample_times(3.0, 1.0), [0.5, 1.5, 2.5])
    np.testing.assert_allclose(sample_times(3.0, 0.5), [1.0, 3.0])
    assert len(sample_times(0.0, 1.0)) == 0


def test_a_frame_query_finds_that_frame_with_its_time_span(
    index: VisualIndex, clip, frames
) -> None:  # noqa: ANN001
    """Querying with the embedding of the frame shown at 6.5 s returns that frame first,
    spanning 6.5 +- 0.5 s, with cosine ~1 and hits in descending score order."""
    t, frame = frames[6]
    hits = index.search(clip.embed_images([frame])[0], k=5)
    assert len(hits) == 5 and t == 6.5
    top = hits[0]
    assert (top.start, top.end, top.modality, top.rank, top.source) == (
        6.0,
        7.0,
        "visual",
        0,
        "visual:frame",
    )
    assert top.score == pytest.approx(1.0, abs=2e-3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_text_query_ranks_frames_by_cosine(index: VisualIndex, clip) -> None:  # noqa: ANN001
    """A text query is embedded with the same model; the hits are exactly the frames with
    the highest cosine to it (brute force agrees)."""
    hits = index.search("a person writing on a whiteboard", k=3, embedder=clip)
    text = clip.embed_texts(["a person writing on a whiteboard"])[0]
    cosines = index.frame_embeddings.astype(np.float32) @ text
    best = np.argsort(-cosines)[:3]
    assert [h.start + 0.5 for h in hits] == [float(index.frame_times[i]) for i in best]
    np.testing.assert_allclose([h.score for h in hits], cosines[best], atol=1e-5)
    with pytest.raises(ValueError, match="embedder"):
        index.search("no embedder given")


def test_clip_level_search_returns_the_scene_span(index: VisualIndex, clip, frames) -> None:  # noqa: ANN001
    """Clip embeddings are the mean of their frames: a frame of the second scene finds the
    4-8 s clip first."""
    hits = index.search(clip.embed_images([frames[5][1]])[0], k=3, level="clip")
    assert [(h.start, h.end) for h in hits][0] == (4.0, 8.0)
    assert hits[0].source == "visual:clip" and len(hits) == 3
    np.testing.assert_allclose(
        np.linalg.norm(index.clip_embeddings.astype(np.float32), axis=1), 1.0, atol=2e-3
    )


def test_save_and_load_give_identical_results(index: VisualIndex, clip, tmp_path: Path) -> None:  # noqa: ANN001
    """What is saved (float16 embeddings, FAISS indexes) loads back and answers the same
    queries with the same hits and scores."""
    index.save(tmp_path)
    assert np.load(tmp_path / "frames.f16.npy").dtype == np.float16
    loaded = VisualIndex.load(tmp_path, embedder=clip)
    query = clip.embed_texts(["a slide with a chart"])[0]
    for level in ("frame", "clip"):
        assert loaded.search(query, k=6, level=level) == index.search(query, k=6, level=level)
    np.testing.assert_array_equal(loaded.frame_embeddings, index.frame_embeddings)
    (tmp_path / "frames.faiss").unlink()  # a lost FAISS file is rebuilt from the embeddings
    assert VisualIndex.load(tmp_path).search(query, k=6) == index.search(query, k=6)


def test_index_built_with_another_model_is_refused(
    index: VisualIndex, clip, tmp_path: Path
) -> None:  # noqa: ANN001
    """Loading with a different CLIP model (another sha256) raises ModelError saying to
    re-index, instead of comparing vectors from two different spaces."""
    other = load_clip(str(save_tiny_clip(tmp_path / "other", seed=1)), cache_dir=tmp_path)
    index.save(tmp_path / "ix")
    with pytest.raises(ModelError, match="re-index"):
        VisualIndex.load(tmp_path / "ix", embedder=other)


def test_flat_for_short_videos_hnsw_for_long_ones() -> None:
    """Exact search below the threshold, HNSW above it; HNSW still finds a stored vector."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    times = np.arange(3000) + 0.5
    identity = {"name": "test", "sha256": "0" * 64}
    short = VisualIndex(
        times[:100],
        vectors[:100],
        duration=100,
        identity=identity,
        options=VisualIndexOptions(hnsw_threshold=1000, fps=1.0),
    )
    long = VisualIndex(
        times,
        vectors,
        duration=3000,
        identity=identity,
        options=VisualIndexOptions(hnsw_threshold=1000, fps=1.0),
    )
    assert (short.kind(), long.kind()) == ("flat", "hnsw")
    found = [long.search(vectors[i], k=1)[0].start for i in range(0, 3000, 150)]
    assert found == [float(i) for i in range(0, 3000, 150)]


def test_an_empty_video_gives_no_hits_instead_of_an_error() -> None:
    """A zero-length video (no sampled frames) and a search without clips return no hits."""
    identity = {"name": "test", "sha256": "0" * 64}
    empty = VisualIndex(np.zeros(0), np.zeros((0, 32)), duration=0.0, identity=identity)
    assert empty.search(np.ones(32), k=5) == []
    one = VisualIndex(np.array([0.5]), np.ones((1, 32)), duration=1.0, identity=identity)
    assert one.search(np.ones(32), k=5, level="clip") == []
    assert [(h.start, h.end) for h in one.search(np.ones(32), k=5)] == [(0.0, 1.0)]


def _make_video(path: Path, seconds: int) -> Path:
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=160x90:rate=10:duration={seconds}",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


class _Counting:
    """Wraps an embedder to count embedded frames and to stop after a number of frames."""

    def __init__(self, inner, stop_after: int | None = None) -> None:  # noqa: ANN001
        self.inner, self.stop_after, self.frames = inner, stop_after, 0
        self.identity, self.dim, self.image_size = inner.identity, inner.dim, inner.image_size

    def embed_images(self, images, batch_size: int = 32, source_size=None):  # noqa: ANN001, ANN201
        if self.stop_after is not None and self.frames >= self.stop_after:
            raise KeyboardInterrupt
        self.frames += len(images)
        return self.inner.embed_images(images, batch_size=batch_size, source_size=source_size)


def test_store_build_resumes_after_interrupt_and_is_reused(clip, tmp_path: Path) -> None:  # noqa: ANN001
    """In the video store, an interrupted build keeps its finished chunks and the rerun only
    embeds the rest; once complete, the next call loads it without embedding anything."""
    from viewfinder.tools.video import fingerprint, open_video

    video = _make_video(tmp_path / "v.mp4", 8)
    store = VideoStore(tmp_path / "cache", fingerprint(video))
    options = VisualIndexOptions(fps=1.0, chunk_frames=3)
    with open_video(video) as reader:
        first = _Counting(clip, stop_after=3)
        with pytest.raises(KeyboardInterrupt):
            load_or_build(store, reader, first, options=options, clips=[(0, 4), (4, 8)])
        assert first.frames == 3 and store.manifest("visual") is None

        progress: list[tuple[int, int]] = []
        second = _Counting(clip)
        built = load_or_build(
            store,
            reader,
            second,
            options=options,
            clips=[(0, 4), (4, 8)],
            progress=lambda done, total: progress.append((done, total)),
        )
        assert second.frames == 5 and progress[-1] == (8, 8)
        assert store.manifest("visual")["summary"]["frames"] == 8

        third = _Counting(clip)
        again = load_or_build(store, reader, third, options=options, clips=[(0, 4), (4, 8)])
    assert third.frames == 0
    query = clip.embed_texts(["test pattern"])[0]
    assert again.search(query, k=8) == built.search(query, k=8)
    assert built.search(built.frame_embeddings[2], k=1)[0].start == 2.0


def test_missing_clip_weights_skip_the_index_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no CLIP weights installed, open_embedder returns None and logs why (with the
    install command), so indexing goes on without a visual index."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with caplog.at_level(logging.INFO, logger="viewfinder.indexes.visual"):
        models = Models(Settings(cache_dir=tmp_path, clip="ViT-B-32/laion2b_s34b_b79k"))
        assert open_embedder(models) is None
        assert open_embedder(Models(Settings(cache_dir=tmp_path, clip=None))) is None
    assert "Visual index skipped" in caplog.text and "pip install" in caplog.text
