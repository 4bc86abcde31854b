"""Zoom crops: cutting a region given in 0..1 frame coordinates out of a decoded frame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
