"""The video readers, one module per backend, and :func:`open_video`, which picks one.

PyAV is always registered; torchcodec and decord only when their import works *and* they can
decode (:meth:`~viewfinder.tools.video.reader.VideoReader.check_decodes`). The check runs on
first use of :data:`AVAILABLE_BACKENDS`, not at import: importing torchcodec loads torch and
ffmpeg shared libraries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ....errors import (
    BackendUnavailableError,
    MissingDependencyError,
    UnknownBackendError,
    VideoError,
)
from ....registry import LazyRegistry
from ..reader import VideoReader
from .decord import DecordReader as DecordReader
from .pyav import PyAVReader as PyAVReader
from .torchcodec import TorchCodecReader as TorchCodecReader

logger = logging.getLogger(__name__)

# Fastest first, as measured by bench/decode_bench.py (1 frame/s over a 10-minute 720p video).
SPEED_ORDER: tuple[str, ...] = ("torchcodec", "pyav", "decord")

# backend name -> why it is not registered (shown when it is asked for by name).
_UNAVAILABLE: dict[str, str] = {}


def _reason(error: Exception) -> str:
    if isinstance(error, ImportError):
        return "not installed"
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _usable(reader: type[VideoReader]) -> type[VideoReader] | None:
    """``reader`` if it decodes here, else None with the reason noted in ``_UNAVAILABLE``."""
    try:
        reader.check_decodes()
    except Exception as e:  # ImportError, or RuntimeError when system ffmpeg libs are missing
        _UNAVAILABLE[reader.BACKEND_NAME] = _reason(e)
        logger.info(
            "%s video backend unavailable: %s",
            reader.BACKEND_NAME,
            _UNAVAILABLE[reader.BACKEND_NAME],
        )
        return None
    return reader


def _torchcodec_reader() -> type[VideoReader] | None:
    """TorchCodecReader if it decodes here (bench/decode_bench.py checks one backend alone)."""
    return _usable(TorchCodecReader)


def _decord_reader() -> type[VideoReader] | None:
    """DecordReader if it decodes here."""
    return _usable(DecordReader)


# name -> VideoReader class, only for backends that import on this machine.
# Found on first use: importing torchcodec loads torch and FFmpeg's shared libraries, which
# must not happen merely because this module was imported.
def _registry() -> LazyRegistry[type[VideoReader]]:
    return LazyRegistry(
        lambda: [PyAVReader, _torchcodec_reader(), _decord_reader()], "AVAILABLE_BACKENDS"
    )


AVAILABLE_BACKENDS: Mapping[str, type[VideoReader]] = _registry()
_EXTRA_OF_BACKEND = {"torchcodec": "decoders", "decord": "decoders", "pyav": "core"}
_FIX_OF_BACKEND = {
    "torchcodec": "torchcodec loads FFmpeg 4-9 shared libraries: apt-get install -y ffmpeg",
    "decord": "Reinstall it: pip install --force-reinstall decord",
    "pyav": "Reinstall it: pip install --force-reinstall av",
}


def open_video(path: str | os.PathLike[str], backend: str | None = None) -> VideoReader:
    """Open a video for frame reading.

    Args:
        path: The video file.
        backend: "pyav", "torchcodec" or "decord"; None picks the fastest installed one and
            falls back to the next (with a logged warning) if it cannot open the file.

    Returns:
        An open :class:`VideoReader`; close it or use it as a context manager.

    Raises:
        UnknownBackendError: ``backend`` is not a backend name.
        MissingDependencyError: ``backend`` names a backend that is not installed.
        VideoError: The file is not a usable video (see :func:`probe`).
    """
    if backend is not None:
        if backend in AVAILABLE_BACKENDS:
            return AVAILABLE_BACKENDS[backend](path)
        if backend in _EXTRA_OF_BACKEND and _UNAVAILABLE.get(backend, "not installed") != (
            "not installed"
        ):
            raise BackendUnavailableError(
                f"The {backend} video backend is installed but cannot decode here "
                f"({_UNAVAILABLE[backend]}). {_FIX_OF_BACKEND[backend]}; or pick an available "
                f"backend: {', '.join(AVAILABLE_BACKENDS)}."
            )
        if backend in _EXTRA_OF_BACKEND:
            raise MissingDependencyError(
                backend, _EXTRA_OF_BACKEND[backend], f"The {backend} video backend"
            )
        raise UnknownBackendError(
            f"Unknown video backend {backend!r}; valid names: {', '.join(SPEED_ORDER)} "
            f"(installed here: {', '.join(AVAILABLE_BACKENDS)})."
        )
    names = [n for n in SPEED_ORDER if n in AVAILABLE_BACKENDS]
    for i, name in enumerate(names):
        try:
            return AVAILABLE_BACKENDS[name](path)
        except VideoError:
            raise  # the file is at fault, not the backend: every backend would fail
        except Exception as e:
            if i == len(names) - 1:
                raise
            logger.warning(
                "Video backend %s failed on %s (%s); trying %s", name, path, e, names[i + 1]
            )
    raise AssertionError("PyAV is always registered")  # pragma: no cover
