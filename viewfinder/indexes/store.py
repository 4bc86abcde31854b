"""Per-video index store: one directory per video content fingerprint.

Layout (``root`` is ``Settings.cache_root``)::

    <root>/index/<fingerprint>/
        .lock                         # filelock.FileLock: one writer per video at a time
        video.json                    # path last seen, probe info, time of last build
        <part>/<recipe-hash>/         # one complete build of a part ("shots", "speech",
            manifest.json             #   "screen_text", "visual", ...); the manifest is the
            ...files...               #   part's recipe (models + sha256 + params + format)
        <part>/<recipe-hash>.partial/ # checkpoints of an unfinished build (resumable)
            <key>.json / <key>.npy

A part is *current* when the directory named after the hash of its recipe exists: the recipe
records the model names and sha256, the parameters and the part's format version, so changing
any of them selects another directory and rebuilds only that part. A part is written into a
temporary directory and renamed into place in one step, so readers never see half a part and
a crash mid-write leaves the previous good build in place. Older builds of a part are removed
after a new one is in place. Long stages save checkpoints per chunk (atomically, one file per
chunk) so an interrupted build resumes where it stopped.

Other index modules (e.g. the visual index) use the same API: ``store.find_part``,
``store.write_part`` and ``store.checkpoint``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError

logger = logging.getLogger(__name__)

INDEX_DIRNAME = "index"
MANIFEST = "manifest.json"
VIDEO_META = "video.json"
LOCK_NAME = ".lock"


class StoreError(ViewfinderError):
    """The index store is unusable (e.g. the cache directory cannot be written)."""


def recipe_hash(recipe: dict[str, Any]) -> str:
    """Stable short hash of a JSON-able recipe (key order does not matter)."""
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically."""
    atomic_write_bytes(path, json.dumps(obj, indent=1, default=str).encode())


def read_json(path: Path) -> Any | None:
    """Parsed JSON of ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Checkpoint:
    """Partial results of an unfinished part build, one atomically written file per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, key: str, obj: Any) -> None:
        """Store a JSON-able result for ``key`` (e.g. a time chunk ``"000120"``)."""
        atomic_write_json(self.directory / f"{key}.json", obj)

    def load(self) -> dict[str, Any]:
        """All keys saved so far, with their results."""
        if not self.directory.is_dir():
            return {}
        out = {}
        for path in sorted(self.directory.glob("*.json")):
            value = read_json(path)
            if value is not None:  # a torn file cannot exist (atomic), but a foreign one can
                out[path.stem] = value
        return out

    def clear(self) -> None:
        """Drop the checkpoints (after the part was written)."""
        shutil.rmtree(self.directory, ignore_errors=True)


class VideoStore:
    """The index directory of one video.

    Args:
        root: Cache root (``Settings.cache_root``).
        fingerprint: Content fingerprint of the video (``tools.video.fingerprint``).
    """

    def __init__(self, root: Path, fingerprint: str) -> None:
        if not fingerprint or "/" in fingerprint or fingerprint.startswith("."):
            raise StoreError(
                f"Invalid video fingerprint {fingerprint!r}; pass the value of "
                "viewfinder.tools.video.fingerprint(path)."
            )
        self.root = Path(root)
        self.fingerprint = fingerprint
        self.directory = self.root / INDEX_DIRNAME / fingerprint

    def __repr__(self) -> str:
        return f"VideoStore({str(self.directory)!r})"

    # ------------------------------------------------------------------ locking

    def lock(self, timeout: float = -1):  # noqa: ANN201 - filelock.FileLock
        """A per-video inter-process lock; hold it while building parts.

        Args:
            timeout: Seconds to wait (-1 waits forever).
        """
        from filelock import FileLock

        self._ensure_dir()
        return FileLock(str(self.directory / LOCK_NAME), timeout=timeout)

    def _ensure_dir(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"Cannot create the index directory {self.directory}: {e}. Set "
                "VIEWFINDER_CACHE to a writable directory."
            ) from e

    # ------------------------------------------------------------------ parts

    def part_path(self, name: str, recipe: dict[str, Any]) -> Path:
        """Directory a complete build of ``name`` with ``recipe`` lives in (may not exist)."""
        return self.directory / name / recipe_hash(recipe)

    def find_part(self, name: str, recipe: dict[str, Any]) -> Path | None:
        """The directory of a complete build of ``name`` made with exactly ``recipe``, or None."""
        path = self.part_path(name, recipe)
        return path if (path / MANIFEST).is_file() else None

    def manifest(self, name: str) -> dict[str, Any] | None:
        """Manifest of the most recent complete build of ``name`` (any recipe), or None."""
        best: tuple[float, dict[str, Any]] | None = None
        for manifest_path in (self.directory / name).glob(f"*/{MANIFEST}"):
            data = read_json(manifest_path)
            if data is None or manifest_path.parent.name.endswith(".partial"):
                continue
            built = float(data.get("built_at", 0.0))
            if best is None or built > best[0]:
                best = (built, data)
        return None if best is None else best[1]

    def parts(self) -> dict[str, dict[str, Any]]:
        """Latest manifest of every part present."""
        if not self.directory.is_dir():
            return {}
        out = {}
        for sub in sorted(self.directory.iterdir()):
            if sub.is_dir():
                manifest = self.manifest(sub.name)
                if manifest is not None:
                    out[sub.name] = manifest
        return out

    def write_part(
        self,
        name: str,
        recipe: dict[str, Any],
        write: Callable[[Path], Any],
        summary: dict[str, Any] | None = None,
    ) -> Path:
        """Build a part into a temporary directory, then rename it into place atomically.

        Args:
            name: Part name ("shots", "speech", "screen_text", "visual", ...).
            recipe: JSON-able recipe (models with sha256, parameters, format version).
            write: Called with the temporary directory; writes the part's files there.
            summary: Extra JSON-able facts stored in the manifest (counts, seconds).

        Returns:
            The final directory of the part.
        """
        self._ensure_dir()
        final = self.part_path(name, recipe)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        tmp.mkdir(parents=True)
        try:
            write(tmp)
            manifest = {
                "part": name,
                "recipe": recipe,
                "recipe_hash": final.name,
                "built_at": time.time(),
                "summary": summary or {},
            }
            atomic_write_json(tmp / MANIFEST, manifest)
            if (final / MANIFEST).is_file():  # another process finished the same build first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                shutil.rmtree(final, ignore_errors=True)  # leftovers without a manifest
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        Checkpoint(final.with_name(final.name + ".partial")).clear()
        self._remove_other_builds(name, keep=final.name)
        logger.debug("wrote part %s -> %s", name, final)
        return final

    def _remove_other_builds(self, name: str, keep: str) -> None:
        for sub in (self.directory / name).iterdir():
            if sub.name == keep or sub.name.startswith("."):
                continue
            if sub.name.endswith(".partial"):
                continue  # a checkpoint of another recipe may still be wanted by its owner
            shutil.rmtree(sub, ignore_errors=True)

    def checkpoint(self, name: str, recipe: dict[str, Any]) -> Checkpoint:
        """Checkpoint store for an unfinished build of ``name`` with ``recipe``."""
        return Checkpoint(self.directory / name / f"{recipe_hash(recipe)}.partial")

    # ------------------------------------------------------------------ video metadata

    def write_video_meta(self, meta: dict[str, Any]) -> None:
        """Record the video's path and probe info (for ``list_indexes``)."""
        self._ensure_dir()
        atomic_write_json(self.directory / VIDEO_META, meta)

    def video_meta(self) -> dict[str, Any] | None:
        """What :meth:`write_video_meta` stored, or None."""
        return read_json(self.directory / VIDEO_META)

    def size_bytes(self) -> int:
        """Disk usage of this video's index."""
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())

    def remove(self) -> bool:
        """Delete this video's whole index (under its lock). Returns whether it existed."""
        if not self.directory.is_dir():
            return False
        with self.lock():
            for sub in self.directory.iterdir():
                if sub.name == LOCK_NAME:
                    continue
                if sub.is_dir():
                    shutil.rmtree(sub, ignore_errors=True)
                else:
                    sub.unlink(missing_ok=True)
        (self.directory / LOCK_NAME).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()
        return True


@dataclass(frozen=True)
class IndexEntry:
    """One indexed video, as ``viewfinder index --list`` shows it."""

    # Content fingerprint (the directory name).
    fingerprint: str
    # Path the video had when it was last indexed (may have moved since).
    video: str | None
    # Duration in seconds, when known.
    duration: float | None
    # Part name -> short recipe hash of its latest complete build.
    parts: dict[str, str]
    # Bytes on disk.
    size_bytes: int
    # Directory of the index.
    directory: Path


def iter_stores(root: Path) -> Iterator[VideoStore]:
    """Every video directory under ``root/index``."""
    base = Path(root) / INDEX_DIRNAME
    if not base.is_dir():
        return
    for sub in sorted(base.iterdir()):
        if sub.is_dir() and not sub.name.startswith("."):
            yield VideoStore(root, sub.name)


def list_indexes(root: Path) -> list[IndexEntry]:
    """All indexed videos under the cache ``root``."""
    entries = []
    for store in iter_stores(root):
        meta = store.video_meta() or {}
        parts = {name: m.get("recipe_hash", "") for name, m in store.parts().items()}
        entries.append(
            IndexEntry(
                fingerprint=store.fingerprint,
                video=meta.get("path"),
                duration=(meta.get("info") or {}).get("duration"),
                parts=parts,
                size_bytes=store.size_bytes(),
                directory=store.directory,
            )
        )
    return entries


def clear(video: str | os.PathLike[str], root: Path) -> bool:
    """Remove the index of ``video`` (a path to the video, or its fingerprint).

    Returns:
        Whether an index was removed.
    """
    path = Path(video)
    if path.exists():
        from ..tools.video import fingerprint

        fp = fingerprint(path)
    else:
        fp = str(video)
        if not (Path(root) / INDEX_DIRNAME / fp).is_dir():
            # a moved/deleted video: match the path recorded at index time
            matches = [
                s
                for s in iter_stores(root)
                if (s.video_meta() or {}).get("path") == str(path.resolve())
            ]
            if not matches:
                return False
            return any([s.remove() for s in matches])
    return VideoStore(root, fp).remove()
