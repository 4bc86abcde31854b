"""The torchcodec reader: exact seeks and resizing inside the decoder (the ``decoders`` extra).

torchcodec is imported only inside the methods: importing it loads torch and ffmpeg's shared
libraries, which must not happen merely because the backends were listed.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ....errors import CorruptVideoError
from ..decoding import NO_FRAME_THREADS
from ..probe import container_start, open_container
from ..reader import VideoReader, tiny_video


class TorchCodecReader(VideoReader):
    """torchcodec's exact-seek batch decoder; resizes inside the decoder."""

    BACKEND_NAME = "torchcodec"

    @classmethod
    def check_decodes(cls) -> None:
        """Raise ImportError without torchcodec, RuntimeError without ffmpeg shared libraries."""
        from torchcodec.decoders import VideoDecoder

        # The import succeeds without ffmpeg's shared libraries; decoding is the real test.
        VideoDecoder(tiny_video()).get_frame_at(1)

    def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
        super().__init__(path)
        # torchcodec threads by frame: one thread where that is not reproducible.
        self._threads = 1 if self._info.video_codec in NO_FRAME_THREADS else threads
        self._decoders: dict[tuple[int, int], Any] = {}
        with open_container(self._info.path) as container:
            self._start = container_start(container)

    def _decoder(self, size: tuple[int, int]) -> Any:
        if size not in self._decoders:
            from torchcodec.decoders import VideoDecoder

            kwargs: dict[str, Any] = {}
            if size != (self._info.width, self._info.height):
                from torchcodec.transforms import Resize

                kwargs["transforms"] = [Resize(size=(size[1], size[0]))]
            self._decoders[size] = VideoDecoder(
                str(self._info.path),
                dimension_order="NHWC",
                num_ffmpeg_threads=self._threads,
                seek_mode="exact",  # scans the index once: right frames on VFR files
                **kwargs,
            )
        return self._decoders[size]

    def close(self) -> None:
        """Release the decoders."""
        self._decoders.clear()

    def _decode_sorted(self, times: list[float], size: tuple[int, int]) -> list[np.ndarray]:
        decoder = self._decoder(size)
        meta = decoder.metadata
        # torchcodec counts absolute pts and rejects times outside [begin, end): clamp
        # to the first and last frame like the other backends.
        begin = float(meta.begin_stream_seconds or 0.0)
        end = meta.end_stream_seconds
        last = math.inf if end is None else math.nextafter(float(end), -math.inf)
        pts = [min(max(self._start + t, begin), last) for t in times]
        try:
            batch = decoder.get_frames_played_at(seconds=pts).data.numpy()
        except RuntimeError as e:
            raise CorruptVideoError(self._info.path, f"torchcodec: {e}") from e
        return [np.ascontiguousarray(f) for f in batch]
