"""The decord reader: frame index from timestamps, resizing inside the decoder (``decoders`` extra).

decord is imported only inside the methods, so listing the backends costs nothing until they
are first used.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ..decoding import NO_FRAME_THREADS
from ..probe import container_start, open_container
from ..reader import VideoReader, tiny_video


def _stream_time(stream: Any, pts: int | None) -> float | None:
    return None if pts is None else float(pts * stream.time_base)


class DecordReader(VideoReader):
    """decord (the design card's choice): frame index from timestamps, resize in decoder."""

    BACKEND_NAME = "decord"

    @classmethod
    def check_decodes(cls) -> None:
        """Raise ImportError without decord, or decord's error when it cannot decode here."""
        import decord

        decord.VideoReader(io.BytesIO(tiny_video()))[1].asnumpy()

    def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
        super().__init__(path)
        # decord's FFmpeg decoder threads by frame: one thread where that is not reproducible.
        self._threads = 1 if self._info.video_codec in NO_FRAME_THREADS else threads
        self._readers: dict[tuple[int, int], Any] = {}
        self._starts: np.ndarray | None = None
        with open_container(self._info.path) as container:
            stream = container.streams.video[0]
            first = _stream_time(stream, stream.start_time) or 0.0
            # decord counts from the first frame; our times count from the container start.
            self._offset = max(0.0, first - container_start(container))

    def _reader(self, size: tuple[int, int]) -> Any:
        if size not in self._readers:
            import decord

            self._readers[size] = decord.VideoReader(
                str(self._info.path), width=size[0], height=size[1], num_threads=self._threads
            )
            if self._starts is None:
                stamps = self._readers[size].get_frame_timestamp(range(len(self._readers[size])))
                self._starts = stamps[:, 0] - stamps[0, 0] + self._offset
        return self._readers[size]

    def close(self) -> None:
        """Release the readers."""
        self._readers.clear()

    def _decode_sorted(self, times: list[float], size: tuple[int, int]) -> list[np.ndarray]:
        reader = self._reader(size)
        assert self._starts is not None
        index = np.searchsorted(self._starts, np.asarray(times) + 1e-6, side="right") - 1
        index = np.clip(index, 0, len(self._starts) - 1)
        # get_batch of many full-size frames holds them all at once; go frame by frame.
        return [reader[int(i)].asnumpy() for i in index]
