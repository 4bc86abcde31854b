"""Content fingerprints of video files: the key of each video's index directory.

Kept importable as ``viewfinder.tools.video.fingerprint`` while the index store imports it from
here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .probe import open_container

_FINGERPRINT_CHUNK = 1 << 20


def fingerprint(path: str | os.PathLike[str]) -> str:
    """A content hash that is fast on long videos and stable across renames and copies.

    Hashes the size, the first, middle and last MiB, and the container duration.

    Args:
        path: The video file.

    Returns:
        A 64-character hex digest.

    Raises:
        VideoNotFoundError, NotAVideoError, CorruptVideoError, EmptyVideoError: As for opening.
    """
    path = Path(path)
    with open_container(path) as container:
        duration = container.duration
    size = path.stat().st_size
    digest = hashlib.sha256(f"viewfinder-fp1:{size}:{duration}".encode())
    with path.open("rb") as f:
        for offset in (
            0,
            max(0, size // 2 - _FINGERPRINT_CHUNK // 2),
            max(0, size - _FINGERPRINT_CHUNK),
        ):
            f.seek(offset)
            digest.update(f.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()
