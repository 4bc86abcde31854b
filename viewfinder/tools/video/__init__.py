"""Video input: validation, metadata, frames at given times, fingerprints.

Times are seconds since the start of the video (the container's start time, as ``ffmpeg -ss``
counts them). ``frames_at`` returns, for each time, the frame being shown at that moment: the
last frame presented at or before it.

- ``probe.py``: opening a file with typed errors; :func:`probe` -> :class:`VideoInfo`.
- ``reader.py``: the :class:`VideoReader` interface, output sizes, evenly spaced times.
- ``backends/``: one module per reader (PyAV always; torchcodec and decord when their import
  works *and* they can decode); :func:`open_video` picks the fastest installed one in the order
  measured by ``bench/decode_bench.py``.
- ``decoding.py``: PyAV decoder threading and tolerant decoding, shared with the shot scan.
- ``fingerprint.py``: the content hash that keys a video's index.

Audio for speech recognition lives in :mod:`viewfinder.tools.audio`.
"""

from __future__ import annotations

from typing import Any

from .backends import AVAILABLE_BACKENDS as AVAILABLE_BACKENDS
from .backends import SPEED_ORDER as SPEED_ORDER
from .backends import DecordReader as DecordReader
from .backends import PyAVReader as PyAVReader
from .backends import TorchCodecReader as TorchCodecReader
from .backends import _decord_reader as _decord_reader  # bench/decode_bench.py: one backend
from .backends import _torchcodec_reader as _torchcodec_reader
from .backends import open_video as open_video
from .decoding import NO_FRAME_THREADS as NO_FRAME_THREADS
from .decoding import decode_tolerant as decode_tolerant
from .decoding import set_decoder_threads as set_decoder_threads
from .fingerprint import fingerprint as fingerprint
from .probe import VideoInfo as VideoInfo
from .probe import container_start as container_start
from .probe import probe as probe
from .reader import VideoReader as VideoReader
from .reader import output_size as output_size
from .reader import sample_times as sample_times


def __getattr__(name: str) -> Any:
    """``load_audio`` moved to :mod:`viewfinder.tools.audio`; old imports still find it here.

    Resolved on first use rather than imported above: ``tools.audio`` imports this package, so
    importing it here would be circular when ``tools.audio`` is imported first.
    """
    if name == "load_audio":
        from ..audio import load_audio

        return load_audio
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
