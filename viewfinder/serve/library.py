"""The library a server exposes: every video file under its roots, addressed by id, never by path.

An id is a hash of the root and the file's path relative to it, so it stays the same across
rescans and restarts and says nothing about the filesystem. Every lookup re-resolves the file
(following symlinks) and refuses anything that lands outside its root, so a symlink planted
in a root cannot expose other files.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ViewfinderError
from ..indexes.batch import VIDEO_SUFFIXES


class LibraryError(ViewfinderError):
    """A library root is unusable."""


class NotInLibraryError(ViewfinderError, LookupError):
    """An id names no video under the configured roots (or one that resolves outside them)."""


@dataclass(frozen=True)
class LibraryVideo:
    """One video of the library."""

    # Stable opaque id: sha256 of the root and the relative path, 16 hex digits.
    id: str
    # The root it was found under (resolved).
    root: Path
    # Path relative to that root, as the user named it (before following symlinks).
    relpath: str

    @property
    def path(self) -> Path:
        """The file, resolved; re-checked inside the root on every call."""
        return resolve_inside(self.root, self.relpath)


def video_id(root: Path, relpath: str) -> str:
    return hashlib.sha256(f"{root}\0{relpath}".encode()).hexdigest()[:16]


def resolve_inside(root: Path, relpath: str) -> Path:
    """``root / relpath`` with symlinks followed, if it is a file inside ``root``.

    Raises:
        NotInLibraryError: it is missing, not a file, or resolves outside ``root``.
    """
    target = (root / relpath).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotInLibraryError(
            f"{relpath!r} is not a video inside the library root {root} "
            "(it is missing or a link that points outside the root)"
        )
    return target


class Library:
    """The videos under ``roots``; :meth:`scan` re-reads the directories.

    Args:
        roots: Directories to serve; each must exist.
    """

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        if not roots:
            raise LibraryError("No library root given; pass --root DIR (repeatable).")
        resolved = []
        for r in roots:
            path = Path(r).expanduser().resolve()
            if not path.is_dir():
                raise LibraryError(f"Library root {r} is not a directory; pass an existing one.")
            resolved.append(path)
        self.roots: tuple[Path, ...] = tuple(dict.fromkeys(resolved))
        self._videos: dict[str, LibraryVideo] = {}
        self._lock = threading.Lock()
        self.scan()

    def scan(self) -> list[LibraryVideo]:
        """Re-read the roots; returns every video, sorted by root and relative path."""
        found: dict[str, LibraryVideo] = {}
        for root in self.roots:
            for dirpath, dirnames, filenames in os.walk(root):  # does not enter linked dirs
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith(".") or Path(name).suffix.lower() not in VIDEO_SUFFIXES:
                        continue
                    rel = str((Path(dirpath) / name).relative_to(root))
                    try:
                        resolve_inside(root, rel)
                    except NotInLibraryError:
                        continue  # a link out of the root: never listed
                    vid = video_id(root, rel)
                    found[vid] = LibraryVideo(vid, root, rel)
        with self._lock:
            self._videos = found
        return list(found.values())

    def videos(self) -> list[LibraryVideo]:
        """The videos found by the last scan."""
        with self._lock:
            return list(self._videos.values())

    def get(self, vid: str) -> LibraryVideo:
        """The video with id ``vid`` (rescanning once when it is unknown).

        Raises:
            NotInLibraryError: no such video, or its file now resolves outside its root.
        """
        with self._lock:
            video = self._videos.get(vid)
        if video is None:
            self.scan()
            with self._lock:
                video = self._videos.get(vid)
        if video is None:
            raise NotInLibraryError(
                f"No video with id {vid!r} in the library; list ids with GET /videos."
            )
        video.path  # noqa: B018 - re-checks the link still stays inside the root
        return video
