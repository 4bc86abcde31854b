"""The :class:`VideoReader` interface every backend implements, and the rules they share.

Times are seconds since the start of the video (the container's start time, as ``ffmpeg -ss``
counts them). ``frames_at`` returns, for each time, the frame being shown at that moment: the
last frame presented at or before it. Frames come out at :func:`output_size`.
"""

from __future__ import annotations

import io
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .probe import VideoInfo, probe, require_av

# Frames are never returned larger than this on their long side, even with max_side=None,
# so a bogus or 8K file cannot exhaust memory (4K UHD, 3840 px, still comes out full size).
FULL_SIZE_CAP = 4096


def output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Size a ``width`` x ``height`` picture is returned at, keeping its aspect ratio.

    Args:
        width: Source width in pixels.
        height: Source height in pixels.
        max_side: Longest side wanted (None = native size, capped at ``FULL_SIZE_CAP``).

    Returns:
        ``(width, height)`` after downscaling; pictures are never upscaled.
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    limit = min(max_side or FULL_SIZE_CAP, FULL_SIZE_CAP)
    scale = min(1.0, limit / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_times(times: Sequence[float]) -> list[float]:
    checked = [float(t) for t in times]
    bad = [t for t in checked if not math.isfinite(t) or t < 0]
    if bad:
        raise ValueError(f"frame times must be finite seconds >= 0, got {bad[:3]}")
    return checked


class VideoReader(ABC):
    """Frames of one video at given times. Use as a context manager or call :meth:`close`."""

    # Registry name, e.g. "pyav"; used by open_video(backend=...) and Settings.video_backend.
    BACKEND_NAME: ClassVar[str]

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Validate ``path`` with :func:`probe` (raising its typed errors) and open it."""
        self._info = probe(path)

    @classmethod  # noqa: B027 - an optional hook, empty by default, not a forgotten abstract
    def check_decodes(cls) -> None:
        """Raise unless this backend imports and decodes on this machine.

        Run once, when the backends are first listed; a backend that raises is not registered.
        The default checks nothing: PyAV, which :func:`probe` needs anyway, always decodes.
        """

    @property
    def info(self) -> VideoInfo:
        """Metadata of the open video."""
        return self._info

    def frames_at(self, times: Sequence[float], max_side: int | None = None) -> list[np.ndarray]:
        """Frames shown at ``times``, as RGB uint8 arrays of shape (H, W, 3).

        Args:
            times: Seconds from the start of the video, in any order; duplicates allowed.
                Times past the end give the last frame.
            max_side: Longest side of the returned frames; they are resized inside the
                decoder, so a 4K video never holds many full-size RGB frames.

        Returns:
            One frame per time, in the order of ``times``.
        """
        checked = _check_times(times)
        if not checked:
            return []
        size = output_size(self._info.width, self._info.height, max_side)
        unique = sorted(set(checked))
        decoded = dict(zip(unique, self._decode_sorted(unique, size), strict=True))
        # A repeated time gets its own copy, so drawing on one frame leaves the other intact.
        out, given = [], set()
        for t in checked:
            out.append(decoded[t] if t not in given else decoded[t].copy())
            given.add(t)
        return out

    @abstractmethod
    def _decode_sorted(self, times: list[float], size: tuple[int, int]) -> list[np.ndarray]:
        """Frames at strictly increasing ``times``, resized to ``size`` = (width, height)."""

    @abstractmethod
    def close(self) -> None:
        """Release the decoder and the file."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tiny_video() -> bytes:
    """A 3-frame 64x48 MPEG-4 video made in memory, for :meth:`VideoReader.check_decodes`."""
    av = require_av()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for level in (0, 128, 255):
            picture = np.full((48, 64, 3), level, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def sample_times(duration: float, n: int) -> list[float]:
    """``n`` evenly spaced times: the centres of ``n`` equal segments of ``[0, duration]``.

    Args:
        duration: Video length in seconds (> 0).
        n: Number of times (>= 0).

    Returns:
        Increasing times, e.g. ``sample_times(10, 2) == [2.5, 7.5]``.
    """
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    step = duration / n if n else 0.0
    return [(i + 0.5) * step for i in range(n)]
