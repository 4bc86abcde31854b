"""Audio for speech recognition: the first audio track as mono float32 PCM, aligned to the video.

Sample 0 is at time 0 of the video (the container's start, as for frames), so speech timestamps
and frame timestamps agree.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import CorruptVideoError
from .video.probe import container_start, open_container, require_av

logger = logging.getLogger(__name__)

# Decoder threads for the audio track.
_AUDIO_THREADS = 2


def load_audio(path: str | os.PathLike[str], sample_rate: int = 16000) -> np.ndarray | None:
    """Decode the first audio track to mono float32 PCM for speech recognition.

    Decodes and resamples chunk by chunk (any channel layout, e.g. 5.1, any input rate), so
    memory holds only the output. Sample 0 is at time 0 of the video: a track that starts
    late is padded with leading silence so speech timestamps match frame timestamps.

    Args:
        path: A video (or audio) file.
        sample_rate: Output rate in Hz.

    Returns:
        A 1-D float32 array in [-1, 1], or None when the file has no audio track.

    Raises:
        VideoNotFoundError, NotAVideoError, CorruptVideoError: As for
            :func:`viewfinder.tools.video.probe`.
    """
    av = require_av()
    path = Path(path)
    with open_container(path) as container:
        if not container.streams.audio:
            logger.info("%s has no audio track; speech will be unavailable", path)
            return None
        stream = container.streams.audio[0]
        stream.codec_context.thread_count = _AUDIO_THREADS
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        # One buffer sized from the container's duration and filled in place: collecting
        # thousands of small chunks and concatenating them held twice an hour of audio
        # (0.5 GB instead of 0.23 GB) and left the heap fragmented.
        duration = float(container.duration or 0) / 1_000_000
        out = _Samples(round((duration + 1.0) * sample_rate))
        lead: float | None = None
        try:
            for frame in container.decode(stream):
                if lead is None and frame.pts is not None:
                    lead = float(frame.pts * stream.time_base) - container_start(container)
                    out.append(np.zeros(round(max(0.0, lead) * sample_rate), np.float32))
                for f in resampler.resample(frame):
                    out.append(f.to_ndarray().reshape(-1))
            for f in resampler.resample(None):
                out.append(f.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            raise CorruptVideoError(path, f"its audio track does not decode: {e}") from e
    return out.array()


class _Samples:
    """A growable float32 buffer (doubling when a container under-reports its duration)."""

    def __init__(self, capacity: int) -> None:
        self._data = np.empty(max(capacity, 1024), dtype=np.float32)
        self._size = 0

    def append(self, samples: np.ndarray) -> None:
        end = self._size + len(samples)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), dtype=np.float32)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : end] = samples
        self._size = end

    def array(self) -> np.ndarray:
        """The samples so far (a view; the unused tail of the buffer is never touched, so
        it costs no memory)."""
        return self._data[: self._size]
