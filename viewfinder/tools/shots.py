"""Shot boundaries and bounded-length clips, from one cheap low-resolution pass over a video.

The pass decodes the video sequentially with PyAV (threaded decoding), keeps about
``scan_fps`` frames per second shrunk to ``scan_width`` pixels, and feeds them to a
PySceneDetect detector (ContentDetector or AdaptiveDetector). Decoding at low resolution and
low rate is what keeps this affordable for hour-long videos. The same pass records how much
the picture changed between consecutive sampled frames, which the screen-text index uses to
read text only where the picture changes.

Shots are then turned into :class:`Clip` s of bounded length: shots shorter than
``min_clip`` merge into a neighbour, shots longer than ``max_clip`` are split evenly, and each
clip gets keyframe times spread over it.

Example:
    >>> scan = scan_video("talk.mp4")
    >>> clips = clips_from_cuts(scan.cuts, scan.duration)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptVideoError, NotAVideoError, VideoNotFoundError, require
from ..progress import StageProgress
from .video import container_start, decode_tolerant, set_decoder_threads

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Clip:
    """A contiguous piece of the video: the unit retrieval and answering work with."""

    # Start, seconds.
    start: float
    # End, seconds.
    end: float
    # Times (seconds) of representative frames inside the clip, ascending.
    keyframes: tuple[float, ...]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "keyframes": list(self.keyframes)}

    @classmethod
    def from_dict(cls, d: dict) -> Clip:
        return cls(float(d["start"]), float(d["end"]), tuple(float(t) for t in d["keyframes"]))


@dataclass(frozen=True)
class ShotOptions:
    """How shots are detected and clips are bounded."""

    # Frames per second kept for detection (others are decoded but not analysed).
    scan_fps: float = 2.0
    # Width in pixels of the frames analysed (height follows the aspect ratio).
    scan_width: int = 160
    # "content" (ContentDetector, HSV + edge difference) or "adaptive" (AdaptiveDetector).
    detector: str = "content"
    # Detector threshold (ContentDetector: 27 is PySceneDetect's default; adaptive: 3.0).
    threshold: float = 27.0
    # Shorter shots merge into a neighbour (seconds).
    min_clip: float = 2.0
    # Longer shots are split evenly (seconds).
    max_clip: float = 20.0
    # One keyframe per this many seconds of clip (at least one, at the clip's middle).
    keyframe_every: float = 5.0
    # Skip decoding non-reference frames (B-frames): ~2x faster, and sampling is sparse anyway.
    skip_nonref: bool = True
    # A sampled pixel counts as changed when its grey level moves by more than this (0-255).
    pixel_change: int = 24

    def __post_init__(self) -> None:
        if self.detector not in ("content", "adaptive"):
            raise ValueError(
                f"ShotOptions.detector must be 'content' or 'adaptive', got {self.detector!r}"
            )
        if not 0 < self.min_clip < self.max_clip:
            raise ValueError(
                f"ShotOptions needs 0 < min_clip < max_clip (got {self.min_clip}, {self.max_clip})"
            )
        if self.scan_fps <= 0 or self.scan_width < 16:
            raise ValueError("ShotOptions needs scan_fps > 0 and scan_width >= 16")


@dataclass(frozen=True)
class Scan:
    """What one low-resolution pass over the video found."""

    # Video duration in seconds (time of the last decoded frame plus one frame).
    duration: float
    # Shot cut times, seconds, ascending (the start of every shot but the first).
    cuts: tuple[float, ...]
    # Times of the sampled frames, seconds.
    times: np.ndarray = field(repr=False)
    # Fraction of pixels that changed since the previous sampled frame (0 for the first).
    change: np.ndarray = field(repr=False)


def scan_video(
    path: str | Path,
    options: ShotOptions | None = None,
    progress: StageProgress | None = None,
    on_frame: Callable[[float, Any], None] | None = None,
) -> Scan:
    """Decode ``path`` once at low resolution: shot cuts and per-sample picture change.

    Args:
        path: Video file.
        options: Detection options.
        progress: Called with (seconds decoded, duration) now and then.
        on_frame: Called with (time, PyAV frame) for every decoded frame, so other work
            that needs frames (e.g. ``indexes.spool.FrameSpool``) shares this decoding pass.

    Returns:
        The :class:`Scan`.

    Raises:
        VideoNotFoundError, NotAVideoError, CorruptVideoError: The video cannot be read.
    """
    options = options or ShotOptions()
    av = require("av", "index", "Shot detection")
    require("scenedetect", "index", "Shot detection")
    cv2 = require("cv2", "index", "Shot detection")
    from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

    path = Path(path)
    if not path.exists():
        raise VideoNotFoundError(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise NotAVideoError(path, str(e)) from e
    with container:
        if not container.streams.video:
            raise NotAVideoError(path, "no video stream")
        stream = container.streams.video[0]
        set_decoder_threads(stream)
        if options.skip_nonref:
            stream.codec_context.skip_frame = "NONREF"
        # The readers and the audio count from the container's start, not the video stream's:
        # a video stream that starts 64 ms late put every scanned time 1-2 frames before the
        # frame a reader returns for it, so the frame where a caption appeared read as the one
        # before it.
        base = container_start(container)
        total = _stream_duration(container, stream)
        detector = (
            ContentDetector(threshold=options.threshold, min_scene_len=1)
            if options.detector == "content"
            else AdaptiveDetector(
                adaptive_threshold=options.threshold, min_scene_len=1, window_width=2
            )
        )
        step = 1.0 / options.scan_fps
        next_t = 0.0
        times: list[float] = []
        change: list[float] = []
        cuts: list[float] = []
        prev_grey: np.ndarray | None = None
        last_t = 0.0
        frame_step = 1.0 / float(stream.average_rate or 25)
        width = height = 0
        index = 0
        bad_packets = 0
        for frame in decode_tolerant(av, container, stream):
            if frame is None:
                bad_packets += 1
                continue
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base) - base
            last_t = max(last_t, t)
            if on_frame is not None:
                on_frame(t, frame)
            if t + 1e-6 < next_t:
                continue
            next_t = max(next_t + step, t + step / 2)
            if not width:
                width = options.scan_width
                height = max(2, round(frame.height * width / frame.width / 2) * 2)
            bgr = frame.to_ndarray(width=width, height=height, format="bgr24")
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            if prev_grey is None:
                change.append(0.0)
            else:
                moved = cv2.absdiff(grey, prev_grey) > options.pixel_change
                change.append(float(np.count_nonzero(moved)) / moved.size)
            prev_grey = grey
            times.append(t)
            timecode = FrameTimecode(index, fps=float(options.scan_fps))
            for cut in detector.process_frame(timecode, bgr):
                cuts.append(times[cut.frame_num])
            index += 1
            if progress is not None and index % 64 == 0:
                progress(min(t, total or t), total or t)
        if bad_packets:
            logger.info("%s: %d packets could not be decoded and were skipped", path, bad_packets)
        if hasattr(detector, "post_process") and index:
            for cut in detector.post_process(FrameTimecode(index - 1, fps=float(options.scan_fps))):
                cuts.append(times[min(cut.frame_num, len(times) - 1)])
    if not times:
        raise CorruptVideoError(path, "no frame could be decoded")
    duration = last_t + frame_step
    if progress is not None:
        progress(duration, duration)
    cuts = sorted({c for c in cuts if 0.0 < c < duration})
    return Scan(
        duration=duration,
        cuts=tuple(cuts),
        times=np.asarray(times, np.float64),
        change=np.asarray(change, np.float32),
    )


def _stream_duration(container, stream) -> float:  # noqa: ANN001 - PyAV objects
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def clips_from_cuts(
    cuts: Sequence[float], duration: float, options: ShotOptions | None = None
) -> list[Clip]:
    """Turn shot cuts into clips between ``min_clip`` and ``max_clip`` seconds long.

    Args:
        cuts: Shot cut times, seconds.
        duration: Video duration, seconds.
        options: Bounds and keyframe spacing.

    Returns:
        Clips covering ``[0, duration]`` without gaps, in order.
    """
    options = options or ShotOptions()
    if duration <= 0:
        return []
    bounds = [0.0, *sorted(c for c in cuts if 0.0 < c < duration), duration]
    shots = [[a, b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    merged: list[list[float]] = []
    for shot in shots:  # tiny shots (flashes, fast cuts) join the previous shot
        if merged and (
            shot[1] - shot[0] < options.min_clip or merged[-1][1] - merged[-1][0] < options.min_clip
        ):
            merged[-1][1] = shot[1]
        else:
            merged.append(shot)
    clips = []
    for start, end in merged:
        pieces = max(1, math.ceil((end - start) / options.max_clip - 1e-9))
        width = (end - start) / pieces
        for i in range(pieces):
            a, b = start + i * width, start + (i + 1) * width if i < pieces - 1 else end
            clips.append(Clip(round(a, 3), round(b, 3), keyframe_times(a, b, options)))
    return clips


def keyframe_times(
    start: float, end: float, options: ShotOptions | None = None
) -> tuple[float, ...]:
    """Keyframes spread evenly over ``[start, end]`` (centres of equal parts)."""
    options = options or ShotOptions()
    n = max(1, round((end - start) / options.keyframe_every))
    return tuple(round(start + (i + 0.5) * (end - start) / n, 3) for i in range(n))


def detect_clips(
    path: str | Path, options: ShotOptions | None = None, progress: StageProgress | None = None
) -> list[Clip]:
    """Shot-bounded clips of ``path`` (a scan followed by :func:`clips_from_cuts`)."""
    scan = scan_video(path, options, progress)
    return clips_from_cuts(scan.cuts, scan.duration, options)
