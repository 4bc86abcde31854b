"""Index many videos: expand folders, run one task per video here or on a Ray cluster, and
say what was built, what was already cached and what failed (with the reason).

On Ray each worker is an actor holding one :class:`~viewfinder.VideoQA` (so one
``runtime.Models``): Whisper and OCR load once per worker, not once per video. Results go to
the cache directory of the settings, which must be storage every node shares
(``VIEWFINDER_CACHE`` on NFS or similar). The store's per-video file lock (``filelock``,
``fcntl`` locks) serialises two workers on one video across processes and, on filesystems
whose locks span hosts (local disks, NFSv4, CephFS, Lustre), across nodes; on ones without
working locks (some FUSE mounts, SMB without unix extensions) give each video to one worker
only, which this module does.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError, require
from ..settings import Settings

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
# Containers the video readers open; anything else found in a folder is not indexed.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ogv", ".ogg", ".mpg", ".mpeg", ".ts"}
)


@dataclass(frozen=True)
class IndexResult:
    """What indexing one video did."""

    # The video as given (or as found in a given folder).
    video: str
    # "built" (some part was computed), "cached" (everything loaded) or "failed".
    status: str
    # Why it failed (the error's message, which says what to do), else "".
    reason: str = ""
    # Seconds this video took.
    seconds: float = 0.0
    # Part -> "built" / "resumed" / "loaded" / "skipped".
    work: dict[str, str] | None = None


def expand_videos(items: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Videos named directly, plus every video file under each named folder (sorted)."""
    out: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            out += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")
            )
        else:
            out.append(path)  # a missing file fails in its own task, with the reason
    return list(dict.fromkeys(out))


def index_one(qa: Any, video: Path, progress: Callable[..., None] | None = None) -> IndexResult:
    """Index ``video`` with ``qa``; a ViewfinderError becomes a failed result, not a raise."""
    started = time.perf_counter()
    try:
        handle = qa.index(video, progress=progress)
    except ViewfinderError as e:
        return IndexResult(str(video), "failed", str(e), time.perf_counter() - started)
    work = dict(handle.work)
    built = any(w in ("built", "resumed") for w in work.values())
    return IndexResult(
        str(video), "built" if built else "cached", "", time.perf_counter() - started, work
    )


def run_local(
    videos: Sequence[Path],
    settings: Settings,
    on_result: Callable[[IndexResult], None],
    progress: Callable[[Path], Callable[..., None] | None] | None = None,
) -> list[IndexResult]:
    """Index ``videos`` one after another in this process, with one set of models."""
    from ..qa import VideoQA

    qa = VideoQA(settings)
    results = []
    for video in videos:
        result = index_one(qa, video, progress(video) if progress else None)
        on_result(result)
        results.append(result)
    return results


class _IndexWorker:
    """Body of a Ray actor: one VideoQA (one set of models) for every video it is given."""

    def __init__(self, settings: Settings) -> None:
        from ..qa import VideoQA

        self.qa = VideoQA(settings)

    def index(self, video: str) -> IndexResult:
        return index_one(self.qa, Path(video))


def run_ray(
    videos: Sequence[Path],
    settings: Settings,
    on_result: Callable[[IndexResult], None],
    address: str | None = None,
    workers: int | None = None,
) -> list[IndexResult]:
    """One task per video on a Ray cluster (``ray.init(address)`` unless already initialised).

    Args:
        videos: Paths every node can read (shared storage).
        settings: Their ``cache_dir`` must be shared storage too.
        on_result: Called as each video finishes, in completion order.
        address: Ray cluster address; None starts or reuses a local one.
        workers: Actors to start; None = one per CPU of the cluster, at most one per video.
    """
    ray = require("ray", "ray", "Indexing on Ray (--executor ray)")
    from collections import deque

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    if not videos:
        return []
    cpus = int(ray.cluster_resources().get("CPU", 1))
    worker = ray.remote(num_cpus=1)(_IndexWorker)
    idle = [worker.remote(settings) for _ in range(max(1, min(workers or cpus, len(videos))))]
    todo = deque(videos)
    running: dict[Any, tuple[Path, Any]] = {}  # result ref -> (video, actor)
    results: list[IndexResult] = []
    try:
        while todo or running:
            while todo and idle:  # one video per actor at a time: the next goes to whoever frees
                video, actor = todo.popleft(), idle.pop()
                running[actor.index.remote(str(video))] = (video, actor)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            video, actor = running.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as e:  # the worker died (e.g. a native crash): record, replace
                result = IndexResult(str(video), "failed", f"Ray worker failed: {e}")
                logger.warning("indexing %s on Ray failed: %s", video, e)
                ray.kill(actor)
                actor = worker.remote(settings)
            idle.append(actor)
            on_result(result)
            results.append(result)
    finally:
        for actor in idle + [a for _, a in running.values()]:
            ray.kill(actor)
    return results


def summary(results: Sequence[IndexResult]) -> dict[str, int]:
    """Counts of built, cached and failed videos."""
    counts = {"built": 0, "cached": 0, "failed": 0}
    for r in results:
        counts[r.status] += 1
    return counts
