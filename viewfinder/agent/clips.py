"""Key clips: fused spans grown into shot-bounded clips, diverse in time, with neighbours."""

from __future__ import annotations

from typing import Any

from ..indexes.fusion import Span
from .state import KeyClip

# A span is skipped when more than this fraction of the shorter clip overlaps one already chosen.
MAX_OVERLAP = 0.5
# A shot this close (seconds) to a clip's edge is its neighbour.
NEIGHBOUR_GAP = 0.5
# Neighbours are added around this many of the best clips only.
NEIGHBOURED_CLIPS = 2


def strong_match(span: Span, threshold: float) -> float:
    """The best option-match score inside ``span`` if it is at least ``threshold``, else 0."""
    scores = [h.score for h in span.hits if h.source == "option:match"]
    best = max(scores, default=0.0)
    return best if best >= threshold else 0.0


def choose_clips(
    spans: list[Span],
    shots: list[Any],
    duration: float,
    want: int,
    min_seconds: float,
    max_seconds: float,
) -> list[KeyClip]:
    """Relevance x coverage x diversity: best spans first, grown to a shot, no overlaps."""
    chosen: list[KeyClip] = []
    for span in spans:
        peak = span.hits[0].start if span.hits else span.center
        start, end = grow(span, shots, duration, min_seconds, max_seconds)
        if any(
            overlap(start, end, c.start, c.end) > MAX_OVERLAP * min(end - start, c.end - c.start)
            for c in chosen
        ):
            continue
        chosen.append(KeyClip(start, end, span.score, peak, dict(span.modality_scores)))
        if len(chosen) >= want:
            break
    return chosen


def grow(
    span: Span, shots: list[Any], duration: float, min_s: float, max_s: float
) -> tuple[float, float]:
    """The shot containing the span when it is short enough, else a window around it."""
    centre = span.center
    for shot in shots:
        if shot.start <= centre <= shot.end and shot.end - shot.start <= max_s:
            start, end = min(shot.start, span.start), max(shot.end, span.end)
            break
    else:
        start, end = span.start, span.end
    if end - start < min_s:
        pad = (min_s - (end - start)) / 2
        start, end = start - pad, end + pad
    if end - start > max_s:
        start, end = centre - max_s / 2, centre + max_s / 2
    start, end = max(0.0, start), min(duration, end)
    return round(start, 3), round(max(end, start + 0.04), 3)


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds the intervals [a0, a1] and [b0, b1] share."""
    return max(0.0, min(a1, b1) - max(a0, b0))


def with_neighbours(
    clips: list[KeyClip], shots: list[Any], limit: int, score: float
) -> list[KeyClip]:
    """Add the shots just before and after the best clips (the answer may sit next door),
    each scoring ``score`` times the clip it borders."""
    out = list(clips)
    for clip in clips[:NEIGHBOURED_CLIPS]:
        for shot in shots:
            before = abs(shot.end - clip.start) < NEIGHBOUR_GAP
            after = abs(shot.start - clip.end) < NEIGHBOUR_GAP
            if (before or after) and not any(
                overlap(shot.start, shot.end, c.start, c.end) > 0 for c in out
            ):
                out.append(
                    KeyClip(
                        shot.start,
                        shot.end,
                        clip.score * score,
                        (shot.start + shot.end) / 2,
                        {},
                        f"neighbour of {clip.start:.0f}-{clip.end:.0f}s",
                    )
                )
    return out[:limit]
