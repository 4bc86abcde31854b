"""The cache key of a video: which directory under ``<cache>/index/`` holds its index.

The key starts from the *sampled fingerprint* (:func:`fingerprint`, the sha256 of the file
size, the container duration and the first, middle and last MiB): cheap on any file and the
same for renamed or copied files. Reading 3 MiB misses an edit elsewhere that keeps the size,
so each index directory also records, in ``source.json``, the sha256 of the *whole* file and
the ``(size, mtime_ns)`` pairs already seen with that content:

1. a directory whose sampled fingerprint matches and which recorded this file's current
   size and mtime (ns) is the key: nothing more is read;
2. otherwise the whole file is hashed: a directory that recorded that sha256 is the key
   (a ``touch``, a copy or a move) and the new size/mtime pair is added to it;
3. otherwise it is a different video: a new directory, named after the sampled fingerprint,
   or ``<fingerprint>-<first 16 hex of the sha256>`` when that name is taken by another
   content with the same samples.

An index directory from before ``source.json`` existed (or whose ``source.json`` is
unreadable) is adopted for the content found at step 2, as the sampled fingerprint alone
decided before. A rewrite that keeps the size *and* restores the mtime to the nanosecond
(``touch -r``) is not noticed, as with ``make`` and ``rsync``'s quick check.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..tools.video import fingerprint as fingerprint
from .store import (
    INDEX_DIRNAME,
    SOURCE_META,
    StoreError,
    VideoStore,
    atomic_write_json,
    read_json,
    sha256_of,
)

logger = logging.getLogger(__name__)

# size/mtime pairs remembered per content (copies in several places, successive touches).
KEEP_STATS = 16


def content_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the whole file (about 1.5 GB/s on one core, plus the disk read)."""
    return sha256_of(Path(path))


def video_key(root: Path, path: str | os.PathLike[str], *, record: bool = True) -> str | None:
    """The index directory name of the video at ``path`` under the cache ``root``.

    Args:
        root: Cache root (``Settings.cache_root``).
        path: The video file (already probed: it exists and is a video).
        record: Create or update the directory's ``source.json`` (False for a read-only
            lookup such as ``clear``, which then returns None for a video never indexed).

    Returns:
        The key (a directory name under ``root/index``), or None (only with ``record=False``).

    Raises:
        StoreError: ``record`` and the cache directory cannot be written.
    """
    path = Path(path)
    st = path.stat()
    stat = [st.st_size, st.st_mtime_ns]
    sampled = fingerprint(path)
    base = Path(root) / INDEX_DIRNAME
    names = [sampled]
    if base.is_dir():
        names += sorted(p.name for p in base.glob(f"{sampled}-*") if p.is_dir())
    existing = [n for n in names if (base / n).is_dir()]
    sources = {n: _read_source(base / n) for n in existing}
    for name in existing:
        source = sources[name]
        if source is not None and stat in source["stats"]:
            return name
    if not existing and not record:
        return None
    sha = content_sha256(path)
    key: str | None = next(
        (n for n in existing if sources[n] is not None and sources[n]["sha256"] == sha), None
    )
    if key is None and sampled in existing and sources[sampled] is None:
        logger.info("Index %s has no content hash yet (older cache); adopting it", sampled)
        key = sampled
    if key is None:
        if not record:
            return None
        key = sampled if sampled not in existing else f"{sampled}-{sha[:16]}"
        if key != sampled:
            logger.info(
                "%s has the sampled fingerprint of another indexed video but different "
                "content; indexing it as %s",
                path,
                key,
            )
    if record:
        _remember(VideoStore(root, key), sha, stat, sources.get(key))
    return key


def _read_source(directory: Path) -> dict[str, Any] | None:
    """``source.json`` of an index directory when it is well formed, else None."""
    data = read_json(directory / SOURCE_META)
    if not isinstance(data, dict) or not isinstance(data.get("sha256"), str):
        return None
    stats = data.get("stats")
    if not isinstance(stats, list):
        return None
    good = [s for s in stats if isinstance(s, list) and len(s) == 2]
    return {"sha256": data["sha256"], "stats": good}


def _remember(store: VideoStore, sha: str, stat: list[int], source: dict[str, Any] | None) -> None:
    """Add ``stat`` to the content record of ``store`` (last writer wins: a lost pair only
    costs one more full hash later)."""
    stats = list(source["stats"]) if source is not None and source["sha256"] == sha else []
    stats = [s for s in stats if s != stat] + [stat]
    store.ensure_directory()
    try:
        atomic_write_json(
            store.directory / SOURCE_META,
            {"format": 1, "sha256": sha, "stats": stats[-KEEP_STATS:]},
        )
    except OSError as e:
        raise StoreError(
            f"Cannot write {store.directory / SOURCE_META}: {e}. Set VIEWFINDER_CACHE to a "
            "writable directory."
        ) from e
