"""The PyAV reader: ffmpeg through PyAV, always installed (the ``core`` extra).

It keeps its decoder position between calls and seeks only when a keyframe lies between the
frame shown and the next time asked for, so reading a video at increasing times decodes it once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ....errors import CorruptVideoError
from ..decoding import decode_tolerant, set_decoder_threads
from ..probe import container_start, open_container, require_av
from ..reader import VideoReader


class PyAVReader(VideoReader):
    """ffmpeg through PyAV: seeks only when the next time is further than a keyframe gap."""

    BACKEND_NAME = "pyav"
    # Assumed keyframe spacing (seconds) until two keyframes have been seen.
    DEFAULT_KEYFRAME_GAP = 2.0

    def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
        super().__init__(path)
        self._container = open_container(self._info.path)
        self._stream = self._container.streams.video[0]
        set_decoder_threads(self._stream, threads)
        self._start = container_start(self._container)
        self._keyframe_gap: float | None = None
        # Decoder position: frame iterator, last frame shown so far, the next frame after it.
        self._frames: Iterator[Any] | None = None
        self._shown: Any = None
        self._ahead: Any = None
        # Time of the next keyframe if keyframes keep their last spacing, and how often seeking
        # on that guess lost / won; guessing stops when it loses more than it wins.
        self._next_key: float | None = None
        self._guesses = [0, 0]

    def close(self) -> None:
        """Release the decoder and the file."""
        self._frames = self._shown = self._ahead = None
        self._container.close()

    def _seek(self, t: float) -> Iterator[Any]:
        target = int((self._start + max(0.0, t)) / self._stream.time_base)
        self._container.seek(target, stream=self._stream, backward=True)
        return self._decode_from_here()

    def _decode_from_here(self) -> Iterator[Any]:
        av = require_av()
        last_key: float | None = None
        try:
            for frame in decode_tolerant(av, self._container, self._stream):
                if frame is None or frame.pts is None:
                    continue
                if frame.key_frame:
                    now = self._time(frame)
                    if last_key is not None and now > last_key:
                        self._keyframe_gap = max(self._keyframe_gap or 0.0, now - last_key)
                        self._next_key = now + (now - last_key)  # if keyframes are regular
                    last_key = now
                yield frame
        except av.error.FFmpegError as e:
            raise CorruptVideoError(self._info.path, f"decoding stopped: {e}") from e

    def _time(self, frame: Any) -> float:
        return float(frame.pts * self._stream.time_base) - self._start

    def _decode_sorted(self, times: list[float], size: tuple[int, int]) -> list[np.ndarray]:
        width, height = size
        # Area averaging when shrinking: small on-screen text stays legible (no aliasing).
        interpolation = "AREA" if size != (self._info.width, self._info.height) else None
        out = []
        for t in times:
            frame = self._frame_at(t)
            rgb = frame.reformat(width, height, format="rgb24", interpolation=interpolation)
            out.append(rgb.to_ndarray())
        return out

    def _frame_at(self, t: float) -> Any:
        # The decoder position survives between calls, so frames_at() in increasing chunks
        # decodes the video once instead of seeking back to a keyframe at every call.
        shown_at = self._time(self._shown) if self._shown is not None else None
        gap = self._keyframe_gap or self.DEFAULT_KEYFRAME_GAP
        # Seeking pays when a keyframe lies between the frame shown and t: surely so when t is
        # a whole keyframe gap ahead; probably so when keyframes have been regular so far.
        lost, won = self._guesses
        expected_key = self._next_key if lost <= won + 1 else None
        key_ahead = (
            expected_key is not None and shown_at is not None and (shown_at < expected_key <= t)
        )
        if (
            self._frames is None
            or shown_at is None
            or t < shown_at
            or t - shown_at > gap
            or key_ahead
        ):
            self._frames, self._shown = self._seek(t), None
            self._ahead = next(self._frames, None)
            landed_late = self._ahead is not None and self._time(self._ahead) > t + 1e-6
            # Some demuxers land after the target, or (WebM near its end) past the last
            # frame: step back a whole keyframe gap, then to the start.
            for back in (t - 2 * gap, 0.0):
                if t <= 0 or not (self._ahead is None or landed_late):
                    break
                self._frames = self._seek(max(0.0, back))
                self._ahead = next(self._frames, None)
                landed_late = self._ahead is not None and self._time(self._ahead) > t + 1e-6
            if self._ahead is not None:
                landed = self._time(self._ahead)
                # The seek landed on the keyframe before t, so keyframes are at least this far
                # apart: with one keyframe per minute, decode forward instead of re-seeking.
                self._keyframe_gap = max(self._keyframe_gap or 0.0, t - landed)
                if key_ahead and shown_at is not None:
                    # A guess that lands at or before the frame shown re-decodes frames.
                    self._guesses[landed > shown_at + 1e-6] += 1
        while self._ahead is not None and self._time(self._ahead) <= t + 1e-6:
            self._shown, self._ahead = self._ahead, next(self._frames, None)
        frame = self._shown if self._shown is not None else self._ahead  # t before frame 0
        if frame is None:
            raise CorruptVideoError(self._info.path, f"no frame decodes at {t:.2f} s")
        return frame
