"""``ask --explain out.png|out.html``: one picture of what the agent looked at and why.

A timeline of the whole video shows, per modality, how relevant each moment was to the question
(from the indexes' hits when the index is at hand, else from the answer's evidence), the key
clips the agent chose (shaded, numbered by rank), the frames it sampled (ticks coloured by
resolution), the final evidence (labelled markers) and the zoom crops (thumbnails of the real
frames, linked to their time). The HTML variant embeds that picture and adds the evidence table
and the step-by-step trace.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import ViewfinderError, require
from ..text import clock

logger = logging.getLogger(__name__)

MODALITIES = ("speech", "text", "visual")
LANE_NAMES = {"speech": "speech", "text": "screen text", "visual": "visual"}
COLORS = {"speech": "#1f6fb4", "text": "#e07b00", "visual": "#2a9d3a"}
# Frame ticks: darker = sharper.
RESOLUTION_COLORS = ("#3f007d", "#807dba", "#bcbddc")
CROP_COLOR = "#d6267f"
CLIP_COLOR = "#f2c230"
# Reciprocal-rank constant, as in indexes.fusion: a top hit scores 1 / (RRF_K + 1).
RRF_K = 60
# Hits asked of each index per sub-query when drawing relevance curves.
CURVE_HITS = 50
# Time bins of the relevance curves (fewer for short videos: at least 0.1 s each).
CURVE_BINS = 600
# Most crops shown as thumbnails (the best-ranked ones, in time order).
MAX_THUMBNAILS = 6
# Thumbnail slots at least (fewer crops are centred, so one crop is not drawn huge).
THUMB_SLOTS = 4
# Inches between the time axis and the thumbnails (connecting lines and two title lines).
THUMB_GAP = 0.9
# Most evidence items given a text label on the timeline (all get a marker).
MAX_LABELS = 8
SUFFIXES = (".png", ".html", ".htm")


class ExplainFormatError(ViewfinderError, ValueError):
    """The ``--explain`` output path has a suffix that is neither .png nor .html."""


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


def explain(
    answer: Answer,
    video_path: str | Path,
    out_path: str | Path,
    index: Any = None,
    question: str | None = None,
) -> Path:
    """Write a picture (``.png``) or a self-contained page (``.html``) explaining an answer.

    Args:
        answer: What :meth:`viewfinder.VideoQA.ask` returned (its trace, usage and evidence).
        video_path: The video the answer is about (zoom-crop thumbnails are decoded from it).
        out_path: Where to write; the suffix picks the format: ``.png`` or ``.html``/``.htm``.
        index: The video's :class:`~viewfinder.indexes.build.IndexHandle`; when given, the
            relevance curves come from its search hits for the question and sub-queries.
        question: The question (the plot title); defaults to the first planned query.

    Returns:
        ``out_path`` as a Path.

    Raises:
        ExplainFormatError: ``out_path`` ends in neither ``.png`` nor ``.html``.
        MissingDependencyError: matplotlib (the ``plot`` extra) is not installed.
        VideoError: ``video_path`` is not a readable video.
    """
    out = check_out_path(out_path)
    suffix = out.suffix.lower()
    fig = render_figure(answer, video_path, index=index, question=question)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        out.write_bytes(buffer.getvalue())
    else:
        page = render_html(answer, buffer.getvalue(), question or _question(answer))
        out.write_text(page, encoding="utf-8")
    logger.info("explanation written to %s", out)
    return out


def check_out_path(out_path: str | Path) -> Path:
    """``out_path`` as a Path if its suffix is one :func:`explain` writes (check before asking).

    Raises:
        ExplainFormatError: The suffix is neither ``.png`` nor ``.html``/``.htm``.
    """
    out = Path(out_path).expanduser()
    if out.suffix.lower() not in SUFFIXES:
        raise ExplainFormatError(
            f"Cannot write an explanation to {out}: unknown suffix {out.suffix or '(none)'!r}. "
            "Name the file with .png for a picture or .html for a page, e.g. --explain out.png"
        )
    return out


# --------------------------------------------------------------------------- data


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
        from ..tools.video import sample_times

        side = max(usage.get("frame_size") or [0])
        frames = [(t, int(side)) for t in sample_times(duration, int(usage["frames"]))]
    queries: dict[str, list[str]] = {}
    for entry in answer.trace:
        planned = (
            (entry.get("plan") or {}).get("queries", {}) if entry.get("node") == "plan" else {}
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
        question = question or _question(answer)
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

    from ..tools.video import open_video
    from .zoom import crop_box

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


# --------------------------------------------------------------------------- picture


def render_figure(
    answer: Answer, video_path: str | Path, index: Any = None, question: str | None = None
) -> Any:
    """The explanation as a matplotlib ``Figure`` (Agg canvas; nothing is shown or saved).

    The timeline axes are labelled ``"relevance"``, ``"frames"`` and ``"evidence"`` (see
    ``Axes.get_label``), the thumbnails ``"crop 0"``, ``"crop 1"``, ...
    """
    require("matplotlib", "plot", "Drawing the --explain picture")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    duration = _duration(answer, video_path, index)
    view = read_trace(answer, duration)
    edges, curves = relevance_curves(answer, duration, index, question, view)
    thumbs = crop_thumbnails(video_path, view.crops)

    # Row heights in inches, so the timeline keeps its size whatever the crops' shapes.
    width, header = 14.0, 1.35
    # Below the last row: the time axis' labels, or just a margin under the thumbnails.
    footer = 0.15 if thumbs else 0.6
    rows = [max(1.4, 0.95 * len(curves)), 0.5, 1.5]
    if thumbs:
        slot = width * 0.895 / max(len(thumbs), THUMB_SLOTS) * 0.88
        tallest = max(t.image.shape[0] / t.image.shape[1] for t in thumbs)
        thumb_height = min(2.8, max(0.4, slot * tallest))
        rows.append(thumb_height + THUMB_GAP)
    gaps = 0.12 * (len(rows) - 1)
    height = header + footer + sum(rows) + gaps
    fig = Figure(figsize=(width, height), dpi=100)
    grid = fig.add_gridspec(
        len(rows),
        1,
        height_ratios=rows,
        hspace=0.12 * len(rows) / sum(rows),
        left=0.09,
        right=0.985,
        top=1 - header / height,
        bottom=footer / height,
    )
    ax_rel = fig.add_subplot(grid[0], label="relevance")
    ax_frames = fig.add_subplot(grid[1], sharex=ax_rel, label="frames")
    ax_ev = fig.add_subplot(grid[2], sharex=ax_rel, label="evidence")
    timeline = (ax_rel, ax_frames, ax_ev)

    _title(fig, answer, question or _question(answer), view)
    _draw_curves(ax_rel, edges, curves, index is not None)
    _draw_clips(timeline, view, duration)
    _draw_frames(ax_frames, view)
    _draw_evidence(ax_ev, answer, duration)
    for ax in timeline:
        ax.set_xlim(0, duration)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    _time_axis(ax_ev, duration)
    for ax in (ax_rel, ax_frames):
        ax.tick_params(axis="x", labelbottom=False)

    legend = []
    if view.clips:
        legend.append(Patch(color=CLIP_COLOR, alpha=0.45, label="key clip (#rank)"))
    for i, side in enumerate(sorted({s for _, s in view.frames}, reverse=True)):
        color = RESOLUTION_COLORS[min(i, len(RESOLUTION_COLORS) - 1)]
        legend.append(Line2D([], [], color=color, lw=2.5, label=f"frame {side}px"))
    if view.crops:
        legend.append(Line2D([], [], color=CROP_COLOR, marker="v", lw=0, label="zoom crop"))
    shown = {e.modality for e in answer.evidence}
    for modality, marker, name in (("speech", "o", "said"), ("text", "s", "on screen")):
        if modality in shown:
            legend.append(Line2D([], [], color=COLORS[modality], marker=marker, lw=0, label=name))
    if legend:
        fig.legend(
            handles=legend,
            loc="lower left",
            ncol=len(legend),
            fontsize=9,
            frameon=False,
            bbox_to_anchor=(0.085, 1 - (header - 0.3) / height),
            handlelength=1.6,
            columnspacing=1.4,
        )

    if thumbs:
        _draw_thumbnails(fig, grid[3], thumbs, timeline, thumb_height)
    return fig


def _title(fig: Any, answer: Answer, question: str, view: TraceView) -> None:
    height = fig.get_figheight()
    q = textwrap.shorten(question, 140, placeholder=" ...")
    a = answer.text if answer.choice is None else f"({answer.choice}) {answer.text}"
    a = textwrap.shorten(a, 90, placeholder=" ...")
    fig.text(0.01, 1 - 0.12 / height, f"Q: {q}", fontsize=13, fontweight="bold", va="top")
    fig.text(
        0.01,
        1 - 0.5 / height,
        f"A: {a}   (confidence {answer.confidence:.0%})",
        fontsize=12.5,
        va="top",
        color="#1a4d1a",
        fontweight="bold",
    )
    usage = answer.usage or {}
    extra = []
    if usage.get("strategy"):
        extra.append(f"strategy: {usage['strategy']}")
    extra.append(f"{view.steps} look{'s' if view.steps > 1 else ''}")
    if usage.get("budget"):
        extra.append(f"{usage.get('visual_tokens_planned', 0)}/{usage['budget']} visual tokens")
    fig.text(
        0.99,
        1 - 0.92 / height,
        "  |  ".join(extra),
        fontsize=10.5,
        va="center",
        ha="right",
        color="#444444",
    )


def _draw_curves(ax: Any, edges: np.ndarray, curves: dict[str, np.ndarray], hits: bool) -> None:
    """One lane per modality: a filled step curve, lane name on the left."""
    lanes = [m for m in MODALITIES if m in curves] or ["speech"]
    for i, modality in enumerate(reversed(lanes)):
        base = i * 1.25
        values = curves.get(modality, np.zeros(len(edges) - 1))
        ys = base + np.append(values, values[-1])
        ax.fill_between(edges, base, ys, step="post", color=COLORS[modality], alpha=0.35, lw=0)
        ax.step(edges, ys, where="post", color=COLORS[modality], lw=1.2)
        ax.axhline(base, color="#bbbbbb", lw=0.6)
        ax.text(
            -0.01,
            base + 0.5,
            LANE_NAMES[modality],
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=10,
            color=COLORS[modality],
            fontweight="bold",
        )
    ax.set_ylim(-0.05, len(lanes) * 1.25)
    ax.set_yticks([])
    source = "index hits for the question and sub-queries" if hits else "the answer's evidence"
    if not curves:
        source = "no relevance signal recorded"
    ax.set_title(f"relevance over time ({source})", fontsize=9.5, loc="left", color="#555555")


def _draw_clips(axes: Sequence[Any], view: TraceView, duration: float) -> None:
    """Shaded bands through the whole timeline, numbered by rank (``*`` = a neighbour)."""
    top = axes[0]
    per_char = _seconds_per_char(top, duration, 7.5)
    rows: list[float] = []  # right edge (seconds) of the last label on each row
    ranked = sorted(enumerate(view.clips, 1), key=lambda rc: rc[1][0] + rc[1][1])
    for rank, (start, end, _score, reason, _scores) in ranked:
        for ax in axes:
            ax.axvspan(start, end, color=CLIP_COLOR, alpha=0.25, lw=0, zorder=0)
        # A visible tab even for a clip a few seconds long in an hour of video.
        centre, half = (start + end) / 2, max(end - start, 0.004 * duration) / 2
        top.axvspan(centre - half, centre + half, ymin=0.97, ymax=1.0, color=CLIP_COLOR, lw=0)
        label = f"#{rank}" + ("" if reason in ("", "retrieved") else "*")
        width = (len(label) + 1) * per_char
        left = centre - width / 2
        row = _free_row(rows, left, left + width)
        top.text(
            centre,
            0.955 - 0.075 * row,
            label,
            transform=top.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=10,
            fontweight="bold",
            color="#7a5c00",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )


def _free_row(rows: list[float], left: float, right: float) -> int:
    """The first label row whose last label ends before ``left`` (a new row if none)."""
    row = next((i for i, edge in enumerate(rows) if left > edge), len(rows))
    if row == len(rows):
        rows.append(right)
    rows[row] = right
    return row


def _seconds_per_char(ax: Any, duration: float, px_per_char: float) -> float:
    """Seconds of timeline one character of a label covers (for placing labels apart)."""
    fig = ax.get_figure()
    width_px = fig.get_figwidth() * fig.dpi * ax.get_position().width
    return duration * px_per_char / max(width_px, 1.0)


def _draw_frames(ax: Any, view: TraceView) -> None:
    sides = sorted({s for _, s in view.frames}, reverse=True)
    for t, side in view.frames:
        color = RESOLUTION_COLORS[min(sides.index(side), len(RESOLUTION_COLORS) - 1)]
        ax.vlines(t, 0.08, 0.92, color=color, lw=2.2)
    for crop in view.crops:
        ax.plot(float(crop["time"]), 1.0, marker="v", color=CROP_COLOR, ms=9, clip_on=False)
    ax.set_ylim(0, 1.1)
    ax.set_yticks([])
    ax.text(
        -0.01,
        0.5,
        "frames",
        transform=ax.get_yaxis_transform(),
        ha="right",
        va="center",
        fontsize=10,
        color="#3f007d",
        fontweight="bold",
    )


def _draw_evidence(ax: Any, answer: Answer, duration: float) -> None:
    """One row of spans per modality; the first items get labels on rows that do not overlap."""
    present = [m for m in MODALITIES if any(e.modality == m for e in answer.evidence)]
    base = {m: -0.45 * i for i, m in enumerate(present)}
    markers = {"speech": "o", "text": "s", "visual": "^"}
    for e in answer.evidence:
        color, y = COLORS.get(e.modality, "#555555"), base[e.modality]
        if e.end > e.start:
            ax.hlines(y, e.start, e.end, color=color, lw=3, alpha=0.45)
        ax.plot(e.start, y, marker=markers.get(e.modality, "o"), color=color, ms=6.5)
    seconds_per_char = _seconds_per_char(ax, duration, 6.0)  # about 6 px per 8.5 pt character
    rows: list[float] = []  # right edge (seconds) of the last label on each row
    for e in sorted(answer.evidence[:MAX_LABELS], key=lambda e: e.start):
        label = textwrap.shorten(" ".join(e.text.split()), 36, placeholder="...")
        if not label:
            continue
        width = (len(label) + 3) * seconds_per_char
        left = max(0.0, min(e.start, duration - width))
        row = _free_row(rows, left, left + width)
        y = 0.75 + 0.7 * row
        color = COLORS.get(e.modality, "#555555")
        ax.plot([e.start, e.start], [base[e.modality], y - 0.2], color=color, lw=0.7, alpha=0.8)
        ax.text(
            left,
            y,
            f'"{label}"',
            fontsize=8.5,
            color=color,
            va="center",
            ha="left",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "lw": 0.6},
        )
    lowest = min(base.values(), default=0.0)
    ax.set_ylim(lowest - 0.35, 0.75 + 0.7 * max(2, len(rows)) - 0.2)
    ax.set_yticks([])
    ax.text(
        -0.01,
        0.5,
        "evidence",
        transform=ax.transAxes,
        ha="right",
        va="center",
        fontsize=10,
        color="#333333",
        fontweight="bold",
    )
    if not answer.evidence:
        ax.text(
            0.5, 0.5, "no evidence returned", transform=ax.transAxes, ha="center", color="#888888"
        )


def _draw_thumbnails(
    fig: Any, cell: Any, thumbs: list[Thumbnail], timeline: Sequence[Any], height: float
) -> None:
    """Crops in a row under the timeline, each linked to its time by a dashed line."""
    from matplotlib.text import Annotation

    slots = max(len(thumbs), THUMB_SLOTS)
    # Half-slot columns, so an odd number of empty slots still centres the row.
    inner = cell.subgridspec(
        2, 2 * slots, wspace=0.24, height_ratios=[THUMB_GAP, height], hspace=0.0
    )
    offset = slots - len(thumbs)
    bottom = timeline[-1]
    for ax in timeline[1:]:
        for thumb in thumbs:
            ax.axvline(thumb.time, color=CROP_COLOR, lw=0.9, ls="--", alpha=0.7, zorder=1)
    for i, thumb in enumerate(thumbs):
        ax = fig.add_subplot(inner[1, offset + 2 * i : offset + 2 * i + 2], label=f"crop {i}")
        ax.imshow(thumb.image)
        ax.set_anchor("N")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(CROP_COLOR)
            spine.set_linewidth(2)
        chars = int(fig.get_figwidth() * fig.dpi * 0.85 / (slots * 6.0))
        reason = textwrap.shorten(thumb.reason, max(chars, 12), placeholder="...")
        ax.set_title(
            f"zoom @ {clock(thumb.time, precise=True)}\n{reason}",
            fontsize=8.5,
            color=CROP_COLOR,
            pad=3,
        )
        # An empty annotation draws a line from the title's top to the time on the axis.
        fig.add_artist(
            Annotation(
                "",
                xy=(thumb.time, 0.0),
                xycoords=bottom.get_xaxis_transform(),
                xytext=(0.5, 1.0),
                textcoords=ax.title,
                annotation_clip=False,
                arrowprops={
                    "arrowstyle": "-",
                    "color": CROP_COLOR,
                    "lw": 0.9,
                    "alpha": 0.7,
                    "linestyle": "--",
                    "shrinkA": 1,
                    "shrinkB": 0,
                },
            )
        )


def _time_axis(ax: Any, duration: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter

    step = next(
        (
            s
            for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
            if duration / s <= 14
        ),
        7200,
    )
    ax.xaxis.set_major_locator(FixedLocator(np.arange(0.0, duration + 1e-9, step)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _pos: clock(t, precise=step < 1)))
    ax.set_xlabel("video time (mm:ss)", fontsize=9.5)


# --------------------------------------------------------------------------- page


def render_html(answer: Answer, png: bytes, question: str) -> str:
    """A self-contained page: the picture (base64), the evidence table, usage and the trace."""
    esc = html.escape
    rows = (
        "\n".join(
            f"<tr><td>{clock(e.start, True)}-{clock(e.end, True)}</td>"
            f'<td class="{esc(e.modality)}">{esc(e.modality)}</td><td>{esc(e.text)}</td>'
            f"<td>{e.score:.3f}</td></tr>"
            for e in answer.evidence
        )
        or '<tr><td colspan="4">no evidence returned</td></tr>'
    )
    steps = "\n".join(
        f"<details><summary>{i + 1}. {esc(str(entry.get('node', entry.get('step', '?'))))}"
        f"{_seconds(entry)}</summary><pre>{esc(json.dumps(entry, indent=2, default=str))}</pre>"
        "</details>"
        for i, entry in enumerate(answer.trace)
    )
    answer_text = answer.text if answer.choice is None else f"({answer.choice}) {answer.text}"
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>viewfinder: {esc(question)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
td.speech {{ color: {COLORS["speech"]}; }} td.text {{ color: {COLORS["text"]}; }}
td.visual {{ color: {COLORS["visual"]}; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
summary {{ cursor: pointer; }}
</style></head><body>
<h1>Q: {esc(question)}</h1>
<h2>A: {esc(answer_text)} <small>(confidence {answer.confidence:.0%})</small></h2>
<img alt="timeline of the video with relevance, key clips, frames, evidence and zoom crops"
 src="data:image/png;base64,{image}">
<h2>Evidence</h2>
<table><tr><th>time</th><th>modality</th><th>text</th><th>score</th></tr>
{rows}
</table>
<h2>Notes</h2><ul>{"".join(f"<li>{esc(n)}</li>" for n in answer.notes) or "<li>none</li>"}</ul>
<details><summary>usage</summary><pre>{esc(json.dumps(answer.usage, indent=2, default=str))}</pre>
</details>
<h2>Trace</h2>
{steps or "<p>no trace recorded</p>"}
</body></html>
"""


def _seconds(entry: dict[str, Any]) -> str:
    s = entry.get("seconds")
    return f" ({s:.2f} s)" if isinstance(s, int | float) else ""


# --------------------------------------------------------------------------- helpers


def _last(trace: Sequence[dict[str, Any]], node: str, key: str) -> dict[str, Any] | None:
    return next((e for e in reversed(trace) if e.get("node") == node and key in e), None)


def _question(answer: Answer) -> str:
    for entry in answer.trace:
        queries = (
            (entry.get("plan") or {}).get("queries", {}) if entry.get("node") == "plan" else {}
        )
        for qs in queries.values():
            if qs:
                return str(qs[0])
    return "(question not recorded)"


def _duration(answer: Answer, video_path: str | Path, index: Any) -> float:
    video = (answer.usage or {}).get("video") or {}
    if video.get("duration"):
        return float(video["duration"])
    info = getattr(index, "info", None)
    if info is not None and getattr(info, "duration", 0):
        return float(info.duration)
    from ..tools.video import probe

    return float(probe(video_path).duration)


__all__ = [
    "ExplainFormatError",
    "check_out_path",
    "Thumbnail",
    "TraceView",
    "crop_thumbnails",
    "explain",
    "read_trace",
    "relevance_curves",
    "render_figure",
    "render_html",
]
