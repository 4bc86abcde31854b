"""Building the dev set: scripted scenes rendered with PIL, espeak-ng, sox and ffmpeg; real
clips linked in unchanged; ``annotations.jsonl`` for ``viewfinder eval jsonl``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..compose import concat, run_ffmpeg
from .recipe import (
    FPS,
    HEIGHT,
    QUESTIONS,
    REAL_CLIPS,
    VIDEOS,
    WIDTH,
    DevsetError,
    Question,
    Scene,
    video_file,
)

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))


def tools_missing(videos: Sequence[str] | None = None) -> list[str]:
    """The programs :func:`build` needs for ``videos`` (default: all) that are not installed."""
    scenes = [s for name in (videos or VIDEOS) if name in VIDEOS for s in VIDEOS[name]]
    needed = []
    if any(s.speech for s in scenes):
        needed.append("espeak-ng")
    if any(s.bed for s in scenes):
        needed.append("sox")
    return [tool for tool in needed if shutil.which(tool) is None]


def build(out_dir: Path, media_dir: Path, videos: Sequence[str] | None = None) -> Path:
    """Render the scripted videos, link the real clips into ``out_dir``, write annotations.

    Args:
        out_dir: Where the videos and annotations go (created).
        media_dir: ``../shared/media`` (real clips, recorded prompts, backgrounds).
        videos: Only these videos (default: every scripted video and real clip).

    Returns:
        The annotations path.

    Raises:
        DevsetError: espeak-ng / sox or a media file is missing.
    """
    names = list(videos or [*VIDEOS, *REAL_CLIPS])
    unknown = [n for n in names if n not in VIDEOS and n not in REAL_CLIPS]
    if unknown:
        raise DevsetError(f"Unknown dev-set videos {unknown}; known: {[*VIDEOS, *REAL_CLIPS]}")
    missing = tools_missing(names)
    if missing:
        raise DevsetError(
            f"The dev set needs {', '.join(missing)}: apt-get install -y {' '.join(missing)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    for name in names:
        target = out_dir / video_file(name)
        if target.exists():
            continue
        if name in REAL_CLIPS:
            _link(media_dir / REAL_CLIPS[name], target)
            continue
        parts = [
            _render_scene(scene, work / f"{name}_{i:02d}", media_dir)
            for i, scene in enumerate(VIDEOS[name])
        ]
        partial = out_dir / f".{name}.partial.mp4"
        concat(parts, partial)
        partial.replace(target)
    shutil.rmtree(work, ignore_errors=True)
    annotations = out_dir / "annotations.jsonl"
    rows = [record(q) for q in QUESTIONS if q.video in names]
    tmp = annotations.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(annotations)
    return annotations


def record(q: Question) -> dict[str, Any]:
    """The annotation line of one question."""
    row: dict[str, Any] = {
        "id": q.id,
        "video": video_file(q.video),
        "question": q.question,
        "answer": q.answer,
        "task": q.task,
        "window": list(q.window) if q.window else None,
        "split": q.split,
        "modality": q.modality,
    }
    if q.options:
        row["options"] = list(q.options)
    if q.keywords:
        row["keywords"] = list(q.keywords)
    return row


def _link(src: Path, target: Path) -> None:
    if not src.is_file():
        raise DevsetError(f"Real clip {src} not found; pass --media ../shared/media")
    # A symlink keeps the set small; the clip is read-only media anyway.
    target.symlink_to(src.resolve())


def _font(name: str, size: int) -> Any:
    from PIL import ImageFont

    for folder in FONT_DIRS:
        path = folder / f"{name}.ttf"
        if name and path.is_file():
            return ImageFont.truetype(str(path), size=size)
    # No such font on this machine: PIL's own font still draws the same words.
    return ImageFont.load_default(size=size)


def _picture(scene: Scene, lines: Sequence[str], path: Path, title: bool) -> Path:
    """Transparent full-frame PNG with ``lines`` drawn from the top, on dark backing boxes."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    # Backing boxes contrast with the ink: dark under light text, light under dark text.
    rgb = [int(scene.ink[i : i + 2], 16) for i in (1, 3, 5)]
    backing = (0, 0, 0, 150) if sum(rgb) > 3 * 128 else (255, 255, 255, 170)
    y = 40
    for n, line in enumerate(lines):
        size = 44 if (title and n == 0) else 32
        font = _font(scene.font, size)
        # A long line (a shell command) shrinks until it fits the frame.
        while draw.textlength(line, font=font) > WIDTH - 80 and size > 14:
            size -= 2
            font = _font(scene.font, size)
        width = draw.textlength(line, font=font)
        x = (WIDTH - width) / 2 if scene.centered else 40
        box = draw.textbbox((x, y), line, font=font)
        draw.rectangle((box[0] - 8, box[1] - 6, box[2] + 8, box[3] + 6), fill=backing)
        draw.text((x, y), line, font=font, fill=scene.ink)
        y = box[3] + 26
    img.save(path)
    return path


def _scroll_picture(scene: Scene, path: Path) -> tuple[Path, int]:
    """A tall transparent PNG of the scrolling lines, centred, and its height."""
    from PIL import Image, ImageDraw

    font, step = _font(scene.font, 34), 50
    height = step * len(scene.scroll) + 20
    img = Image.new("RGBA", (WIDTH, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for n, line in enumerate(scene.scroll):
        x = (WIDTH - draw.textlength(line, font=font)) / 2
        draw.text((x, 10 + n * step), line, font=font, fill=scene.ink)
    img.save(path)
    return path, height


def _speak(scene: Scene, path: Path) -> Path:
    result = subprocess.run(
        ["espeak-ng", "-v", scene.voice, "-s", str(scene.rate), "-w", str(path), scene.speech],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise DevsetError(f"espeak-ng failed: {result.stderr.strip()[-200:]}")
    return path


def _bed(kind: str, seconds: float, path: Path) -> Path:
    """A quiet sound bed under the speech: pink noise, or a slow major chord with tremolo."""
    dur = f"{seconds:.3f}"
    if kind == "noise":
        effect = ["-c", "1", str(path), "synth", dur, "pinknoise", "vol", "0.04"]
    elif kind == "music":
        effect = ["-c", "3", str(path), "synth", dur, "sine", "220", "sine", "277.2", "sine",
                  "329.6", "tremolo", "0.5", "60", "remix", "-", "vol", "0.06"]  # fmt: skip
    else:
        raise DevsetError(f"Unknown sound bed {kind!r}; use 'noise' or 'music'")
    result = subprocess.run(["sox", "-n", "-r", "16000", *effect], capture_output=True, text=True)
    if result.returncode != 0:
        raise DevsetError(f"sox failed: {result.stderr.strip()[-200:]}")
    return path


def _render_scene(scene: Scene, stem: Path, media_dir: Path) -> Path:
    dur = f"{scene.seconds:.3f}"
    args: list[Any] = []
    if scene.background.startswith("#"):
        args += ["-f", "lavfi", "-t", dur, "-i",
                 f"color=c={scene.background}:s={WIDTH}x{HEIGHT}:r={FPS}"]  # fmt: skip
    else:
        clip, _, start = scene.background.partition("@")
        src = media_dir / clip
        if not src.is_file():
            raise DevsetError(f"Background clip {src} not found; pass --media ../shared/media")
        # Short clips loop to fill the scene.
        args += ["-stream_loop", "-1", "-ss", start or "0", "-t", dur, "-i", src]
    still = ["-loop", "1", "-framerate", str(FPS), "-t", dur, "-i"]
    args += [*still, _picture(scene, scene.lines, stem.with_suffix(".png"), title=True)]
    late = _picture(scene, scene.late_lines, stem.with_name(stem.name + "_late.png"), False)
    args += [*still, late]
    if scene.audio:
        src = media_dir / scene.audio
        if not src.is_file():
            raise DevsetError(f"Recorded prompt {src} not found; pass --media ../shared/media")
        args += ["-i", src]
    elif scene.speech:
        args += ["-i", _speak(scene, stem.with_suffix(".wav"))]
    else:
        args += ["-f", "lavfi", "-t", dur, "-i", "anullsrc=r=16000:cl=mono"]
    delay = int(scene.speech_at * 1000)
    audio = f"[3:a]aresample=16000,adelay={delay}|{delay},apad,atrim=0:{dur}"
    n_inputs = 4
    if scene.bed:
        args += ["-i", _bed(scene.bed, scene.seconds, stem.with_name(stem.name + "_bed.wav"))]
        audio += f"[sp];[{n_inputs}:a]aresample=16000[bd];"
        audio += "[sp][bd]amix=inputs=2:duration=first:normalize=0[a]"
        n_inputs += 1
    else:
        audio += "[a]"
    video = (
        f"[0:v]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,"
        f"crop={WIDTH}:{HEIGHT},fps={FPS},setsar=1[bg];"
        "[bg][1:v]overlay=0:0[t];"
        f"[t][2:v]overlay=0:0:enable='gte(t,{scene.late_at})'"
    )
    if scene.scroll:
        picture, height = _scroll_picture(scene, stem.with_name(stem.name + "_scroll.png"))
        args += [*still, picture]
        # From just below the frame to just above it over the scene's length.
        speed = (HEIGHT + height) / scene.seconds
        video += f"[s];[s][{n_inputs}:v]overlay=x=0:y='{HEIGHT}-t*{speed:.3f}'"
    video += ",format=yuv420p[v]"
    out = stem.with_suffix(".mp4")
    run_ffmpeg([
        *args, "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]",
        "-t", dur, "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-g", str(FPS * 2),
        "-c:a", "aac", "-ar", "16000", "-ac", "1", out,
    ])  # fmt: skip
    return out
