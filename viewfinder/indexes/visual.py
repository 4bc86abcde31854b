"""Visual index: CLIP embeddings of frames (every 2 s by default) and of clips, searched with FAISS.

Frames are embedded at ``VisualIndexOptions.fps``; each clip (from ``tools/shots.py``) gets
the renormalised mean of its frames' embeddings, so a query can land on a single moment or
on a coherent segment. Exact inner-product search (``IndexFlatIP``) is used up to
``hnsw_threshold`` vectors (exact search over 10k x 512 takes well under a millisecond per
query); longer videos get an HNSW graph. A GPU copy is used for exact search when faiss sees
a GPU. Embeddings are stored as float16 and the FAISS indexes are built from the float16
values, so a rebuilt index answers exactly as the saved one.

In the store (``indexes/store.py``) this is the part ``"visual"``, built by
:func:`load_or_build`, resumable chunk by chunk. When no CLIP weights are installed,
:func:`open_embedder` logs why and returns None, and the visual index is skipped.

One module on purpose (~590 lines): the index (search) and the job (resumable build) share
one on-disk format (float16 chunks, FAISS built from the float16 values); keeping both sides
here is what makes a rebuilt index answer exactly as the saved one.
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import MissingDependencyError, ModelError, ModelNotInstalledError, require
from ..progress import StageProgress
from .fusion import Hit
from .store import VideoStore, atomic_write_bytes, atomic_write_json, read_json

if TYPE_CHECKING:
    from ..runtime import Models

logger = logging.getLogger(__name__)

PART_NAME = "visual"
# Bump when the files written by VisualIndex.save change meaning.
FORMAT_VERSION = 2  # 2: frames decoded at DECODE_OVERSAMPLE x the input size
META_FILE = "visual.json"
Level = Literal["frame", "clip"]
_PURPOSE = "The visual (CLIP) index"


@dataclass(frozen=True)
class VisualIndexOptions:
    """How frames are sampled and searched (all of it is part of the index recipe)."""

    # Frames per second embedded. 0.5 catches any scene that stays two seconds and costs half
    # of 1 fps (ViT-B-32 frames are the largest stage of a CPU index after speech and OCR).
    fps: float = 0.5
    # Vector count above which an HNSW graph replaces exact search.
    hnsw_threshold: int = 20_000
    # HNSW neighbours per node (faiss' usual quality/speed point).
    hnsw_m: int = 32
    # HNSW breadth while building and while searching (higher: better recall, slower).
    ef_construction: int = 80
    ef_search: int = 128
    # Frames per CLIP forward pass.
    batch_size: int = 32
    # Frames per resumable checkpoint chunk.
    chunk_frames: int = 32

    def __post_init__(self) -> None:
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be a positive number of frames per second, got {self.fps}")
        if self.batch_size < 1 or self.chunk_frames < 1 or self.hnsw_m < 2:
            raise ValueError("batch_size and chunk_frames must be >= 1 and hnsw_m >= 2")


def sample_times(duration: float, fps: float) -> np.ndarray:
    """Times (seconds) of the frames to embed: the middle of each ``1/fps`` interval."""
    if duration <= 0:
        return np.zeros(0, dtype=np.float64)
    interval = 1.0 / fps
    count = max(1, math.ceil(duration * fps - 1e-9))
    return np.minimum((np.arange(count) + 0.5) * interval, duration)


def recipe(
    identity: dict[str, Any], options: VisualIndexOptions, clips: Sequence[tuple[float, float]] = ()
) -> dict[str, Any]:
    """The recipe that names a build in the store: model, parameters, format and clips."""
    return {
        "format": FORMAT_VERSION,
        "model": {k: identity[k] for k in ("name", "sha256")},
        "options": asdict(options),
        "clips": [[round(s, 3), round(e, 3)] for s, e in clips],
    }


def open_embedder(models: Models, threads: int | None = None) -> Any:
    """The CLIP model of ``models.settings.clip`` on ``models.settings.device`` (loaded once
    by ``models``), or None (with a log line saying why, once) when it is disabled, not
    installed or its dependencies are missing: the visual index is then skipped."""
    if models.settings.clip is None:
        logger.info("Visual index skipped: no CLIP model configured (Settings.clip is None).")
        return None
    try:
        return models.load("clip", threads=threads)
    except (ModelNotInstalledError, MissingDependencyError) as e:
        logger.warning("Visual index skipped: %s", e)
        return None


class VisualIndex:
    """Frame and clip embeddings of one video with their FAISS indexes.

    Build it with :meth:`build` (or :func:`load_or_build` for the store), read it back
    with :meth:`load`, query it with :meth:`search`.
    """

    def __init__(
        self,
        frame_times: np.ndarray,
        frame_embeddings: np.ndarray,
        *,
        duration: float,
        identity: dict[str, Any],
        options: VisualIndexOptions = VisualIndexOptions(),
        clip_spans: Sequence[tuple[float, float]] = (),
        clip_embeddings: np.ndarray | None = None,
        faiss_indexes: dict[str, Any] | None = None,
    ) -> None:
        self.frame_times = np.asarray(frame_times, dtype=np.float64)
        self.frame_embeddings = np.asarray(frame_embeddings, dtype=np.float16)
        dim = self.frame_embeddings.shape[1] if self.frame_embeddings.ndim == 2 else 0
        self.duration = float(duration)
        self.identity = dict(identity)
        self.options = options
        self.clip_spans = np.asarray(clip_spans, dtype=np.float64).reshape(-1, 2)
        self.clip_embeddings = (
            np.asarray(clip_embeddings, dtype=np.float16)
            if clip_embeddings is not None
            else _pool_clips(self.frame_times, self.frame_embeddings, self.clip_spans, dim)
        )
        indexes = faiss_indexes or {}
        self._cpu = {
            level: indexes[level] if level in indexes else _faiss_index(vectors, options)
            for level, vectors in (("frame", self.frame_embeddings), ("clip", self.clip_embeddings))
        }
        self._search_index = {level: _maybe_gpu(ix) for level, ix in self._cpu.items()}
        _set_ef_search(self._cpu, options.ef_search)

    def __repr__(self) -> str:
        return (
            f"VisualIndex({len(self.frame_times)} frames [{self.kind('frame')}], "
            f"{len(self.clip_spans)} clips, model {self.identity.get('name')!r})"
        )

    @property
    def interval(self) -> float:
        """Seconds between sampled frames."""
        return 1.0 / self.options.fps

    def kind(self, level: Level = "frame") -> str:
        """``"flat"`` (exact) or ``"hnsw"``: which FAISS index serves ``level``."""
        return "hnsw" if "HNSW" in type(self._cpu[level]).__name__ else "flat"

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        embedder: Any,
        frames: Iterable[tuple[float, np.ndarray]],
        *,
        duration: float,
        clips: Sequence[Any] = (),
        options: VisualIndexOptions = VisualIndexOptions(),
        total: int | None = None,
        progress: StageProgress | None = None,
    ) -> VisualIndex:
        """Embed ``frames`` and index them.

        Args:
            embedder: A :class:`~viewfinder.tools.clip.ClipEmbedder`.
            frames: ``(time_seconds, rgb_uint8_frame)`` pairs, e.g. at :func:`sample_times`.
            duration: Video length in seconds (bounds the hit spans).
            clips: Clips (objects with ``start``/``end``, or pairs) to pool embeddings over.
            options: Sampling / search options (``fps`` sets the hit span width).
            total: Expected frame count, for ``progress``.
            progress: Called as ``progress(frames_done, total)`` after every batch.
        """
        times: list[float] = []
        chunks: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        expected = total or 0

        def flush() -> None:
            chunks.append(embedder.embed_images(batch, batch_size=options.batch_size))
            batch.clear()
            if progress is not None:
                progress(len(times), max(expected, len(times)))

        for t, frame in frames:
            times.append(float(t))
            batch.append(frame)
            if len(batch) >= options.batch_size:
                flush()
        if batch:
            flush()
        embeddings = (
            np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), dtype=np.float32)
        )
        return cls(
            np.asarray(times),
            embeddings,
            duration=duration,
            identity=embedder.identity.as_dict(),
            options=options,
            clip_spans=_spans(clips),
        )

    # ------------------------------------------------------------------ searching

    def search(
        self, query: str | np.ndarray, k: int = 10, level: Level = "frame", embedder: Any = None
    ) -> list[Hit]:
        """The ``k`` frames (or clips) closest to ``query``, best first.

        Args:
            query: A text (needs ``embedder``) or a query embedding (text or image).
            k: Number of hits.
            level: ``"frame"``: hits span the frame time +- half the sampling interval;
                ``"clip"``: hits span whole clips.
            embedder: The :class:`~viewfinder.tools.clip.ClipEmbedder` that built the index,
                to embed a text query.

        Returns:
            Hits with modality ``"visual"``, ``score`` = cosine similarity.
        """
        spans = self._spans_of(level)
        count = len(spans)
        if count == 0 or k <= 0:  # an empty video, or clips not given
            return []
        vec = self._query_vector(query, embedder)
        scores, ids = self._search_index[level].search(vec[None], min(k, count))
        hits = []
        for rank, (score, i) in enumerate(
            (s, i) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0
        ):
            start, end = spans[i]
            hits.append(
                Hit(
                    start=float(start),
                    end=float(end),
                    modality="visual",
                    text="",
                    score=float(score),
                    rank=rank,
                    source=f"visual:{level}",
                )
            )
        return hits

    def _spans_of(self, level: Level) -> np.ndarray:
        if level == "clip":
            return self.clip_spans
        if level != "frame":
            raise ValueError(f"level must be 'frame' or 'clip', got {level!r}")
        half = self.interval / 2
        return np.stack(
            [
                np.maximum(self.frame_times - half, 0.0),
                np.minimum(self.frame_times + half, max(self.duration, 0.0)),
            ],
            axis=1,
        )

    def _query_vector(self, query: str | np.ndarray, embedder: Any) -> np.ndarray:
        if isinstance(query, str):
            if embedder is None:
                raise ValueError(
                    "A text query needs the CLIP embedder: search(text, "
                    "embedder=load_clip(name)) or pass an embedding."
                )
            self.check_embedder(embedder)
            vec = embedder.embed_texts([query])[0]
        else:
            vec = np.asarray(query, dtype=np.float32).reshape(-1)
        dim = self.frame_embeddings.shape[1]
        if vec.shape[0] != dim:
            raise ValueError(f"query has {vec.shape[0]} dimensions, the index {dim}")
        return (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)

    def check_embedder(self, embedder: Any) -> None:
        """Raise ModelError when ``embedder`` is not the model that built the index."""
        mine, theirs = self.identity.get("sha256"), embedder.identity.sha256
        if mine != theirs:
            raise ModelError(
                f"This visual index was built with CLIP {self.identity.get('name')!r} "
                f"(sha256 {str(mine)[:12]}), not {embedder.identity.name!r} "
                f"({theirs[:12]}); re-index the video with the model you query."
            )

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        """Write embeddings (float16 .npy), FAISS indexes and metadata, each file atomically."""
        faiss = require("faiss", "clip", _PURPOSE)
        directory = Path(directory)
        for filename, array in (
            ("frames.f16.npy", self.frame_embeddings),
            ("frame_times.npy", self.frame_times),
            ("clips.f16.npy", self.clip_embeddings),
            ("clip_spans.npy", self.clip_spans),
        ):
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            atomic_write_bytes(directory / filename, buffer.getvalue())
        for level, index in self._cpu.items():
            atomic_write_bytes(
                directory / f"{level}s.faiss", faiss.serialize_index(index).tobytes()
            )
        atomic_write_json(
            directory / META_FILE,
            {
                "format": FORMAT_VERSION,
                "duration": self.duration,
                "identity": self.identity,
                "options": asdict(self.options),
                "kinds": {level: self.kind(level) for level in self._cpu},
            },
        )

    @classmethod
    def load(cls, directory: Path, embedder: Any = None) -> VisualIndex:
        """Read what :meth:`save` wrote. With ``embedder``, check it built the index."""
        faiss = require("faiss", "clip", _PURPOSE)
        directory = Path(directory)
        meta = read_json(directory / META_FILE)
        if meta is None or meta.get("format") != FORMAT_VERSION:
            raise ModelError(
                f"No readable visual index (format {FORMAT_VERSION}) in {directory}; "
                "re-index the video."
            )
        arrays = {
            name: np.load(directory / f"{name}.npy", allow_pickle=False)
            for name in ("frames.f16", "frame_times", "clips.f16", "clip_spans")
        }
        indexes = {}
        for level in ("frame", "clip"):
            try:
                blob = np.frombuffer((directory / f"{level}s.faiss").read_bytes(), dtype=np.uint8)
                indexes[level] = faiss.deserialize_index(blob)
            except (OSError, RuntimeError) as e:  # rebuilt from the embeddings below
                logger.warning("Rebuilding the %s FAISS index of %s (%s)", level, directory, e)
        index = cls(
            arrays["frame_times"],
            arrays["frames.f16"],
            duration=meta["duration"],
            identity=meta["identity"],
            options=VisualIndexOptions(**meta["options"]),
            clip_spans=arrays["clip_spans"],
            clip_embeddings=arrays["clips.f16"],
            faiss_indexes=indexes,
        )
        if embedder is not None:
            index.check_embedder(embedder)
        return index


class VisualJob:
    """Embedding the sampled frames of one video, chunk by checkpointed chunk, shared by
    worker threads; :meth:`finish` builds and saves the index.

    Any number of threads may call :meth:`work`; ``decode(times, max_side)`` must be safe to
    call from each of them (one video reader per thread) and the embedder's forward pass is
    (torch inference without gradients).

    Args:
        store: The video's :class:`~viewfinder.indexes.store.VideoStore`.
        info: The video's ``VideoInfo`` (duration and frame size).
        decode: ``decode(times, max_side)`` -> RGB frames.
        embedder: The :class:`~viewfinder.tools.clip.ClipEmbedder` to use.
        options: Sampling / search options.
        clips: Clips (objects with ``start``/``end``, or pairs) to pool over.
        progress: ``progress(frames_done, total)``.
    """

    def __init__(
        self,
        store: VideoStore,
        info: Any,
        decode: Callable[[list[float], int], list[np.ndarray]],
        embedder: Any,
        *,
        options: VisualIndexOptions = VisualIndexOptions(),
        clips: Sequence[Any] = (),
        progress: StageProgress | None = None,
    ) -> None:
        self._store, self._info, self._decode = store, info, decode
        self._embedder, self._options, self._progress = embedder, options, progress
        self._spans = _spans(clips)
        self.recipe = recipe(embedder.identity.as_dict(), options, [tuple(s) for s in self._spans])
        self._times = sample_times(info.duration, options.fps)
        self._chunk_dir = store.checkpoint(PART_NAME, self.recipe).directory
        done = _load_chunks(self._chunk_dir, len(self._times), options.chunk_frames, embedder.dim)
        self._embeddings = np.zeros((len(self._times), embedder.dim), dtype=np.float16)
        for key, vectors in done.items():
            lo = key * options.chunk_frames
            self._embeddings[lo : lo + len(vectors)] = vectors
        self._todo = [
            key
            for key in range(math.ceil(len(self._times) / options.chunk_frames))
            if key not in done
        ]
        self._frames_done = sum(len(v) for v in done.values())
        self._lock = threading.Lock()
        self._max_side = decode_side(info, embedder)

    def work(self) -> None:
        """Embed chunks until none are left."""
        step = self._options.chunk_frames
        while True:
            with self._lock:
                if not self._todo:
                    return
                key = self._todo.pop(0)
            lo = key * step
            frames = self._decode(list(self._times[lo : lo + step]), self._max_side)
            vectors = self._embedder.embed_images(
                frames,
                batch_size=self._options.batch_size,
                source_size=(self._info.width, self._info.height),
            )
            del frames
            buffer = io.BytesIO()
            np.save(buffer, vectors.astype(np.float16), allow_pickle=False)
            atomic_write_bytes(self._chunk_dir / f"{key:06d}.npy", buffer.getvalue())
            with self._lock:
                self._embeddings[lo : lo + len(vectors)] = vectors
                self._frames_done += len(vectors)
                done = self._frames_done
            if self._progress is not None:
                self._progress(done, len(self._times))

    def finish(self) -> VisualIndex:
        """Build the FAISS indexes and save the part (after every :meth:`work` ended)."""
        if self._todo:
            raise RuntimeError(f"{len(self._todo)} visual chunks not embedded yet")
        index = VisualIndex(
            self._times,
            self._embeddings,
            duration=self._info.duration,
            identity=self._embedder.identity.as_dict(),
            options=self._options,
            clip_spans=self._spans,
        )
        summary = {"frames": len(self._times), "clips": len(self._spans), "kind": index.kind()}
        self._store.write_part(PART_NAME, self.recipe, index.save, summary=summary)
        return index


# The decoder scales frames to this many times CLIP's input side; the embedder finishes the
# resize with open_clip's own filter. Decoding straight to the input size (the decoder's area
# filter instead of PIL's antialiased bicubic) moved random ViT-B-32 embeddings to cosine 0.993
# of open_clip's on a 480x352 video; from twice the size they stay >= 0.9999
# (tests/test_clip_parity.py). Costs 4x the spool's disk space (about 2 GB per hour of 720p).
DECODE_OVERSAMPLE = 2


def decode_side(info: Any, embedder: Any) -> int:
    """Longest side to decode frames at: twice what CLIP's shortest-side resize needs (the
    decoder does that scaling, the embedder the rest; never above the native size)."""
    height, width = embedder.image_size
    short = max(1, min(info.width, info.height))
    target = DECODE_OVERSAMPLE * min(height, width)
    return math.ceil(target * max(info.width, info.height) / short)


def load_or_build(
    store: VideoStore,
    reader: Any,
    embedder: Any,
    *,
    options: VisualIndexOptions = VisualIndexOptions(),
    clips: Sequence[Any] = (),
    progress: StageProgress | None = None,
) -> VisualIndex:
    """The visual index of the video in ``store``: read if current, else built and saved.

    A build saves a checkpoint every ``options.chunk_frames`` frames, so an interrupted build
    resumes where it stopped. Hold ``store.lock()`` around the call when other processes may
    index the same video.

    Args:
        store: The video's :class:`~viewfinder.indexes.store.VideoStore`.
        reader: An open :class:`~viewfinder.tools.video.VideoReader` of the video.
        embedder: The :class:`~viewfinder.tools.clip.ClipEmbedder` to use.
        options: Sampling / search options.
        clips: Clips from ``tools/shots.py`` to pool over.
        progress: ``progress(frames_done, total)``.
    """
    job = VisualJob(
        store,
        reader.info,
        lambda times, max_side: reader.frames_at(times, max_side=max_side),
        embedder,
        options=options,
        clips=clips,
        progress=progress,
    )
    found = store.find_part(PART_NAME, job.recipe)
    if found is not None:
        return VisualIndex.load(found, embedder)
    job.work()
    return job.finish()


def _load_chunks(directory: Path, count: int, chunk: int, dim: int) -> dict[int, np.ndarray]:
    """Checkpointed chunks that have the expected shape (others are recomputed)."""
    out = {}
    if not directory.is_dir():
        return out
    for path in directory.glob("*.npy"):
        try:
            key = int(path.stem)
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):  # a damaged chunk is embedded again
            continue
        expected = min(chunk, count - key * chunk)
        if expected > 0 and array.shape == (expected, dim):
            out[key] = array
    if out:
        logger.info(
            "Visual index: resuming with %d of %d frames already embedded",
            sum(len(a) for a in out.values()),
            count,
        )
    return out


def _spans(clips: Sequence[Any]) -> np.ndarray:
    pairs = [(c.start, c.end) if hasattr(c, "start") else tuple(c) for c in clips]
    return np.asarray(pairs, dtype=np.float64).reshape(-1, 2)


def _pool_clips(
    times: np.ndarray, embeddings: np.ndarray, spans: np.ndarray, dim: int
) -> np.ndarray:
    """Renormalised mean of each clip's frame embeddings (the nearest frame for clips too
    short to contain a sampled frame)."""
    out = np.zeros((len(spans), dim), dtype=np.float32)
    if len(times) == 0:
        return out.astype(np.float16)
    frames = embeddings.astype(np.float32)
    for i, (start, end) in enumerate(spans):
        inside = (times >= start) & (times < end)
        if inside.any():
            mean = frames[inside].mean(axis=0)
        else:
            mean = frames[int(np.argmin(np.abs(times - (start + end) / 2)))]
        out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out.astype(np.float16)


def _faiss_index(vectors: np.ndarray, options: VisualIndexOptions) -> Any:
    faiss = require("faiss", "clip", _PURPOSE)
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = data.shape[1] if data.ndim == 2 and data.shape[1] else 1
    if len(data) > options.hnsw_threshold:
        index = faiss.IndexHNSWFlat(dim, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = options.ef_construction
    else:
        index = faiss.IndexFlatIP(dim)
    if len(data):
        index.add(data)
    return index


def _set_ef_search(indexes: dict[str, Any], ef: int) -> None:
    for index in indexes.values():
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = ef


def _maybe_gpu(index: Any) -> Any:
    """A GPU copy of an exact index when faiss sees a GPU (HNSW stays on the CPU)."""
    import faiss

    if hasattr(index, "hnsw") or not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() < 1:
        return index
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except (RuntimeError, AttributeError) as e:  # a CPU-only build that still lists GPUs
        logger.warning("faiss GPU unavailable (%s); searching on the CPU", e)
        return index
