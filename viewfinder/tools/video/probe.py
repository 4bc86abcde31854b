"""Opening a video file and reading what it holds: typed errors for every kind of bad input.

:func:`open_container` turns PyAV's failures into typed errors (missing, a directory, empty,
damaged, not a video); :func:`probe` also decodes the first frame and reads a packet near the end,
so a bad file fails here rather than deep inside indexing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    VideoNotFoundError,
    require,
)

# Decoders (H.264/HEVC/VP9/AV1 levels, ffmpeg's own image size check) stop near this.
MAX_PLAUSIBLE_SIDE = 32768
# Packets probe() will feed the decoder before calling a video undecodable.
PROBE_PACKET_LIMIT = 64
# Leading bytes of containers ffmpeg reads; a file that starts like this but will not open is
# damaged (CorruptVideoError), anything else is not a video at all (NotAVideoError).
_CONTAINER_MAGIC = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"OggS"),
    (0, b"RIFF"),  # AVI
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"\x00\x00\x01\xb3"),  # MPEG video elementary stream
    (0, b"\x30\x26\xb2\x75"),  # ASF / WMV
)


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, read from its container and checked by decoding a frame."""

    # The file the information describes.
    path: Path
    # Length in seconds (container duration; from the last frame when the header lacks it).
    duration: float
    # Average frames per second (frames / duration for variable-frame-rate files).
    fps: float
    # Picture size in pixels, before any resizing.
    width: int
    height: int
    # Number of frames: from the header when it has one, else duration x fps.
    frame_count: int
    # Whether the file has an audio stream (it may still be silent).
    has_audio: bool
    # ffmpeg codec names, e.g. "h264", "vp8"; audio_codec is None without audio.
    video_codec: str
    audio_codec: str | None
    # True when frames are not evenly spaced (screen recordings, phone videos, edits).
    variable_frame_rate: bool


def require_av() -> Any:
    """The ``av`` module (PyAV), or a MissingDependencyError naming the ``core`` extra."""
    return require("av", "core", "Reading video")


def _looks_like_media(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    return any(head[at : at + len(magic)] == magic for at, magic in _CONTAINER_MAGIC) or (
        head[:1] == b"\x47"  # MPEG transport stream sync byte
    )


def open_container(path: Path) -> Any:
    """Open ``path`` with PyAV, turning every failure into a typed error."""
    av = require_av()
    if not path.exists():
        raise VideoNotFoundError(path)
    if path.is_dir():
        raise NotAVideoError(path, "it is a directory")
    if path.stat().st_size == 0:
        raise EmptyVideoError(path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        if _looks_like_media(path):
            raise CorruptVideoError(path, f"the container cannot be opened: {e}") from e
        raise NotAVideoError(path, "ffmpeg does not recognise its format") from e


def container_start(container: Any) -> float:
    """Seconds at which the container's timeline starts: time 0 of every reader and of audio."""
    return container.start_time / 1e6 if container.start_time is not None else 0.0


def _video_stream(path: Path, container: Any) -> Any:
    if not container.streams:
        raise EmptyVideoError(path)
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        raise NotAVideoError(path, f"it holds only {'/'.join(kinds)} streams")
    stream = container.streams.video[0]
    if container.format.name.endswith("_pipe") or container.format.name == "image2":
        raise NotAVideoError(path, "it is a still image")
    return stream


def _first_frame(path: Path, container: Any, stream: Any) -> Any:
    """Decode the first frame, or raise Empty/Corrupt: a damaged file fails here, early."""
    av = require_av()
    packets = 0
    error: Exception | None = None
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets += 1
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:  # a damaged packet; the next may decode
                error = e
                frames = []
            if frames:
                return frames[0]
            if packets >= PROBE_PACKET_LIMIT:
                break
    except av.error.FFmpegError as e:
        error = e
    if packets == 0:
        if error is not None:
            raise CorruptVideoError(path, f"no video packet could be read: {error}") from error
        raise EmptyVideoError(path)
    detail = f"none of the first {packets} video packets decodes"
    raise CorruptVideoError(path, f"{detail}: {error}" if error else detail) from error


def _check_tail(path: Path, container: Any, stream: Any, duration: float) -> None:
    """Read one packet near the end: a truncated file whose index survived fails here."""
    av = require_av()
    if duration <= 2.0:
        return
    target = container_start(container) + duration - 1.0
    try:
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size:
                return
            break
    except av.error.FFmpegError as e:
        raise CorruptVideoError(path, f"the data near {duration - 1:.1f} s is unreadable") from e
    raise CorruptVideoError(
        path, f"the file ends before its stated length of {duration:.1f} s (truncated copy?)"
    )


def _last_pts_time(container: Any, stream: Any) -> float | None:
    """Header-less files (some WebM/Ogg): demux (no decoding) to find the last timestamp."""
    last = None
    container.seek(0)
    for packet in container.demux(stream):
        if packet.pts is not None and packet.duration is not None:
            end = (packet.pts + packet.duration) * stream.time_base
            last = end if last is None else max(last, end)
        elif packet.pts is not None:
            last = packet.pts * stream.time_base if last is None else max(last, packet.pts)
    return None if last is None else float(last)


def _is_variable_rate(stream: Any) -> bool:
    # average_rate is frames / duration; base_rate is ffmpeg's guess of the finest tick
    # (r_frame_rate). They disagree when frames are unevenly spaced.
    avg, base = stream.average_rate, stream.base_rate
    if not avg or not base:
        return False
    return abs(float(avg) - float(base)) / float(base) > 0.02


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Validate a video and read its metadata.

    Opens the container, decodes the first frame and reads a packet near the end, so a
    missing, non-video, damaged, truncated or empty file fails here with a message that says
    how to fix it rather than deep inside indexing.

    Args:
        path: The video file.

    Returns:
        The video's :class:`VideoInfo`.

    Raises:
        VideoNotFoundError: The path does not exist.
        NotAVideoError: The file is not a video (text, audio only, a still image).
        CorruptVideoError: The file is damaged or truncated, or its size is implausible.
        EmptyVideoError: The video has no frames or zero duration.
    """
    path = Path(path)
    with open_container(path) as container:
        stream = _video_stream(path, container)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not (0 < width <= MAX_PLAUSIBLE_SIDE and 0 < height <= MAX_PLAUSIBLE_SIDE):
            raise CorruptVideoError(
                path, f"its stated picture size {width}x{height} is outside 1..{MAX_PLAUSIBLE_SIDE}"
            )
        frame = _first_frame(path, container, stream)
        width, height = frame.width, frame.height  # the decoder's word beats the header's
        if container.duration is not None:
            duration = container.duration / 1e6
        elif stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            end = _last_pts_time(container, stream)
            duration = 0.0 if end is None else end - container_start(container)
        if duration <= 0:
            raise EmptyVideoError(path)
        _check_tail(path, container, stream, duration)
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        if fps <= 0 and stream.frames:
            fps = stream.frames / duration
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=path,
            duration=duration,
            fps=fps,
            width=width,
            height=height,
            frame_count=int(stream.frames or round(duration * fps)),
            has_audio=audio is not None,
            video_codec=stream.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            variable_frame_rate=_is_variable_rate(stream),
        )
