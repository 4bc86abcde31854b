"""Frames for the visual index, grabbed while the shot scan decodes the video anyway.

The scan (``tools.shots.scan_video``) decodes every frame of the video; embedding frames for
CLIP used to decode the whole video a second time (16 CPU-s per 10 minutes of 720p on the
reference machine, about 8% of an index build). A :class:`FrameSpool` fed by the scan keeps
the frames CLIP will want, resized as a video reader would return them, in a raw file on
disk rather than in memory (an hour at 0.5 fps and ViT-B-32's size is about 0.5 GB).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_EPS = 1e-6


class FrameSpool:
    """The frames shown at ``times``, caught from a decoding pass, read back by time.

    Args:
        directory: Where the spool file goes (created; removed by :meth:`remove`).
        times: Increasing frame times (seconds) to keep.
        size: ``(width, height)`` the frames are stored at.
    """

    def __init__(self, directory: Path, times: Sequence[float], size: tuple[int, int]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.times = np.asarray(times, dtype=np.float64)
        self.size = size
        self._frame_bytes = size[0] * size[1] * 3
        self._path = self.directory / f"frames-{size[0]}x{size[1]}.u8"
        self._file: Any = open(self._path, "wb")  # noqa: SIM115 - closed by close()
        self._previous: Any = None
        # Frames written so far (the first ``count`` times are available).
        self.count = 0

    def feed(self, t: float, frame: Any) -> None:
        """Take a decoded PyAV frame shown from ``t`` on (frames arrive in time order)."""
        while self.count < len(self.times) and t > self.times[self.count] + _EPS:
            # The frame shown at times[count] is the last one that started at or before it.
            self._write(self._previous if self._previous is not None else frame)
        self._previous = frame

    def close(self) -> None:
        """The pass ended: times after the last frame get the last frame (as a reader does)."""
        if self._file is None:
            return
        while self.count < len(self.times) and self._previous is not None:
            self._write(self._previous)
        self._previous = None
        self._file.close()
        self._file = None

    def _write(self, frame: Any) -> None:
        width, height = self.size
        # Area averaging when shrinking, as the video readers do.
        rgb = frame.reformat(width, height, format="rgb24", interpolation="AREA").to_ndarray()
        self._file.write(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
        self.count += 1

    def frames_at(self, times: Sequence[float]) -> list[np.ndarray] | None:
        """The kept frames at ``times`` (each must be one of the spool's times), or None when
        any of them was not caught (the pass was cut short): decode those from the video."""
        if self._file is not None or not len(times):
            return None
        index = np.searchsorted(self.times, np.asarray(times, dtype=np.float64) - _EPS)
        if (index >= self.count).any() or not np.allclose(self.times[index], times, atol=1e-3):
            return None
        width, height = self.size
        frames = []
        with open(self._path, "rb") as f:
            for i in index:
                f.seek(int(i) * self._frame_bytes)
                data = f.read(self._frame_bytes)
                if len(data) != self._frame_bytes:
                    return None
                frames.append(np.frombuffer(bytearray(data), np.uint8).reshape(height, width, 3))
        return frames

    def remove(self) -> None:
        """Close and delete the spool file and its directory."""
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.directory, ignore_errors=True)
