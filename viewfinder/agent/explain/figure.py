"""The explanation as a matplotlib figure: relevance lanes, key clips, frames, evidence, crops.

matplotlib (the ``plot`` extra) is imported inside the functions that draw.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...answer import Answer
from ...errors import require
from ...text import clock
from .trace import (
    MODALITIES,
    Thumbnail,
    TraceView,
    crop_thumbnails,
    read_trace,
    recorded_question,
    relevance_curves,
    video_duration,
)

LANE_NAMES = {"speech": "speech", "text": "screen text", "visual": "visual"}
COLORS = {"speech": "#1f6fb4", "text": "#e07b00", "visual": "#2a9d3a"}
# Frame ticks: darker = sharper.
RESOLUTION_COLORS = ("#3f007d", "#807dba", "#bcbddc")
CROP_COLOR = "#d6267f"
CLIP_COLOR = "#f2c230"
# Thumbnail slots at least (fewer crops are centred, so one crop is not drawn huge).
THUMB_SLOTS = 4
# Inches between the time axis and the thumbnails (connecting lines and two title lines).
THUMB_GAP = 0.9
# Most evidence items given a text label on the timeline (all get a marker).
MAX_LABELS = 8


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

    duration = video_duration(answer, video_path, index)
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

    _title(fig, answer, question or recorded_question(answer), view)
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

