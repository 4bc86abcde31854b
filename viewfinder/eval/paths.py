"""The one rule for paths read from annotation files: they stay inside the folder given.

An annotation is data from the internet; its ``video`` field may be ``../../etc/passwd``, an
absolute path, or lead through a symlink to anywhere. Evaluation opens only files that, with
every symlink followed, lie inside ``--videos``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UnsafePathError


def inside_root(root: Path, path: Path) -> Path:
    """``path`` with symlinks followed, when that lies inside ``root`` (also resolved).

    Args:
        root: the folder the user named (``--videos``).
        path: where an annotation says a file is (already joined to ``root`` or absolute).

    Returns:
        The real path (a file that does not exist yet still gets a verdict).

    Raises:
        UnsafePathError: the real path is outside ``root``; the message says what to do.
    """
    real_root = Path(root).expanduser().resolve()
    real = Path(path).expanduser().resolve()
    if real_root not in real.parents:
        raise UnsafePathError(
            f"The annotation's video {path} resolves to {real}, outside --videos {real_root} "
            "(symlinks are followed). Put the video under that folder, or pass --videos a "
            "folder that holds it."
        )
    return real
