"""Build long test videos from real footage with ffmpeg.

Used by tests, benchmarks and the needle-in-a-haystack generator: normalise clips to one
size / frame rate / codec, concatenate them, and lay recorded speech at known times so
evidence timestamps can be checked against ground truth.

ffmpeg comes from ``imageio-ffmpeg`` (a static binary on PyPI) when it is installed, else from
``PATH``: a fresh machine has no system ffmpeg.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ViewfinderError

logger = logging.getLogger(__name__)


class FfmpegError(ViewfinderError):
    """ffmpeg is missing or failed."""


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary: imageio-ffmpeg's, else the one on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise FfmpegError(
        "ffmpeg is needed to build videos. Install it with: pip install imageio-ffmpeg"
        "  (or apt-get install -y ffmpeg)"
    )


def run_ffmpeg(args: Sequence[str | os.PathLike[str]]) -> None:
    """Run ffmpeg quietly; raise :class:`FfmpegError` with its stderr tail on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-5:]
        raise FfmpegError(f"ffmpeg failed ({' '.join(map(str, args[:6]))} ...): {' | '.join(tail)}")


def normalize_clip(
    src: Path,
    dst: Path,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    start: float = 0.0,
    duration: float | None = None,
    sample_rate: int = 16000,
) -> Path:
    """Re-encode ``src`` to ``width``x``height`` at ``fps`` (letterboxed), H.264 + mono AAC.

    A clip without an audio track gets silence, so concatenated videos keep a continuous
    audio track. Seeking happens after ``-i`` (accurate; some sources show green frames
    otherwise).
    """
    vf = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,fps={fps},format=yuv420p"
    )
    # Decode with one thread where frame threads are not reproducible (a Theora source gave
    # different pictures from run to run, so test videos built from it differed too).
    has_audio, frame_threads_unsafe = _probe(src)
    args: list[str | os.PathLike[str]] = ["-threads", "1"] if frame_threads_unsafe else []
    args += [
        "-i",
        src,
        "-f",
        "lavfi",
        "-i",
        f"anullsrc=r={sample_rate}:cl=mono",
    ]
    if start:
        args += ["-ss", f"{start:.3f}"]
    if duration is not None:
        args += ["-t", f"{duration:.3f}"]
    # Map the source's audio when it has one, else the silent source; amix keeps length.
    filter_audio = (
        f"[0:a:0]aresample={sample_rate},pan=mono|c0=c0[a0];"
        "[a0][1:a]amix=inputs=2:duration=first:normalize=0[aout]"
    )
    common = [
        "-vf",
        vf,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "28",
        "-g",
        str(fps * 2),
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-ar",
        str(sample_rate),
        "-ac",
        "1",
        dst,
    ]
    if has_audio:
        run_ffmpeg(
            [*args, "-filter_complex", filter_audio, "-map", "0:v:0", "-map", "[aout]", *common]
        )
    else:
        run_ffmpeg([*args, "-map", "0:v:0", "-map", "1:a", "-shortest", *common])
    return dst


def concat(clips: Sequence[Path], dst: Path) -> Path:
    """Concatenate clips normalised by :func:`normalize_clip` without re-encoding."""
    listing = dst.with_suffix(".concat.txt")
    listing.write_text("".join(f"file '{Path(c).resolve()}'\n" for c in clips))
    try:
        run_ffmpeg(["-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", dst])
    finally:
        listing.unlink(missing_ok=True)
    return dst


def loop_to_length(clips: Sequence[Path], seconds: float, dst: Path) -> Path:
    """Concatenate ``clips`` round-robin until at least ``seconds`` long, then cut there."""
    durations = [media_duration(c) for c in clips]
    order: list[Path] = []
    total = 0.0
    i = 0
    while total < seconds:
        order.append(clips[i % len(clips)])
        total += durations[i % len(clips)]
        i += 1
    joined = dst.with_name(dst.stem + ".joined" + dst.suffix)
    concat(order, joined)
    run_ffmpeg(["-i", joined, "-t", f"{seconds:.3f}", "-c", "copy", dst])
    joined.unlink(missing_ok=True)
    return dst


def lay_speech(
    video: Path,
    placements: Sequence[tuple[Path, float]],
    dst: Path,
    keep_original: bool = True,
    sample_rate: int = 16000,
) -> Path:
    """Mix each ``(wav, start_seconds)`` into the audio of ``video`` at its start time.

    The picture is copied unchanged. With ``keep_original=False`` the original soundtrack is
    replaced by silence plus the placed speech (exact ground truth for ASR timing tests).
    """
    args: list[str | os.PathLike[str]] = ["-i", video]
    for wav, _ in placements:
        args += ["-i", wav]
    parts = []
    labels = []
    for n, (_, start) in enumerate(placements, start=1):
        ms = max(0, round(start * 1000))
        parts.append(f"[{n}:a]aresample={sample_rate},pan=mono|c0=c0,adelay={ms}:all=1[s{n}]")
        labels.append(f"[s{n}]")
    mute = "" if keep_original else ",volume=0"
    parts.append(f"[0:a]aresample={sample_rate},pan=mono|c0=c0{mute}[base]")
    parts.append(
        f"[base]{''.join(labels)}amix=inputs={len(labels) + 1}:duration=first:normalize=0[aout]"
    )
    run_ffmpeg(
        [
            *args,
            "-filter_complex",
            ";".join(parts),
            "-map",
            "0:v:0",
            "-map",
            "[aout]",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ar",
            str(sample_rate),
            "-ac",
            "1",
            dst,
        ]
    )
    return dst


@dataclass(frozen=True)
class SpeechPrompt:
    """A recorded prompt with its exact transcript."""

    wav: Path
    text: str
    duration: float


def speech_prompts(media_dir: Path) -> list[SpeechPrompt]:
    """The recorded prompts in ``media_dir/speech`` with transcripts and durations."""
    speech = Path(media_dir) / "speech"
    entries = json.loads((speech / "transcripts.json").read_text())
    return [
        SpeechPrompt(speech / e["file"], e["text"], media_duration(speech / e["file"]))
        for e in entries
    ]


def media_duration(path: Path) -> float:
    """Duration in seconds of any media file (container duration)."""
    import av

    with av.open(str(path)) as container:
        if container.duration is not None:
            return container.duration / 1_000_000
        stream = (container.streams.video or container.streams.audio)[0]
        return float(stream.duration * stream.time_base)


def _probe(path: Path) -> tuple[bool, bool]:
    """(has an audio track, its video codec decodes irreproducibly with frame threads)."""
    import av

    from ..tools.video import NO_FRAME_THREADS

    with av.open(str(path)) as container:
        video = container.streams.video
        unsafe = bool(video) and video[0].codec_context.name in NO_FRAME_THREADS
        return bool(container.streams.audio), unsafe
