"""Zoom: which text boxes in the key clips deserve a full-resolution look, and reading them
(a region given in 0..1 frame coordinates, cut out of a frame decoded large)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..answer import Evidence
from .budget import ZoomTarget
from .evidence import words

if TYPE_CHECKING:
    from .context import AgentContext
    from .state import QAState

# Crops are cut from frames decoded at most this large (a 4K frame's long side is 3840; 2160
# keeps small on-screen text legible at a quarter of the decoding cost).
CROP_SOURCE_SIDE = 2160


def crop_box(frame: np.ndarray, box: Sequence[float], min_side: int) -> np.ndarray:
    """The region ``box`` = (x0, y0, x1, y1), fractions of the frame, at least ``min_side``
    pixels each way (a box of a few pixels still gives a readable crop), kept inside the frame."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    left, top = min(int(x0 * w), max(0, w - min_side)), min(int(y0 * h), max(0, h - min_side))
    return frame[top : max(int(y1 * h), top + min_side), left : max(int(x1 * w), left + min_side)]


def read_crop(reader: Any, time: float, box: Sequence[float], min_side: int) -> np.ndarray:
    """Decode the frame at ``time`` from ``reader`` (a ``tools.video.VideoReader``) at
    :data:`CROP_SOURCE_SIDE` and cut ``box`` out of it."""
    frame = reader.frames_at([time], max_side=CROP_SOURCE_SIDE)[0]
    return crop_box(frame, box, min_side)


def zoom_targets(state: QAState, ctx: AgentContext) -> list[ZoomTarget]:
    """Regions inside key clips worth a full-resolution look: the boxes of matching text."""
    info = ctx.index.info
    query_words = set(words(state.question + " " + " ".join(state.options or [])))
    pad_width = ctx.options.zoom_pad_width * state.zoom_depth
    pad_height = ctx.options.zoom_pad_height * state.zoom_depth
    targets = []
    for rank, clip in enumerate(state.clips):
        for span in ctx.index.text_spans:
            if span.end < clip.start or span.start > clip.end:
                continue
            overlap = len(query_words & set(words(span.text)))
            # First look: text in the best two clips, or text that shares the question's words.
            if overlap == 0 and rank >= 2 * state.zoom_depth:
                continue
            x0, y0, x1, y1 = span.box
            # Widen the box: the line's neighbours often hold the answer (a prompt's output).
            pad_x, pad_y = pad_width * (x1 - x0), pad_height * (y1 - y0)
            box = (
                max(0.0, (x0 - pad_x) / info.width),
                max(0.0, (y0 - pad_y) / info.height),
                min(1.0, (x1 + pad_x) / info.width),
                min(1.0, (y1 + pad_y) / info.height),
            )
            # The last moment the line is visible: typed text is complete by then.
            t = max(min(span.end - 0.1, clip.end), clip.start, span.start)
            targets.append(
                ZoomTarget(t, box, f"text: {span.text[:40]}", (overlap + 0.5) / (1 + rank))
            )
    return targets


def read_crops(state: QAState, ctx: AgentContext) -> list[Evidence]:
    """Read the zoom crops at full resolution (small text a whole-frame pass misses)."""
    allocation = state.allocation
    ocr = ctx.models.get("ocr") if allocation and allocation.crops else None
    if ocr is None or allocation is None:
        return []
    from ..tools.video import open_video
    from .uniform import screen_lines

    found: list[Evidence] = []
    with open_video(ctx.video, ctx.settings.video_backend) as reader:
        for crop in allocation.crops:
            region = read_crop(reader, crop.time, crop.box, min_side=ctx.options.crop_min_side)
            for line in screen_lines(ocr.read(region)):
                found.append(Evidence(crop.time, crop.time, "text", line, 1.0))
    return found
