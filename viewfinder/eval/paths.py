"""The one rule for paths read from annotation files: they stay inside the folder given.

An annotation is data from the internet; its ``video`` field may be ``../../etc/passwd``, an
absolute path, or lead through a symlink to anywhere. Evaluation opens only files that, with
every symlink followed, lie inside ``--videos``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UnsafePathError


def inside_root(root: Path, path: Path, what: str = "video", flag: str = "--videos") -> Path:
    """``path`` with symlinks followed, when that lies inside ``root`` (also resolved).

    Args:
        root: the folder the user named (``--videos``).
        path: where an annotation says a file is (already joined to ``root`` or absolute).
        what: what the file is, for the message ("video", "subtitle file").
        flag: the option that names ``root``, for the message.

    Returns:
        The real path (a file that does not exist yet still gets a verdict).

    Raises:
        UnsafePathError: the real path is outside ``root``; the message says what to do.
    """
    real_root = Path(root).expanduser().resolve()
    real = Path(path).expanduser().resolve()
    if real_root not in real.parents:
        raise UnsafePathError(
            f"The annotation's {what} {path} resolves to {real}, outside {flag} {real_root} "
            f"(symlinks are followed). Put the {what} under that folder, or pass {flag} a "
            "folder that holds it."
        )
    return real
