"""Spend a visual-token budget before the vision encoder: clips x frames x resolution, + zoom.

The encoder dominates a small VLM's cost (about 1.4 s per 512 px frame on 2 cores, against
0.4 s of language-model prefill for 256 tokens), so the budget is mostly spent by choosing
how many frames to encode at what size, not only by pruning tokens afterwards. The most
relevant clip gets the sharpest frames; context clips get fewer, smaller frames; regions that
matter (text boxes, CLIP hot spots) get a full-resolution crop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .state import Allocation, Crop, FramePlan, KeyClip

# Longest side of a frame given to the encoder, best first.
RESOLUTIONS = (512, 384, 256)
# A 16 px patch grid merged 4x4 (pixel shuffle, as SmolVLM / Idefics3 do): 512 px -> 64 tokens.
PATCH = 16
MERGE = 16


def tokens_for(side: int) -> int:
    """Visual tokens one square-ish frame of longest side ``side`` costs after merging."""
    return max(1, math.ceil(side / PATCH) ** 2 // MERGE)


@dataclass(frozen=True)
class BudgetOptions:
    """How the allocator splits a budget."""

    # Upper bound on frames taken from one clip (more are redundant within a shot).
    max_frames_per_clip: int = 8
    # Share of the budget kept for zoom crops when there are regions to zoom into.
    zoom_share: float = 0.25
    # Longest side of a zoom crop given to the encoder.
    zoom_side: int = 512
    # Sample lone frames at span centres instead of spreading frames over clips (ablation).
    frames_not_clips: bool = False


@dataclass(frozen=True)
class ZoomTarget:
    """A region worth a closer look: a frame time and a box in 0..1 image coordinates."""

    time: float
    box: tuple[float, float, float, float]
    reason: str
    score: float = 1.0


@dataclass
class _Share:
    clip: KeyClip
    index: int
    tokens: int = 0
    plans: list[FramePlan] = field(default_factory=list)


def allocate(
    clips: Sequence[KeyClip],
    budget: int,
    zoom: Sequence[ZoomTarget] = (),
    options: BudgetOptions | None = None,
) -> Allocation:
    """Split ``budget`` visual tokens between ``clips`` (best first) and zoom crops.

    The result never spends more than ``budget``; clips that cannot afford one frame at the
    smallest resolution are left out and listed in ``Allocation.dropped``.
    """
    options = options or BudgetOptions()
    if budget <= 0 or not clips:
        return Allocation(
            frames=[], crops=[], tokens=0, budget=max(0, budget), dropped=list(range(len(clips)))
        )
    crops: list[Crop] = []
    crop_cost = tokens_for(options.zoom_side)
    zoom_budget = int(budget * options.zoom_share) if zoom else 0
    for target in sorted(zoom, key=lambda z: -z.score):
        if zoom_budget < crop_cost:
            break
        crops.append(Crop(target.time, target.box, options.zoom_side, crop_cost, target.reason))
        zoom_budget -= crop_cost
    remaining = budget - sum(c.tokens for c in crops)

    # Only as many clips as can afford one smallest frame; the rest are dropped (best kept).
    affordable = remaining // tokens_for(RESOLUTIONS[-1])
    dropped: list[int] = list(range(affordable, len(clips)))
    clips = clips[:affordable]
    if not clips:
        return Allocation(
            frames=[],
            crops=crops,
            tokens=sum(c.tokens for c in crops),
            budget=budget,
            dropped=dropped,
        )
    # Relevance-weighted shares: the top clip gets the most, but every clip gets a say.
    weights = [max(c.score, 1e-6) ** 0.5 for c in clips]
    total_w = sum(weights)
    shares = [
        _Share(c, i, int(remaining * w / total_w))
        for i, (c, w) in enumerate(zip(clips, weights, strict=True))
    ]
    frames: list[FramePlan] = []
    leftover = remaining - sum(share.tokens for share in shares)  # rounding remainder
    for rank, share in enumerate(shares):
        tokens = share.tokens + leftover
        side = _side_for(rank, tokens)
        cost = tokens_for(side)
        if tokens < cost:
            dropped.append(share.index)
            leftover = tokens
            continue
        cap = 1 if options.frames_not_clips else options.max_frames_per_clip
        n = min(cap, tokens // cost, _useful_frames(share.clip))
        times = _times(share.clip, n, options.frames_not_clips)
        frames.append(FramePlan(share.index, times, side, cost * len(times)))
        leftover = tokens - cost * len(times)
    spent = sum(f.tokens for f in frames) + sum(c.tokens for c in crops)
    assert spent <= budget, (spent, budget)
    return Allocation(frames=frames, crops=crops, tokens=spent, budget=budget, dropped=dropped)


def _side_for(rank: int, tokens: int) -> int:
    """Best resolution for the clip at ``rank`` that still affords two frames."""
    preferred = RESOLUTIONS[min(rank, len(RESOLUTIONS) - 1)]
    for side in RESOLUTIONS:
        if side <= preferred and tokens >= 2 * tokens_for(side):
            return side
    return RESOLUTIONS[-1]


def _useful_frames(clip: KeyClip) -> int:
    """About one frame per second is as dense as a clip needs to be."""
    return max(1, math.ceil(clip.end - clip.start))


def _times(clip: KeyClip, n: int, at_peak: bool) -> list[float]:
    if at_peak or n == 1:
        return [round(clip.peak, 3)]
    step = (clip.end - clip.start) / n
    return [round(clip.start + step * (i + 0.5), 3) for i in range(n)]


def uniform_allocation(times: Sequence[float], budget: int) -> Allocation:
    """All of ``times`` as one clip at the largest size the budget affords (the baseline).

    When even the smallest size is too dear, frames are thinned evenly to fit.
    """
    times = list(times)
    for side in RESOLUTIONS:
        if len(times) * tokens_for(side) <= budget:
            break
    else:
        side = RESOLUTIONS[-1]
        keep = max(1, budget // tokens_for(side))
        step = len(times) / keep
        times = [times[int(i * step)] for i in range(keep)]
    plan = FramePlan(0, times, side, len(times) * tokens_for(side))
    return Allocation(frames=[plan], crops=[], tokens=plan.tokens, budget=budget)
