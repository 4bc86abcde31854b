"""Per-video index store: one directory per video (see ``indexes/fingerprint.py`` for the key).

Layout (``root`` is ``Settings.cache_root``)::

    <root>/index/<key>/
        .lock                         # filelock.FileLock: one writer per video at a time
        source.json                   # sha256 of the whole video file, (size, mtime) seen with it
        video.json                    # path last seen, probe info, time of last build
        <part>/<recipe-hash>/         # one complete build of a part ("shots", "speech",
            manifest.json             #   "screen_text", "visual", ...); the manifest is the
            ...files...               #   part's recipe (models + sha256 + params + format)
                                      #   and the size and sha256 of every other file
        <part>/<recipe-hash>.partial/ # checkpoints of an unfinished build (resumable)
            <key>.json / <key>.npy

A part is *current* when the directory named after the hash of its recipe exists and every
file in it matches the size and sha256 its manifest records: the recipe records the model
names and sha256, the parameters and the part's format version, so changing any of them
selects another directory and rebuilds only that part. A part is written into a temporary
directory, its checksums go into its manifest, and the directory is renamed into place in one
step, so readers never see half a part and a crash mid-write leaves the previous good build
in place. A part whose files no longer match (truncated, overwritten, deleted) counts as
missing, with a warning, and is rebuilt; a part written before checksums were recorded is
verified by loading it and then gets its checksums (``seal``). Older builds of a part are
removed after a new one is in place. Long stages save checkpoints per chunk (atomically, one
file per chunk) so an interrupted build resumes where it stopped.

Other index modules (e.g. the visual index) use the same API: ``store.find_part``,
``store.write_part`` and ``store.checkpoint``.

One module on purpose (~580 lines): the directory layout, atomic writes, checksums,
checkpoints and the per-video lock are one on-disk contract; splitting it would spread the
crash-safety rules over files that must change together.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError

logger = logging.getLogger(__name__)

INDEX_DIRNAME = "index"
MANIFEST = "manifest.json"
VIDEO_META = "video.json"
LOCK_NAME = ".lock"
# The content identity of the video (written by indexes/fingerprint.py).
SOURCE_META = "source.json"
_HASH_BLOCK = 1 << 22


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
        return json.loads(path.read_bytes())
    except (OSError, ValueError):  # ValueError covers JSONDecodeError and UnicodeDecodeError
        return None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(directory: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size": bytes, "sha256": hex}}`` of every file of a part directory
    except its manifest (which records them)."""
    out = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel != MANIFEST:
            out[rel] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
    return out


@dataclass(frozen=True)
class PartCheck:
    """What verifying one build of a part against its manifest found."""

    # None when the part is intact, else what is wrong, in words ("segments.json is missing").
    problem: str | None
    # Whether the manifest records checksums; False for a part written before they existed,
    # which can only be verified by loading it.
    sealed: bool

    @property
    def ok(self) -> bool:
        """No problem found."""
        return self.problem is None


def check_part(directory: Path) -> PartCheck:
    """Verify a build directory: its manifest parses and names this build's recipe, and every
    file the manifest lists has the recorded size and sha256 (extra files are ignored)."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return PartCheck(f"{MANIFEST} is missing", sealed=False)
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError) as e:
        return PartCheck(f"{MANIFEST} is unreadable ({type(e).__name__})", sealed=False)
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("recipe"), dict)
        or recipe_hash(manifest["recipe"]) != directory.name
    ):
        return PartCheck(f"{MANIFEST} does not describe this build", sealed=False)
    files = manifest.get("files")
    if files is None:
        return PartCheck(None, sealed=False)
    try:
        for rel, expected in files.items():
            path = directory / rel
            if not path.is_file():
                return PartCheck(f"{rel} is missing", sealed=True)
            size = path.stat().st_size
            if size != expected["size"]:
                return PartCheck(
                    f"{rel} has {size} bytes where its manifest records {expected['size']}",
                    sealed=True,
                )
            if sha256_of(path) != expected["sha256"]:
                return PartCheck(f"{rel} does not match its sha256", sealed=True)
    except (AttributeError, KeyError, TypeError):
        return PartCheck(f"{MANIFEST} does not describe this build", sealed=False)
    except OSError as e:
        return PartCheck(f"a file cannot be read ({e})", sealed=True)
    return PartCheck(None, sealed=True)


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of every file under ``directory``: what a re-check keys on."""
    out = []
    for path in directory.rglob("*"):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((path.relative_to(directory).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


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
        fingerprint: Cache key of the video (``indexes.fingerprint.video_key``): its directory.
    """

    def __init__(self, root: Path, fingerprint: str) -> None:
        if not fingerprint or "/" in fingerprint or fingerprint.startswith("."):
            raise StoreError(
                f"Invalid video fingerprint {fingerprint!r}; pass the value of "
                "viewfinder.indexes.fingerprint.video_key(cache_root, path)."
            )
        self.root = Path(root)
        self.fingerprint = fingerprint
        self.directory = self.root / INDEX_DIRNAME / fingerprint
        # Build directory -> (file signature, check): a part is hashed again only if a file
        # in it changed since this store checked it.
        self._checks: dict[Path, tuple[tuple[tuple[str, int, int], ...], PartCheck]] = {}
        self._warned: set[tuple[Path, str]] = set()

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

    def ensure_directory(self) -> None:
        """Create this video's directory (StoreError when the cache cannot be written)."""
        self._ensure_dir()

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
        """The directory of an intact build of ``name`` made with exactly ``recipe``, or None.

        A build whose files do not match its manifest is logged (once) and reported as None,
        so the caller rebuilds it; :meth:`write_part` then replaces it.
        """
        path = self.part_path(name, recipe)
        if not path.is_dir():
            return None
        check = self.check(path)
        if not check.ok:
            self._warn_damaged(name, path, check.problem or "")
            return None
        return path

    def check(self, path: Path) -> PartCheck:
        """:func:`check_part` of a build directory, remembered until one of its files changes."""
        signature = _signature(path)
        known = self._checks.get(path)
        if known is not None and known[0] == signature:
            return known[1]
        result = check_part(path)
        self._checks[path] = (signature, result)
        return result

    def _warn_damaged(self, name: str, path: Path, problem: str) -> None:
        if (path, problem) in self._warned:
            return
        self._warned.add((path, problem))
        logger.warning(
            "The %s index in %s is damaged (%s); it is rebuilt from the video", name, path, problem
        )

    def builds(self, name: str) -> list[Path]:
        """Every finished build directory of ``name`` (intact or not), newest name first."""
        base = self.directory / name
        if not base.is_dir():
            return []
        return sorted(
            (
                p
                for p in base.iterdir()
                if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(".partial")
            ),
            key=lambda p: p.name,
        )

    def manifest(self, name: str) -> dict[str, Any] | None:
        """Manifest of the most recent intact build of ``name`` (any recipe), or None."""
        best: tuple[float, dict[str, Any]] | None = None
        for build in self.builds(name):
            check = self.check(build)
            if not check.ok:
                self._warn_damaged(name, build, check.problem or "")
                continue
            data = read_json(build / MANIFEST)
            if not isinstance(data, dict):
                continue
            built = float(data.get("built_at", 0.0))
            if best is None or built > best[0]:
                best = (built, data)
        return None if best is None else best[1]

    def parts(self) -> dict[str, dict[str, Any]]:
        """Latest manifest of every part present with an intact build."""
        if not self.directory.is_dir():
            return {}
        out = {}
        for sub in sorted(self.directory.iterdir()):
            if sub.is_dir():
                manifest = self.manifest(sub.name)
                if manifest is not None:
                    out[sub.name] = manifest
        return out

    def survey(self) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """Verify every build without logging: what ``viewfinder index --list`` shows.

        Returns:
            ``(intact, damaged, unsealed)``: part -> recipe hash of its newest intact build;
            part (or metadata file) -> what is wrong; parts written before checksums.
        """
        intact: dict[str, tuple[float, str]] = {}
        damaged: dict[str, str] = {}
        unsealed: list[str] = []
        if not self.directory.is_dir():
            return {}, {}, []
        for sub in sorted(self.directory.iterdir()):
            if not sub.is_dir() or sub.name.startswith("."):
                continue
            for build in self.builds(sub.name):
                check = self.check(build)
                if not check.ok:
                    damaged[sub.name] = check.problem or ""
                    continue
                if not check.sealed:
                    unsealed.append(sub.name)
                data = read_json(build / MANIFEST) or {}
                built = float(data.get("built_at", 0.0))
                if sub.name not in intact or built > intact[sub.name][0]:
                    intact[sub.name] = (built, build.name)
        for meta in (VIDEO_META, SOURCE_META):
            path = self.directory / meta
            if path.exists() and not isinstance(read_json(path), dict):
                damaged[meta] = f"{meta} is unreadable"
            elif not path.exists() and intact:
                damaged[meta] = f"{meta} is missing"
        return {k: v[1] for k, v in intact.items()}, damaged, sorted(set(unsealed))

    def seal(self, path: Path) -> bool:
        """Record checksums in the manifest of a build written before they existed (after it
        loaded, so its files are known good). Returns whether the manifest was rewritten."""
        manifest = read_json(path / MANIFEST)
        if not isinstance(manifest, dict) or "files" in manifest:
            return False
        manifest["files"] = file_checksums(path)
        try:
            atomic_write_json(path / MANIFEST, manifest)
        except OSError as e:  # a read-only cache still serves the part; it stays unsealed
            logger.info("Could not record checksums of %s (%s)", path, e)
            return False
        self._checks.pop(path, None)
        return True

    def discard_part(self, path: Path) -> None:
        """Remove one build directory (a damaged one); hold :meth:`lock` while calling this.

        It is renamed aside first, so a reader never sees it half deleted.
        """
        trash = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.discarded")
        try:
            os.replace(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)
        self._checks.pop(path, None)

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

        Raises:
            StoreError: The files could not be written (disk full, cache not writable).
        """
        self._ensure_dir()
        final = self.part_path(name, recipe)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            tmp.mkdir(parents=True)
            write(tmp)
            manifest = {
                "part": name,
                "recipe": recipe,
                "recipe_hash": final.name,
                "built_at": time.time(),
                "summary": summary or {},
                # Written with the files, inside the directory renamed into place below.
                "files": file_checksums(tmp),
            }
            atomic_write_json(tmp / MANIFEST, manifest)
            existing = check_part(final) if final.is_dir() else None
            if existing is not None and existing.ok and existing.sealed:
                shutil.rmtree(tmp, ignore_errors=True)  # another process finished it first
            else:
                if final.exists():  # damaged, from before checksums, or leftovers
                    self.discard_part(final)
                os.replace(tmp, final)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(
                f"Cannot write the {name} index into {self.directory}: {e}. Free space on "
                "that disk, or set VIEWFINDER_CACHE to a writable directory."
            ) from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._checks.pop(final, None)
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
        """What :meth:`write_video_meta` stored, or None (also when it is unreadable)."""
        meta = read_json(self.directory / VIDEO_META)
        return meta if isinstance(meta, dict) else None

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

    # Cache key of the video (the directory name, see indexes/fingerprint.py).
    fingerprint: str
    # Path the video had when it was last indexed (may have moved since).
    video: str | None
    # Duration in seconds, when known.
    duration: float | None
    # Part name -> short recipe hash of its newest intact build.
    parts: dict[str, str]
    # Bytes on disk.
    size_bytes: int
    # Directory of the index.
    directory: Path
    # Part (or metadata file) -> what is wrong with it; such a part is rebuilt on next use.
    damaged: dict[str, str] = field(default_factory=dict)
    # Parts written before checksums were recorded (verified by loading them on next use).
    unsealed: tuple[str, ...] = ()


def iter_stores(root: Path) -> Iterator[VideoStore]:
    """Every video directory under ``root/index``."""
    base = Path(root) / INDEX_DIRNAME
    if not base.is_dir():
        return
    for sub in sorted(base.iterdir()):
        if sub.is_dir() and not sub.name.startswith("."):
            yield VideoStore(root, sub.name)


def list_indexes(root: Path) -> list[IndexEntry]:
    """All indexed videos under the cache ``root``, every part verified against its checksums."""
    entries = []
    for store in iter_stores(root):
        meta = store.video_meta() or {}
        intact, damaged, unsealed = store.survey()
        info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
        entries.append(
            IndexEntry(
                fingerprint=store.fingerprint,
                video=meta.get("path"),
                duration=info.get("duration"),
                parts=intact,
                size_bytes=store.size_bytes(),
                directory=store.directory,
                damaged=damaged,
                unsealed=tuple(unsealed),
            )
        )
    return entries


def clear(video: str | os.PathLike[str], root: Path) -> bool:
    """Remove the index of ``video`` (a path to the video, or its cache key).

    Returns:
        Whether an index was removed.
    """
    path = Path(video)
    if path.exists():
        from .fingerprint import video_key

        key = video_key(root, path, record=False)
        return key is not None and VideoStore(root, key).remove()
    key = str(video)
    if "/" not in key and not key.startswith(".") and (Path(root) / INDEX_DIRNAME / key).is_dir():
        return VideoStore(root, key).remove()
    # a moved/deleted video: match the path recorded at index time
    matches = [
        s for s in iter_stores(root) if (s.video_meta() or {}).get("path") == str(path.resolve())
    ]
    return any([s.remove() for s in matches])
