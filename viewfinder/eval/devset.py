"""A dev set that is not the needle generator: scripted tutorials, spoken by espeak-ng.

The needle benchmark hides one phrase or banner per question and asks for it with the same
words. The questions here are the ones a user asks of a screencast: paraphrased away from the
spoken or written words, about keys and numbers, about a value that is said twice and changes,
about what comes first, about lists on slides, about a command typed right after a cut, and
open questions, among them one whose answer is not in the video.

The recipe is :data:`VIDEOS` and :data:`QUESTIONS` below: each video is a list of scenes (a
background - a solid colour or a stretch of a clip from ``../shared/media`` - text lines on
screen, optionally lines that appear after a delay, and one spoken sentence). ``build`` renders
each scene with PIL and ffmpeg, speaks its sentence with espeak-ng (Debian package
``espeak-ng``), joins the scenes and writes ``annotations.jsonl`` for ``viewfinder eval
jsonl`` (each record: task, answer window in seconds, and for open questions the words a
correct answer must contain).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError
from .compose import concat, run_ffmpeg

WIDTH, HEIGHT, FPS = 854, 480, 15
# espeak-ng words per minute: a clear, slightly slow narrator.
SPEECH_RATE = 140


class DevsetError(ViewfinderError):
    """The dev set cannot be built (a tool or a media file is missing)."""


@dataclass(frozen=True)
class Scene:
    """A few seconds of one picture, its words and one spoken sentence."""

    # Seconds on screen.
    seconds: float
    # Lines shown from the scene's start (the first is drawn larger, as a title).
    lines: tuple[str, ...] = ()
    # Lines that appear ``late_at`` seconds into the scene (typed text after a cut).
    late_lines: tuple[str, ...] = ()
    late_at: float = 0.0
    # The sentence spoken, starting ``speech_at`` seconds into the scene ("" for silence).
    speech: str = ""
    speech_at: float = 0.5
    # "#rrggbb" background, or "clip.mp4@START" from the shared media directory.
    background: str = "#1e2a38"
    # Text colour.
    ink: str = "#f4f4f4"


@dataclass(frozen=True)
class Question:
    """One dev-set question about one video."""

    id: str
    video: str
    # Question type, the row of the per-type accuracy table.
    task: str
    question: str
    # Multiple-choice options (the answer is one of them) or None for an open question.
    options: tuple[str, ...] | None
    # The correct option's text, or for an open question the expected answer.
    answer: str
    # Where the answer is, seconds (None: nowhere, the answer is "not found").
    window: tuple[float, float] | None
    # Open questions: words a correct answer contains (all of them, any order).
    keywords: tuple[str, ...] = field(default_factory=tuple)


VIDEOS: dict[str, tuple[Scene, ...]] = {
    "editor_tour": (
        Scene(
            8,
            ("Notepad Pro: a quick tour", "version 3"),
            speech="Welcome. Today we look at a small text editor for programmers.",
        ),
        Scene(
            9,
            ("Keyboard shortcuts", "Ctrl+S  save", "Ctrl+O  open a file", "Ctrl+Q  quit"),
            speech="To keep your work safe, hold control and press S.",
        ),
        Scene(
            8,
            ("Meeting",),
            speech="The team meets in room twelve on Monday.",
        ),
        Scene(
            9,
            (),
            late_lines=("user@box:~$ git clone https://example.org/pad.git",),
            late_at=0.6,
            speech="First, download the source code.",
            speech_at=2.0,
            background="#000000",
            ink="#39ff14",
        ),
        Scene(
            10,
            ("Supported systems", "Debian 12", "Fedora 40", "FreeBSD 14", "macOS 14"),
            speech="It runs on four systems, but the build server uses Fedora.",
        ),
        Scene(
            8,
            ("Meeting update",),
            speech="Correction: the team now meets in room thirty one.",
        ),
        Scene(
            8,
            ("Thanks for watching", "docs: pad.example.org/help"),
            speech="The manual is online. Thanks for watching.",
        ),
    ),
    "city_notes": (
        Scene(
            9,
            ("Field notes", "day one"),
            speech="The first thing we filmed was the harbour at sunrise.",
            background="city_timelapse.mpg@0",
        ),
        Scene(
            9,
            ("Budget", "cameras 1200", "travel 450", "food 300"),
            speech="The travel costs came to four hundred and fifty euros.",
            background="city_timelapse.mpg@2",
        ),
        Scene(
            9,
            ("Next stop",),
            speech="After the harbour we went to the old market.",
            background="city_timelapse.mpg@4",
        ),
        Scene(
            9,
            (),
            late_lines=("PASSCODE 7319",),
            late_at=0.5,
            speech="The locker code is on the screen now.",
            speech_at=1.5,
            background="city_timelapse.mpg@6",
        ),
    ),
}

QUESTIONS: tuple[Question, ...] = (
    # --- editor_tour
    Question(
        "e1",
        "editor_tour",
        "key",
        "Which key combination stores the document?",
        ("Ctrl+O", "Ctrl+S", "Ctrl+Q", "Ctrl+Z"),
        "Ctrl+S",
        (8, 17),
    ),
    Question(
        "e2",
        "editor_tour",
        "paraphrase",
        "What kind of program is being introduced?",
        ("a web browser", "a text editor", "a music player", "a photo viewer"),
        "a text editor",
        (0, 8),
    ),
    Question(
        "e3",
        "editor_tour",
        "said_twice",
        "In which room does the team meet after the change?",
        ("room 12", "room 31", "room 13", "room 21"),
        "room 31",
        (44, 52),
    ),
    Question(
        "e4",
        "editor_tour",
        "first",
        "Which room was announced first?",
        ("room 31", "room 12", "room 13", "room 21"),
        "room 12",
        (17, 25),
    ),
    Question(
        "e5",
        "editor_tour",
        "typed_after_cut",
        "Which command is typed in the terminal?",
        (
            "git pull origin main",
            "git clone https://example.org/pad.git",
            "wget https://example.org/pad.tar",
            "svn checkout pad",
        ),
        "git clone https://example.org/pad.git",
        (25, 34),
    ),
    Question(
        "e6",
        "editor_tour",
        "list",
        "Which of these systems is NOT on the supported list?",
        ("Debian 12", "Fedora 40", "Windows 11", "FreeBSD 14"),
        "Windows 11",
        (34, 44),
    ),
    Question(
        "e7",
        "editor_tour",
        "paraphrase",
        "Which operating system does the build machine run?",
        ("Debian", "Fedora", "FreeBSD", "macOS"),
        "Fedora",
        (34, 44),
    ),
    Question(
        "e8",
        "editor_tour",
        "open",
        "Where can the manual be found?",
        None,
        "pad.example.org/help",
        (52, 60),
        ("pad.example.org",),
    ),
    Question(
        "e9",
        "editor_tour",
        "open_absent",
        "What is the price of the editor?",
        None,
        "not found",
        None,
    ),
    # --- city_notes
    Question(
        "c1",
        "city_notes",
        "number",
        "How much was spent on getting there?",
        ("300 euros", "450 euros", "1200 euros", "540 euros"),
        "450 euros",
        (9, 18),
    ),
    Question(
        "c2",
        "city_notes",
        "first",
        "What was filmed first?",
        ("the old market", "the harbour", "the train station", "the cathedral"),
        "the harbour",
        (0, 9),
    ),
    Question(
        "c3",
        "city_notes",
        "list",
        "Which budget line is the largest?",
        ("food", "travel", "cameras", "hotel"),
        "cameras",
        (9, 18),
    ),
    Question(
        "c4",
        "city_notes",
        "typed_after_cut",
        "What is the code for the locker?",
        ("7319", "7391", "1937", "3719"),
        "7319",
        (27, 36),
    ),
    Question(
        "c5",
        "city_notes",
        "open",
        "Where did they go after the harbour?",
        None,
        "the old market",
        (18, 27),
        ("market",),
    ),
)


def tools_missing() -> list[str]:
    """The programs :func:`build` needs that are not installed."""
    return [tool for tool in ("espeak-ng",) if shutil.which(tool) is None]


def build(out_dir: Path, media_dir: Path, videos: Sequence[str] | None = None) -> Path:
    """Render the dev-set videos into ``out_dir`` and write ``annotations.jsonl``.

    Args:
        out_dir: Where the videos and annotations go (created).
        media_dir: ``../shared/media`` (backgrounds named ``clip@start``).
        videos: Only these videos (default: all of :data:`VIDEOS`).

    Returns:
        The annotations path.

    Raises:
        DevsetError: espeak-ng or a background clip is missing.
    """
    missing = tools_missing()
    if missing:
        raise DevsetError(
            f"The dev set needs {', '.join(missing)}: apt-get install -y {' '.join(missing)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    names = list(videos or VIDEOS)
    for name in names:
        target = out_dir / f"{name}.mp4"
        if target.exists():
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
    rows = [_record(q) for q in QUESTIONS if q.video in names]
    tmp = annotations.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(annotations)
    return annotations


def scene_starts(name: str) -> list[float]:
    """Start second of each scene of video ``name``."""
    starts, t = [], 0.0
    for scene in VIDEOS[name]:
        starts.append(t)
        t += scene.seconds
    return starts


def _record(q: Question) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": q.id,
        "video": f"{q.video}.mp4",
        "question": q.question,
        "answer": q.answer,
        "task": q.task,
        "window": list(q.window) if q.window else None,
    }
    if q.options:
        row["options"] = list(q.options)
    if q.keywords:
        row["keywords"] = list(q.keywords)
    return row


def _picture(lines: Sequence[str], ink: str, path: Path, title: bool) -> Path:
    """Transparent full-frame PNG with ``lines`` drawn left-aligned from the top."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    y = 40
    for n, line in enumerate(lines):
        size = 44 if (title and n == 0) else 32
        font = ImageFont.load_default(size=size)
        box = draw.textbbox((40, y), line, font=font)
        draw.rectangle((box[0] - 8, box[1] - 6, box[2] + 8, box[3] + 6), fill=(0, 0, 0, 150))
        draw.text((40, y), line, font=font, fill=ink)
        y = box[3] + 26
    img.save(path)
    return path


def _speak(text: str, path: Path) -> Path:
    result = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(SPEECH_RATE), "-w", str(path), text],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise DevsetError(f"espeak-ng failed: {result.stderr.strip()[-200:]}")
    return path


def _render_scene(scene: Scene, stem: Path, media_dir: Path) -> Path:
    dur = f"{scene.seconds:.3f}"
    args: list[Any] = []
    if scene.background.startswith("#"):
        args += [
            "-f",
            "lavfi",
            "-t",
            dur,
            "-i",
            f"color=c={scene.background}:s={WIDTH}x{HEIGHT}:r={FPS}",
        ]
    else:
        clip, _, start = scene.background.partition("@")
        src = media_dir / clip
        if not src.is_file():
            raise DevsetError(f"Background clip {src} not found; pass --media ../shared/media")
        # Short clips loop to fill the scene.
        args += ["-stream_loop", "-1", "-ss", start or "0", "-t", dur, "-i", src]
    args += [
        "-loop",
        "1",
        "-framerate",
        str(FPS),
        "-t",
        dur,
        "-i",
        _picture(scene.lines, scene.ink, stem.with_suffix(".png"), title=True),
    ]
    args += [
        "-loop",
        "1",
        "-framerate",
        str(FPS),
        "-t",
        dur,
        "-i",
        _picture(scene.late_lines, scene.ink, stem.with_name(stem.name + "_late.png"), False),
    ]
    if scene.speech:
        args += ["-i", _speak(scene.speech, stem.with_suffix(".wav"))]
        delay = int(scene.speech_at * 1000)
        audio = f"[3:a]aresample=16000,adelay={delay}|{delay},apad,atrim=0:{dur}[a]"
    else:
        args += ["-f", "lavfi", "-t", dur, "-i", "anullsrc=r=16000:cl=mono"]
        audio = "[3:a]anull[a]"
    video = (
        f"[0:v]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,"
        f"crop={WIDTH}:{HEIGHT},fps={FPS},setsar=1[bg];"
        "[bg][1:v]overlay=0:0[t];"
        f"[t][2:v]overlay=0:0:enable='gte(t,{scene.late_at})',format=yuv420p[v]"
    )
    out = stem.with_suffix(".mp4")
    run_ffmpeg([
        *args, "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]",
        "-t", dur, "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-g", str(FPS * 2),
        "-c:a", "aac", "-ar", "16000", "-ac", "1", out,
    ])  # fmt: skip
    return out
