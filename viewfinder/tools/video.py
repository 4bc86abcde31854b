"""Video input: validation, metadata, frames at given times, audio for ASR, fingerprints.

Times are seconds since the start of the video (the container's start time, as
``ffmpeg -ss`` counts them). ``frames_at`` returns, for each time, the frame being shown
at that moment: the last frame presented at or before it.

Backends (PyAV always; torchcodec and decord when their import works *and* they can decode)
sit behind :class:`VideoReader`; :func:`open_video` picks the fastest installed one in the
order measured by ``bench/decode_bench.py``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import (
    BackendUnavailableError,
    CorruptVideoError,
    EmptyVideoError,
    MissingDependencyError,
    NotAVideoError,
    UnknownBackendError,
    VideoError,
    VideoNotFoundError,
    require,
)

logger = logging.getLogger(__name__)

# Frames are never returned larger than this on their long side, even with max_side=None,
# so a bogus or 8K file cannot exhaust memory (4K UHD, 3840 px, still comes out full size).
FULL_SIZE_CAP = 4096
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
_AUDIO_THREADS = 2


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


# ---------------------------------------------------------------------------------------------
# Validation and metadata


def _av() -> Any:
    return require("av", "core", "Reading video")


def _looks_like_media(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    return any(head[at : at + len(magic)] == magic for at, magic in _CONTAINER_MAGIC) or (
        head[:1] == b"\x47"  # MPEG transport stream sync byte
    )


def _open_container(path: Path) -> Any:
    """Open ``path`` with PyAV, turning every failure into a typed error."""
    av = _av()
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


# Codecs whose frame-threaded decoding is not reproducible: FFmpeg's Theora (VP3) decoder with
# frame threads returned different pictures from run to run on a real Ogg file
# (message_board.ogv), so an index, and everything built from the file, changed between runs.
NO_FRAME_THREADS = frozenset({"theora", "vp3"})


def set_decoder_threads(stream: Any, threads: int | None = None) -> None:
    """Let ``stream``'s decoder use threads, frame threads only where they are reproducible.

    Args:
        stream: A PyAV video stream, before its first packet is decoded.
        threads: Decoder threads (None: FFmpeg's choice).
    """
    codec = stream.codec_context.name
    stream.thread_type = "SLICE" if codec in NO_FRAME_THREADS else "AUTO"
    if threads is not None:
        stream.codec_context.thread_count = threads


def _stream_time(stream: Any, pts: int | None) -> float | None:
    return None if pts is None else float(pts * stream.time_base)


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
    av = _av()
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
    av = _av()
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
    with _open_container(path) as container:
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


# ---------------------------------------------------------------------------------------------
# Readers


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


# Consecutive packets the decoder may reject before the stream counts as corrupt.
MAX_BAD_PACKETS = 64


def decode_tolerant(av: Any, container: Any, stream: Any) -> Iterator[Any]:
    """Decode packet by packet, yielding None for a packet the decoder rejects.

    Real files (Theora in Ogg, some WebM) carry the odd packet FFmpeg refuses mid-stream;
    decoding the whole stream in one call would stop at the first of them. A long run of
    rejected packets is a damaged file and raises ``av.error.FFmpegError``.
    """
    bad = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                raise
            yield None
            continue
        bad = 0
        yield from frames


class PyAVReader(VideoReader):
    """ffmpeg through PyAV: seeks only when the next time is further than a keyframe gap."""

    BACKEND_NAME = "pyav"
    # Assumed keyframe spacing (seconds) until two keyframes have been seen.
    DEFAULT_KEYFRAME_GAP = 2.0

    def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
        super().__init__(path)
        self._container = _open_container(self._info.path)
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
        av = _av()
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


# backend name -> why it is not registered (shown when it is asked for by name).
_UNAVAILABLE: dict[str, str] = {}


def _reason(error: Exception) -> str:
    if isinstance(error, ImportError):
        return "not installed"
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _tiny_video() -> bytes:
    """A 3-frame 64x48 MPEG-4 video made in memory, to check that a backend can decode."""
    import io

    av = _av()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for level in (0, 128, 255):
            picture = np.full((48, 64, 3), level, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def _torchcodec_reader() -> type[VideoReader] | None:
    try:
        from torchcodec.decoders import VideoDecoder

        # The import succeeds without ffmpeg's shared libraries; decoding is the real test.
        VideoDecoder(_tiny_video()).get_frame_at(1)
    except Exception as e:  # ImportError, or RuntimeError when system ffmpeg libs are missing
        _UNAVAILABLE["torchcodec"] = _reason(e)
        logger.info("torchcodec video backend unavailable: %s", _UNAVAILABLE["torchcodec"])
        return None

    class TorchCodecReader(VideoReader):
        """torchcodec's exact-seek batch decoder; resizes inside the decoder."""

        BACKEND_NAME = "torchcodec"

        def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
            super().__init__(path)
            # torchcodec threads by frame: one thread where that is not reproducible.
            self._threads = 1 if self._info.video_codec in NO_FRAME_THREADS else threads
            self._decoders: dict[tuple[int, int], Any] = {}
            with _open_container(self._info.path) as container:
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

    return TorchCodecReader


def _decord_reader() -> type[VideoReader] | None:
    try:
        import io

        import decord

        decord.VideoReader(io.BytesIO(_tiny_video()))[1].asnumpy()
    except Exception as e:
        _UNAVAILABLE["decord"] = _reason(e)
        logger.info("decord video backend unavailable: %s", _UNAVAILABLE["decord"])
        return None

    class DecordReader(VideoReader):
        """decord (the design card's choice): frame index from timestamps, resize in decoder."""

        BACKEND_NAME = "decord"

        def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
            super().__init__(path)
            # decord's FFmpeg decoder threads by frame: one thread where that is not reproducible.
            self._threads = 1 if self._info.video_codec in NO_FRAME_THREADS else threads
            self._readers: dict[tuple[int, int], Any] = {}
            self._starts: np.ndarray | None = None
            with _open_container(self._info.path) as container:
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
                    stamps = self._readers[size].get_frame_timestamp(
                        range(len(self._readers[size]))
                    )
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

    return DecordReader


# Fastest first, as measured by bench/decode_bench.py (1 frame/s over a 10-minute 720p video).
SPEED_ORDER: tuple[str, ...] = ("torchcodec", "pyav", "decord")


class _Backends(Mapping[str, type[VideoReader]]):
    """Backends whose import works, found on first use: importing torchcodec loads torch and
    ffmpeg shared libraries, which must not happen merely because this module was imported."""

    def __init__(self) -> None:
        self._found: dict[str, type[VideoReader]] | None = None

    def _backends(self) -> dict[str, type[VideoReader]]:
        if self._found is None:
            candidates = [PyAVReader, _torchcodec_reader(), _decord_reader()]
            self._found = {b.BACKEND_NAME: b for b in filter(None, candidates)}
        return self._found

    def __getitem__(self, name: str) -> type[VideoReader]:
        return self._backends()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._backends())

    def __len__(self) -> int:
        return len(self._backends())

    def __repr__(self) -> str:
        return f"AVAILABLE_BACKENDS({sorted(self._backends())})"


# name -> VideoReader class, only for backends that import on this machine.
AVAILABLE_BACKENDS: Mapping[str, type[VideoReader]] = _Backends()
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


# ---------------------------------------------------------------------------------------------
# Audio, fingerprint, sampling


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
        VideoNotFoundError, NotAVideoError, CorruptVideoError: As for :func:`probe`.
    """
    av = _av()
    path = Path(path)
    with _open_container(path) as container:
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


_FINGERPRINT_CHUNK = 1 << 20


def fingerprint(path: str | os.PathLike[str]) -> str:
    """A content hash that is fast on long videos and stable across renames and copies.

    Hashes the size, the first, middle and last MiB, and the container duration.

    Args:
        path: The video file.

    Returns:
        A 64-character hex digest.

    Raises:
        VideoNotFoundError, NotAVideoError, CorruptVideoError, EmptyVideoError: As for opening.
    """
    path = Path(path)
    with _open_container(path) as container:
        duration = container.duration
    size = path.stat().st_size
    digest = hashlib.sha256(f"viewfinder-fp1:{size}:{duration}".encode())
    with path.open("rb") as f:
        for offset in (
            0,
            max(0, size // 2 - _FINGERPRINT_CHUNK // 2),
            max(0, size - _FINGERPRINT_CHUNK),
        ):
            f.seek(offset)
            digest.update(f.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()


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
