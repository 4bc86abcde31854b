"""The ``uniform`` strategy: sample the whole video evenly, then answer once.

It transcribes all speech, reads on-screen text on frames spaced evenly over the video, and
gives that evidence with timestamps to the answering model. It prefers no part of the video,
which makes it the baseline every smarter strategy has to beat at the same budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..answer import Answer, Evidence
from ..progress import Progress
from ..runtime import Models
from ..settings import Settings
from ..tools.video import VideoInfo, open_video, sample_times
from .answering import answer_from_text
from .evidence import words

logger = logging.getLogger(__name__)



def answer_uniform(
    video: Path,
    info: VideoInfo,
    question: str,
    options: Sequence[str] | None,
    models: Models,
    settings: Settings,
    cache: dict[str, Any] | None = None,
    progress: Progress | None = None,
    subtitles: Sequence[tuple[float, float, str]] | None = None,
) -> Answer:
    """Answer ``question`` about ``video`` from evenly sampled evidence.

    ``cache`` (one dict per video) keeps the transcript and screen text between questions, so
    a second question about the same video does no decoding, speech or OCR work.
    ``subtitles`` (``(start, end, text)`` lines), when given, are the transcript: no speech
    recognition runs.
    """
    cache = {} if cache is None else cache
    seconds: dict[str, float] = {}
    notes: list[str] = []
    trace: list[dict[str, Any]] = []

    t0 = time.perf_counter()
    if subtitles is not None:
        speech = [Evidence(s, e, "speech", t) for s, e, t in subtitles if t.strip()]
        source = "subtitles"
    else:
        if "speech" not in cache:
            speech_notes: list[str] = []
            found = transcribe(video, info, models, speech_notes, progress)
            cache["speech"] = (found, speech_notes)
        speech, speech_notes = cache["speech"]
        notes.extend(speech_notes)
        source = "asr"
    seconds["speech"] = time.perf_counter() - t0
    trace.append({"step": "speech", "segments": len(speech), "source": source})

    t0 = time.perf_counter()
    times = sample_times(info.duration, max(1, settings.frames))
    key = f"screen_text:{len(times)}:{settings.ocr_max_side}"
    if key not in cache:
        text_notes: list[str] = []
        found = read_screen_text(video, times, models, settings, text_notes, progress)
        cache[key] = (*found, text_notes)
    screen_text, frame_size, text_notes = cache[key]
    notes.extend(text_notes)
    seconds["screen_text"] = time.perf_counter() - t0
    trace.append({"step": "screen_text", "frames": len(times), "spans": len(screen_text)})

    evidence = [*speech, *screen_text]
    t0 = time.perf_counter()
    vlm = models.get("vlm")
    visual_tokens = 0
    if vlm is not None:
        answer, visual_tokens = _answer_with_vlm(
            vlm, video, times, question, options, evidence, settings, notes, trace
        )
    else:
        answer = answer_from_text(
            question, options, evidence, models, notes, trace, thin="even", progress=progress
        )
    seconds["answer"] = time.perf_counter() - t0

    answer.usage.update(
        {
            "strategy": "uniform",
            "frames": len(times),
            "frame_size": list(frame_size) if frame_size else None,
            "visual_tokens": visual_tokens,  # 0 when no VLM looked at the frames
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }
    )
    answer.notes = notes + answer.notes
    answer.trace = trace
    return answer


def transcribe(
    video: Path, info: VideoInfo, models: Models, notes: list[str], progress: Progress | None = None
) -> list[Evidence]:
    """All speech of ``video`` as evidence lines (empty, with a note, when unavailable)."""
    if not info.has_audio:
        notes.append("speech unavailable: the video has no audio track")
        return []
    asr = models.get("asr")
    if asr is None:
        notes.append(f"speech unavailable: {models.missing('asr')}")
        return []
    from ..tools.audio import load_audio

    audio = load_audio(video)
    if audio is None or len(audio) == 0:
        notes.append("speech unavailable: the audio track is empty")
        return []
    duration = len(audio) / 16000

    def report(fraction: float) -> None:
        if progress:
            progress("speech", fraction * duration, duration)

    segments = asr.transcribe(audio, progress=report)
    return [Evidence(s.start, s.end, "speech", s.text.strip()) for s in segments if s.text.strip()]


def read_screen_text(
    video: Path,
    times: Sequence[float],
    models: Models,
    settings: Settings,
    notes: list[str],
    progress: Progress | None = None,
) -> tuple[list[Evidence], tuple[int, int] | None]:
    """On-screen text at ``times``, identical lines on consecutive frames merged into spans."""
    ocr = models.get("ocr")
    if ocr is None:
        notes.append(f"screen text unavailable: {models.missing('ocr')}")
        return [], None
    open_spans: dict[str, list[Any]] = {}  # normalised text -> [start, end, text, last index]
    spans: list[Evidence] = []
    frame_size = None
    with open_video(video, settings.video_backend) as reader:
        for i, t in enumerate(times):
            frame = reader.frames_at([t], max_side=settings.ocr_max_side)[0]
            frame_size = (frame.shape[1], frame.shape[0])
            seen = set()
            for line in screen_lines(ocr.read(frame)):
                key = " ".join(words(line)) or line.lower()
                if not key or key in seen:
                    continue
                seen.add(key)
                span = open_spans.get(key)
                if span is not None and span[3] == i - 1:
                    span[1], span[3] = t, i
                else:
                    if span is not None:
                        spans.append(Evidence(span[0], span[1], "text", span[2]))
                    open_spans[key] = [t, t, line, i]
            if progress:
                progress("screen text", i + 1, len(times))
    spans.extend(Evidence(s[0], s[1], "text", s[2]) for s in open_spans.values())
    return sorted(spans, key=lambda e: e.start), frame_size


def screen_lines(boxes: Sequence[Any]) -> list[str]:
    """Join OCR boxes that sit on one row into a line of text, left to right.

    Engines return words or fragments as separate boxes; a file listing or a menu bar reads
    better, and costs fewer prompt tokens, as one line.
    """
    rows: list[list[Any]] = []
    for box in sorted(boxes, key=lambda b: (b.box[1] + b.box[3]) / 2):
        centre = (box.box[1] + box.box[3]) / 2
        if rows:
            last = rows[-1][-1]
            height = max(box.box[3] - box.box[1], last.box[3] - last.box[1], 1.0)
            if abs(centre - (last.box[1] + last.box[3]) / 2) <= 0.5 * height:
                rows[-1].append(box)
                continue
        rows.append([box])
    lines = []
    for row in rows:
        text = " ".join(b.text.strip() for b in sorted(row, key=lambda b: b.box[0]))
        if text.strip():
            lines.append(text.strip())
    return lines


def _answer_with_vlm(
    vlm: Any,
    video: Path,
    times: Sequence[float],
    question: str,
    options: Sequence[str] | None,
    evidence: list[Evidence],
    settings: Settings,
    notes: list[str],
    trace: list[dict[str, Any]],
) -> tuple[Answer, int]:
    """The evenly sampled frames, at the largest size the budget affords, seen by the VLM."""
    from .budget import uniform_allocation
    from .vlm_answer import answer_with_vlm

    allocation = uniform_allocation(times, settings.budget)
    shown = sum(len(f.times) for f in allocation.frames)
    if shown < len(times):
        notes.append(
            f"the budget of {settings.budget} visual tokens affords {shown} of "
            f"{len(times)} sampled frames; the VLM saw every {len(times) // max(1, shown)}th"
        )
    answer = answer_with_vlm(
        vlm, video, question, options, allocation, evidence, settings, notes, trace
    )
    return answer, int(trace[-1].get("visual_tokens", 0))
