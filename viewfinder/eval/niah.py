"""Needle-in-a-haystack long videos built from real footage, emitted as MLVU-format items.

The haystack is real screen recordings and animations (``display_settings.webm``,
``message_board.ogv``, ``channel_ident_slides.mp4``, ``wanna_work_together.mp4``) cut into
10-second chunks and looped to the requested length. Needles, each at a chosen depth:

- ``speech``: a recorded prompt with an exact transcript, mixed into the soundtrack;
- ``text``: an on-screen phrase (rendered with PIL, overlaid on a haystack chunk);
- ``clip``: a distinct real clip (a cockatoo, a night city time-lapse, a person at a webcam).

Every needle becomes one 4-option question whose distractors never occur in that video; the
needle's true start / end time, depth and modality go into the record, so the MLVU loader
puts them into ``Item.meta`` (``task`` = ``needle_<modality>``).
"""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .compose import media_duration, normalize_clip, run_ffmpeg, speech_prompts

logger = logging.getLogger(__name__)

HAYSTACK_SOURCES = (
    "display_settings.webm",
    "message_board.ogv",
    "channel_ident_slides.mp4",
    "wanna_work_together.mp4",
)
# Needle clips: (file, start second in the source, what a viewer would say it shows).
NEEDLE_CLIPS = (
    ("cockatoo.mp4", 1.0, "a white cockatoo close to the camera"),
    ("city_timelapse.mpg", 0.0, "a time-lapse of city towers at night"),
    ("hello_terminal.mp4", 0.0, "a person talking into a webcam beside a terminal window"),
)
# Scenes in none of the media files: safe distractors for clip questions.
ABSENT_SCENES = (
    "a rocket lifting off from a launch pad",
    "a scuba diver swimming over a coral reef",
    "horses racing on a dirt track",
    "a cat asleep on a sofa",
    "a snowboarder jumping off a ramp",
)
_WORDS_A = ("AMBER", "COBALT", "CRIMSON", "SILVER", "VIOLET", "OLIVE", "COPPER", "IVORY")
_WORDS_B = ("FALCON", "HARBOR", "LANTERN", "MEADOW", "ORCHID", "GLACIER", "CANYON", "BEACON")
QUESTIONS = {
    "speech": "Which of these sentences is spoken in the video?",
    "text": "Which of these phrases is shown as on-screen text in the video?",
    "clip": "Which of these scenes appears in the video?",
}
CHUNK_SECONDS = 10.0


@dataclass(frozen=True)
class NiahConfig:
    """What to build."""

    minutes: float = 30.0  # length of each haystack video
    needles: int = 20  # total needles (= questions) over all videos
    per_video: int = 10  # needles per video; videos = ceil(needles / per_video)
    modalities: tuple[str, ...] = ("speech", "text", "clip")  # needle kinds, assigned in turn
    needle_seconds: float = 4.0  # on-screen time of text and clip needles
    seed: int = 0  # positions, phrases and option order
    width: int = 640  # frame size and rate of the built videos
    height: int = 360
    fps: int = 25


@dataclass(frozen=True)
class Needle:
    """One placed needle and its question."""

    modality: str  # "speech", "text" or "clip"
    start: float  # true start time in the built video, seconds
    end: float  # true end time, seconds
    answer: str  # the true transcript / phrase / scene description
    depth: float  # start / video length, 0..1


def depth_bucket(depth: float, buckets: int = 5) -> str:
    """``"0-20%"`` ... ``"80-100%"``."""
    i = min(buckets - 1, int(depth * buckets))
    step = 100 // buckets
    return f"{i * step}-{(i + 1) * step}%"


def build(media_dir: Path, out_dir: Path, config: NiahConfig) -> Path:
    """Build the videos and ``niah.json`` (MLVU raw format) under ``out_dir``.

    Args:
        media_dir: the real media folder (``/work/shared/media`` layout, with ``speech/``).
        out_dir: gets ``videos/*.mp4``, ``niah.json`` and a ``work/`` cache of chunks.
        config: lengths, needle count and seed.

    Returns:
        Path of ``niah.json``; an existing one built with the same config is reused.
    """
    media_dir, out_dir = Path(media_dir), Path(out_dir)
    ann = out_dir / "niah.json"
    stamp = out_dir / "niah.config.json"
    if ann.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == _config_dict(config):
        logger.info("Reusing %s (same config)", ann)
        return ann
    for name in (*HAYSTACK_SOURCES, *(c[0] for c in NEEDLE_CLIPS)):
        if not (media_dir / name).is_file():
            from ..errors import ViewfinderError

            raise ViewfinderError(
                f"{media_dir / name} is missing: niah needs the real media folder "
                "(pass --media DIR pointing at the directory with the clips and speech/)."
            )
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    rng = random.Random(config.seed)
    prompts = speech_prompts(media_dir)
    records: list[dict[str, Any]] = []
    n_videos = math.ceil(config.needles / config.per_video)
    for v in range(n_videos):
        count = min(config.per_video, config.needles - v * config.per_video)
        name = f"niah_{_minutes_label(config.minutes)}min_{v}.mp4"
        needles = _build_video(
            media_dir, work, out_dir / "videos" / name, config, count, rng, prompts, v
        )
        records += _questions(name, needles, config, rng, prompts)
    ann.write_text(json.dumps(records, indent=1))
    stamp.write_text(json.dumps(_config_dict(config)))
    return ann


def _config_dict(config: NiahConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config)))


def _minutes_label(minutes: float) -> str:
    return f"{minutes:g}".replace(".", "p")


def _chunk_plan(media_dir: Path) -> list[tuple[Path, float]]:
    """Haystack chunks (source, start) interleaved across sources, one loop of the haystack."""
    per_source = []
    for name in HAYSTACK_SOURCES:
        src = media_dir / name
        length = media_duration(src)
        starts = [i * CHUNK_SECONDS for i in range(max(1, int(length // CHUNK_SECONDS)))]
        per_source.append([(src, s) for s in starts])
    plan: list[tuple[Path, float]] = []
    while any(per_source):
        for chunks in per_source:
            if chunks:
                plan.append(chunks.pop(0))
    return plan


def _normalized(work: Path, src: Path, start: float, duration: float, config: NiahConfig) -> Path:
    dst = work / f"{src.stem}_{start:g}_{duration:g}_{config.width}x{config.height}.mp4"
    if not dst.is_file():
        tmp = dst.with_suffix(".part.mp4")
        normalize_clip(src, tmp, config.width, config.height, config.fps, start, duration)
        tmp.rename(dst)
    return dst


def _build_video(
    media_dir: Path,
    work: Path,
    dst: Path,
    config: NiahConfig,
    count: int,
    rng: random.Random,
    prompts: list[Any],
    video_index: int,
) -> list[Needle]:
    total = config.minutes * 60.0
    modalities = [
        config.modalities[(video_index * count + i) % len(config.modalities)] for i in range(count)
    ]
    rng.shuffle(modalities)
    # Evenly spread target depths with jitter, so every depth bucket gets needles.
    depths = [(i + rng.uniform(0.15, 0.85)) / count for i in range(count)]
    clip_pool = list(NEEDLE_CLIPS)
    rng.shuffle(clip_pool)
    speech_pool = list(prompts)
    rng.shuffle(speech_pool)
    plan = _chunk_plan(media_dir)
    segments: list[tuple[Path, float]] = []  # (file, duration)
    needles: list[Needle] = []
    speech: list[tuple[Path, float]] = []
    elapsed, k = 0.0, 0
    for modality, depth in zip(modalities, depths, strict=True):
        target = depth * total
        while elapsed + CHUNK_SECONDS <= target:  # haystack up to the needle
            src, start = plan[k % len(plan)]
            k += 1
            seg = _normalized(work, src, start, CHUNK_SECONDS, config)
            segments.append((seg, media_duration(seg)))
            elapsed += segments[-1][1]
        if modality == "clip" and clip_pool:
            name, offset, description = clip_pool.pop()
            seg = _normalized(work, media_dir / name, offset, config.needle_seconds, config)
            dur = media_duration(seg)
            needles.append(Needle("clip", elapsed, elapsed + dur, description, elapsed / total))
            segments.append((seg, dur))
            elapsed += dur
        elif modality == "text" or (modality == "clip" and not clip_pool):
            phrase = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)} {rng.randint(100, 999)}"
            src, start = plan[k % len(plan)]
            k += 1
            base = _normalized(work, src, start, config.needle_seconds, config)
            seg = work / f"text_{video_index}_{len(needles)}_{config.seed}.mp4"
            _burn_text(base, phrase, seg, config, work)
            dur = media_duration(seg)
            needles.append(Needle("text", elapsed, elapsed + dur, phrase, elapsed / total))
            segments.append((seg, dur))
            elapsed += dur
        else:  # speech: laid over whatever haystack plays at that moment
            prompt = speech_pool.pop()
            t = min(max(elapsed, target), total - prompt.duration - 0.5)
            speech.append((prompt.wav, t))
            needles.append(Needle("speech", t, t + prompt.duration, prompt.text, t / total))
    while elapsed < total:  # haystack to the end (speech needles may lie in this stretch)
        src, start = plan[k % len(plan)]
        k += 1
        seg = _normalized(work, src, start, CHUNK_SECONDS, config)
        segments.append((seg, media_duration(seg)))
        elapsed += segments[-1][1]
    silent = dst.with_name(dst.stem + ".picture.mp4")
    listing = dst.with_suffix(".concat.txt")
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p, _ in segments))
    run_ffmpeg(
        ["-f", "concat", "-safe", "0", "-i", listing, "-t", f"{total:.3f}", "-c", "copy", silent]
    )
    listing.unlink()
    if speech:
        from .compose import lay_speech

        lay_speech(silent, speech, dst)
        silent.unlink()
    else:
        silent.replace(dst)
    logger.info("Built %s (%.0f s, %d needles)", dst, total, len(needles))
    return needles


def _burn_text(video: Path, text: str, dst: Path, config: NiahConfig, work: Path) -> None:
    """Overlay ``text`` in a banner on ``video`` (PIL-rendered PNG: no font needed in ffmpeg)."""
    from PIL import Image, ImageDraw, ImageFont

    height = config.height // 6
    img = Image.new("RGBA", (config.width, height), (0, 0, 0, 200))
    font = ImageFont.load_default(size=int(height * 0.55))
    draw = ImageDraw.Draw(img)
    box = draw.textbbox((0, 0), text, font=font)
    xy = (
        (config.width - (box[2] - box[0])) / 2 - box[0],
        (height - (box[3] - box[1])) / 2 - box[1],
    )
    draw.text(xy, text, font=font, fill=(255, 255, 255, 255))
    png = work / f"{dst.stem}.png"
    img.save(png)
    y = (config.height - height) // 2
    run_ffmpeg(
        [
            "-i",
            video,
            "-i",
            png,
            "-filter_complex",
            f"[0:v][1:v]overlay=0:{y},format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-g",
            str(config.fps * 2),
            "-c:a",
            "copy",
            dst,
        ]
    )
    png.unlink()


def _questions(
    video: str, needles: list[Needle], config: NiahConfig, rng: random.Random, prompts: list[Any]
) -> list[dict[str, Any]]:
    placed = {n.answer for n in needles}
    pools = {
        "speech": [p.text for p in prompts],
        # Same distribution as the placed phrases, so the numbers give nothing away.
        "text": [f"{a} {b} {rng.randint(100, 999)}" for a in _WORDS_A for b in _WORDS_B],
        "clip": [c[2] for c in NEEDLE_CLIPS] + list(ABSENT_SCENES),
    }
    # Some recorded prompts share their text: an option listed twice would be two wrong answers.
    pools = {modality: list(dict.fromkeys(pool)) for modality, pool in pools.items()}
    records = []
    for i, n in enumerate(sorted(needles, key=lambda n: n.start)):
        # Distractors never occur in this video, so exactly one option is true.
        distractors = rng.sample([x for x in pools[n.modality] if x not in placed], 3)
        candidates = [n.answer, *distractors]
        rng.shuffle(candidates)
        records.append(
            {
                "video": video,
                "duration": config.minutes * 60.0,
                "question": QUESTIONS[n.modality],
                "candidates": candidates,
                "answer": n.answer,
                "question_type": f"needle_{n.modality}",
                "question_id": f"{Path(video).stem}_{i}",
                "modality": n.modality,
                "needle_start": round(n.start, 3),
                "needle_end": round(n.end, 3),
                "depth": round(n.depth, 4),
                "depth_bucket": depth_bucket(n.depth),
                "minutes": config.minutes,
            }
        )
    return records
