"""What the explanation shows, read from an answer: the trace's choices, relevance over time,
zoom crops cut from the video.

Nothing here draws: :mod:`.figure` turns these into a picture, :mod:`.page` into a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...answer import Answer

MODALITIES = ("speech", "text", "visual")
# Reciprocal-rank constant, as in indexes.fusion: a top hit scores 1 / (RRF_K + 1).
RRF_K = 60
# Hits asked of each index per sub-query when drawing relevance curves.
CURVE_HITS = 50
# Time bins of the relevance curves (fewer for short videos: at least 0.1 s each).
CURVE_BINS = 600
# Most crops shown as thumbnails (the best-ranked ones, in time order).
MAX_THUMBNAILS = 6


@dataclass(frozen=True)
class TraceView:
    """What the explanation needs from an answer's trace (the last look's choices)."""

    # Key clips, best first: (start, end, score, reason, modality scores).
    clips: list[tuple[float, float, float, str, dict[str, float]]] = field(default_factory=list)
    # Sampled frames: (time, longest side in pixels).
    frames: list[tuple[float, int]] = field(default_factory=list)
    # Zoom crops as traced: {"time", "box", "side", "tokens", "reason"}.
    crops: list[dict[str, Any]] = field(default_factory=list)
    # Modality -> sub-queries the agent searched with (plan + reflection).
    queries: dict[str, list[str]] = field(default_factory=dict)
    # Look-again rounds the trace records (1 = answered at the first look).
    steps: int = 1


@dataclass(frozen=True)
class Thumbnail:
    """A zoom crop cut from the decoded frame."""

    time: float  # seconds
    box: tuple[float, float, float, float]  # 0..1 (x0, y0, x1, y1) of the frame
    reason: str  # why the allocator zoomed there
    image: np.ndarray  # RGB uint8, (H, W, 3)


def read_trace(answer: Answer, duration: float | None = None) -> TraceView:
    """The last look's clips, frames and crops, and every sub-query, from ``answer.trace``.

    A uniform-strategy answer has no clips; its evenly sampled frames are rebuilt from usage.
    """
    clips_entry = _last(answer.trace, "select_clips", "clips")
    alloc_entry = _last(answer.trace, "allocate", "allocation")
    clips = []
    for raw in (clips_entry or {}).get("clips", []):
        item = dict(raw) if isinstance(raw, dict) else dict(enumerate(raw))
        start, end = float(item.get("start", item.get(0, 0.0))), float(item.get("end", item.get(1)))
        score = float(item.get("score", item.get(2, 0.0)))
        reason = str(item.get("reason", item.get(3, "")))
        scores = item.get("modality_scores", item.get(4)) or {}
        clips.append((start, end, score, reason, {k: float(v) for k, v in scores.items()}))
    allocation = (alloc_entry or {}).get("allocation") or {}
    frames = [
        (float(t), int(plan.get("side", 0)))
        for plan in allocation.get("frames", [])
        for t in plan.get("times", [])
    ]
    usage = answer.usage or {}
    if not frames and usage.get("strategy") == "uniform" and duration and usage.get("frames"):
        from ...tools.video import sample_times

        side = max(usage.get("frame_size") or [0])
        frames = [(t, int(side)) for t in sample_times(duration, int(usage["frames"]))]
    queries: dict[str, list[str]] = {}
    for entry in answer.trace:
        planned = (
            (entry.get("plan") or {}).get("queries", {})
            if entry.get("node") in ("plan", "replan")
            else {}
        )
        for modality, qs in planned.items():
            queries.setdefault(modality, []).extend(qs)
        for q in entry.get("extra_queries", []) if entry.get("node") == "reflect" else []:
            for modality in MODALITIES:
                queries.setdefault(modality, []).append(q)
    steps = 1 + sum(1 for e in answer.trace if e.get("node") == "reflect")
    return TraceView(
        clips=clips,
        frames=frames,
        crops=[dict(c) for c in allocation.get("crops", [])],
        queries={m: list(dict.fromkeys(qs)) for m, qs in queries.items()},
        steps=steps,
    )


def relevance_curves(
    answer: Answer,
    duration: float,
    index: Any = None,
    question: str | None = None,
    view: TraceView | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-modality relevance over time, each in 0..1.

    With ``index``: for every sub-query (the question, the plan's and reflection's queries) the
    reciprocal-rank score of each hit covers its time range; a bin keeps the best hit of each
    query and the queries add up, as fusion does. 1.0 = the top hit of every sub-query.
    Without: the answer's evidence (1.0 for the first item down to 0.5 for the last) and the
    key clips' modality scores when the trace has them, scaled to the best.

    Returns:
        ``(edges, curves)``: bin edges in seconds (n + 1) and modality -> n values. Modalities
        with no signal (an unavailable index, no evidence) are left out.
    """
    view = view or read_trace(answer, duration)
    n = max(1, min(CURVE_BINS, int(duration / 0.1)))
    edges = np.linspace(0.0, duration, n + 1)
    curves: dict[str, np.ndarray] = {}
    if index is not None:
        question = question or recorded_question(answer)
        available = getattr(index, "available", {}) or {}
        search = {
            "speech": getattr(index, "search_speech", None),
            "text": getattr(index, "search_text", None),
            "visual": getattr(index, "search_visual", None),
        }
        for modality in MODALITIES:
            if search[modality] is None or available.get(modality, "ok") != "ok":
                continue
            queries = list(dict.fromkeys([question, *view.queries.get(modality, [])]))
            total = np.zeros(n)
            for query in queries:
                best = np.zeros(n)
                for rank, hit in enumerate(search[modality](query, CURVE_HITS)):
                    _cover(best, edges, hit.start, hit.end, (RRF_K + 1) / (RRF_K + rank + 1))
                total += best
            if total.any():
                curves[modality] = total / len(queries)
        return edges, curves
    raw = {m: np.zeros(n) for m in MODALITIES}
    # Evidence scores mix scales (RRF of a clip, 1.0 for a zoom read), so rank decides:
    # the answer lists its best support first.
    for i, e in enumerate(answer.evidence):
        _cover(raw[e.modality], edges, e.start, e.end, 1.0 - 0.5 * i / len(answer.evidence))
    for start, end, _score, _reason, scores in view.clips:
        best = max(scores.values(), default=0.0) or 1.0
        for modality, s in scores.items():
            if modality in raw:
                _cover(raw[modality], edges, start, end, s / best)
    return edges, {m: v for m, v in raw.items() if v.any()}


def _cover(values: np.ndarray, edges: np.ndarray, start: float, end: float, score: float) -> None:
    """Raise every bin overlapping [start, end] to at least ``score`` (a point hits its bin)."""
    lo = max(0, int(np.searchsorted(edges, start, side="right")) - 1)
    hi = max(lo + 1, int(np.searchsorted(edges, end, side="left")))
    values[lo:hi] = np.maximum(values[lo:hi], score)


def crop_thumbnails(
    video_path: str | Path,
    crops: Sequence[dict[str, Any]],
    max_side: int = 360,
    limit: int = MAX_THUMBNAILS,
) -> list[Thumbnail]:
    """Cut each zoom crop from the full-resolution frame at its time.

    Args:
        video_path: The video.
        crops: Traced crops (``{"time", "box", "reason", ...}``), best first.
        max_side: Longest side of a returned thumbnail (crops are only ever shrunk).
        limit: Most thumbnails (the first ``limit`` crops), returned in time order.

    Returns:
        One :class:`Thumbnail` per crop kept.
    """
    chosen = sorted(list(crops)[:limit], key=lambda c: float(c["time"]))
    if not chosen:
        return []
    from PIL import Image

    from ...tools.video import open_video
    from ..zoom import crop_box

    with open_video(video_path) as reader:
        frames = reader.frames_at([float(c["time"]) for c in chosen], max_side=None)
    out = []
    for crop, frame in zip(chosen, frames, strict=True):
        x0, y0, x1, y1 = (float(v) for v in crop["box"])
        region = crop_box(frame, (x0, y0, x1, y1), min_side=8)
        image = Image.fromarray(np.ascontiguousarray(region))
        image.thumbnail((max_side, max_side))
        out.append(
            Thumbnail(
                float(crop["time"]),
                (x0, y0, x1, y1),
                str(crop.get("reason", "")),
                np.asarray(image),
            )
        )
    return out


def _last(trace: Sequence[dict[str, Any]], node: str, key: str) -> dict[str, Any] | None:
    return next((e for e in reversed(trace) if e.get("node") == node and key in e), None)


def recorded_question(answer: Answer) -> str:
    for entry in answer.trace:
        queries = (
            (entry.get("plan") or {}).get("queries", {})
            if entry.get("node") in ("plan", "replan")
            else {}
        )
        for qs in queries.values():
            if qs:
                return str(qs[0])
    return "(question not recorded)"


def video_duration(answer: Answer, video_path: str | Path, index: Any) -> float:
    video = (answer.usage or {}).get("video") or {}
    if video.get("duration"):
        return float(video["duration"])
    info = getattr(index, "info", None)
    if info is not None and getattr(info, "duration", 0):
        return float(info.duration)
    from ...tools.video import probe

    return float(probe(video_path).duration)
