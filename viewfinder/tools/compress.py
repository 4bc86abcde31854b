"""Visual-token compressors: keep exactly ``budget`` of a VLM's visual tokens.

They run between the vision encoder (+ projector) and the language model. Each is a pure torch
function of the projected tokens (and, for ``attention``, the encoder's per-token importance),
so it can be tested alone. Every compressor

* keeps exactly ``min(budget, total tokens)`` tokens (never more);
* keeps at least one token per image (a budget below the number of images raises
  :class:`~viewfinder.errors.BudgetError` instead of dropping images);
* returns kept tokens in the original image order and, within an image, in raster order, with
  the original token index each kept token stands at (so position ids can be rebuilt).

Methods (seeds in ``BENCHMARKS.md``):

``pool``       spatial average pooling of each image's grid to its share (baseline).
``diversity``  greedy max-min diversity selection over a clip's tokens (DivPrune).
``attention``  tokens the vision encoder attends to most (FasterVLM / VTC-CLS; for encoders
               without a CLS token, the mean attention each token receives).
``temporal``   tokens that differ from the same place in the previous frame are kept, near
               duplicates are averaged into their most similar kept token (HoliTom / STC).

The budget is first split between clips (by token count), so one long clip cannot starve
another; inside a clip the ranking compressors choose freely across frames, after reserving
each frame's best token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import BudgetError, UnknownCompressorError, require


@dataclass(frozen=True)
class VisualTokens:
    """The projected visual tokens of a set of images, as the language model would see them."""

    # One [tokens_i, dim] float tensor per image, tokens in raster order.
    features: Sequence[object]
    # (rows, cols) of each image's token grid; rows * cols == tokens_i.
    grids: Sequence[tuple[int, int]]
    # Clip index of each image (images of one clip are consecutive frames of one shot).
    clip_of: Sequence[int]
    # Optional [tokens_i] importance per image from the encoder's attention (higher = keep).
    importance: Sequence[object] | None = None

    def __post_init__(self) -> None:
        if not (len(self.features) == len(self.grids) == len(self.clip_of)):
            raise ValueError("features, grids and clip_of must have one entry per image")
        for f, (rows, cols) in zip(self.features, self.grids, strict=True):
            if f.shape[0] != rows * cols:
                raise ValueError(f"an image has {f.shape[0]} tokens but a {rows}x{cols} grid")

    @property
    def total(self) -> int:
        """Number of visual tokens before compression."""
        return sum(int(f.shape[0]) for f in self.features)


@dataclass(frozen=True)
class Compressed:
    """What a compressor kept."""

    # One [kept_i, dim] tensor per image (same image order as the input).
    features: list
    # One LongTensor [kept_i] per image: original raster index each kept token stands at,
    # strictly increasing (pooled cells report the token at their centre).
    index: list
    # Name of the compressor that produced this.
    method: str

    @property
    def kept(self) -> int:
        """Exact number of visual tokens kept."""
        return sum(int(f.shape[0]) for f in self.features)

    @property
    def per_image(self) -> list[int]:
        """Tokens kept per image."""
        return [int(f.shape[0]) for f in self.features]


def _torch():  # noqa: ANN202 - returns the torch module
    return require("torch", "vlm", "Visual-token compression")


# --------------------------------------------------------------------------- budget split


def split_budget(sizes: Sequence[int], budget: int) -> list[int]:
    """Split ``budget`` over groups of ``sizes`` tokens: proportional, >= 1 each, exact sum.

    Raises:
        BudgetError: if ``budget`` is smaller than the number of groups.
    """
    n = len(sizes)
    total = sum(sizes)
    if budget >= total:
        return list(sizes)
    if budget < n:
        raise BudgetError(
            f"A budget of {budget} visual tokens cannot show {n} images (each needs at least one "
            f"token). Raise the budget to >= {n} or pass fewer frames/crops."
        )
    # One token each, then the rest by largest remainder, capped at each group's size.
    shares = [1] * n
    rest = budget - n
    room = [s - 1 for s in sizes]
    while rest > 0:
        room_total = sum(room)
        quotas = [rest * r / room_total if room_total else 0.0 for r in room]
        add = [min(int(q), r) for q, r in zip(quotas, room, strict=True)]
        if sum(add) == 0:  # hand out single tokens by largest remainder
            order = sorted(range(n), key=lambda i: (-(quotas[i] - int(quotas[i])), i))
            for i in order:
                if rest == 0:
                    break
                if room[i] > 0:
                    shares[i] += 1
                    room[i] -= 1
                    rest -= 1
            continue
        for i, a in enumerate(add):
            shares[i] += a
            room[i] -= a
            rest -= a
    return shares


# --------------------------------------------------------------------------- compressors


def pool_image(x, grid: tuple[int, int], k: int):  # noqa: ANN001, ANN201 - torch tensors
    """Average-pool one image's [rows*cols, dim] tokens to exactly ``k`` cells in raster order.

    Rows of cells are adaptive bands of the grid; band ``r`` holds ``ceil`` or ``floor`` of
    ``k / bands`` cells, so the count is exact for any ``k``. Returns (features, centre index).
    """
    torch = _torch()
    rows, cols = grid
    n = rows * cols
    if k >= n:
        return x, torch.arange(n)
    bands = max(1, min(rows, k, round((k * rows / cols) ** 0.5)))
    per_band = [k // bands + (1 if r < k % bands else 0) for r in range(bands)]
    if max(per_band) > cols:  # a very wide budget: use more bands
        bands = min(rows, -(-k // cols))
        per_band = [k // bands + (1 if r < k % bands else 0) for r in range(bands)]
    grid_x = x.reshape(rows, cols, -1)
    feats, centres = [], []
    for r, cells in enumerate(per_band):
        top, bottom = (r * rows) // bands, -(-((r + 1) * rows) // bands)
        band = grid_x[top:bottom].mean(dim=0)  # [cols, dim]
        pooled = torch.nn.functional.adaptive_avg_pool1d(band.T.unsqueeze(0), cells)[0].T
        feats.append(pooled)
        centre_row = (top + bottom - 1) // 2
        for c in range(cells):
            left, right = (c * cols) // cells, -(-((c + 1) * cols) // cells)
            centres.append(centre_row * cols + (left + right - 1) // 2)
    return torch.cat(feats), torch.tensor(centres, dtype=torch.long)


def _offsets(sizes: Sequence[int]) -> list[int]:
    out, acc = [], 0
    for s in sizes:
        out.append(acc)
        acc += s
    return out


def _select_with_floor(seed_score, sizes: Sequence[int], k: int, rank: Callable) -> object:
    """Reserve each image's best token by ``seed_score``, then let ``rank`` pick the rest.

    ``rank(selected_mask, extra)`` returns a LongTensor of ``extra`` more flat indices.
    """
    torch = _torch()
    starts = _offsets(sizes)
    seeds = torch.tensor(
        [s + int(seed_score[s : s + n].argmax()) for s, n in zip(starts, sizes, strict=True)],
        dtype=torch.long,
    )
    mask = torch.zeros(sum(sizes), dtype=torch.bool)
    mask[seeds] = True
    extra = k - len(sizes)
    if extra > 0:
        mask[rank(mask, extra)] = True
    return mask


def _rank_by_score(score):  # noqa: ANN001, ANN202
    def rank(mask, extra):  # noqa: ANN001, ANN202
        s = score.clone()
        s[mask] = float("-inf")
        return s.topk(extra).indices

    return rank


def _diversity_mask(x, sizes: Sequence[int], k: int):  # noqa: ANN001, ANN202
    """Greedy max-min (farthest point) selection under cosine distance, one seed per image."""
    torch = _torch()
    z = torch.nn.functional.normalize(x.float(), dim=-1)
    # Seed: per image, the token least like the clip's mean (its most distinctive token).
    seed_score = 1.0 - z @ torch.nn.functional.normalize(z.mean(0), dim=0)

    def rank(mask, extra):  # noqa: ANN001, ANN202
        min_dist = (1.0 - z @ z[mask].T).amin(dim=1)
        min_dist[mask] = float("-inf")
        picked = []
        for _ in range(extra):
            i = int(min_dist.argmax())
            picked.append(i)
            min_dist = torch.minimum(min_dist, 1.0 - z @ z[i])
            min_dist[i] = float("-inf")
        return torch.tensor(picked, dtype=torch.long)

    return _select_with_floor(seed_score, sizes, k, rank)


def _temporal_novelty(x, sizes: Sequence[int], grids: Sequence[tuple[int, int]]):  # noqa: ANN001, ANN202
    """1 - cosine similarity to the same grid cell in the previous frame (first frame: 2)."""
    torch = _torch()
    z = torch.nn.functional.normalize(x.float(), dim=-1)
    starts = _offsets(sizes)
    novelty = torch.full((x.shape[0],), 2.0)
    for i in range(1, len(sizes)):
        if grids[i] != grids[i - 1]:
            continue  # a crop or a new resolution: nothing to compare with, all novel
        a = z[starts[i - 1] : starts[i - 1] + sizes[i - 1]]
        b = z[starts[i] : starts[i] + sizes[i]]
        novelty[starts[i] : starts[i] + sizes[i]] = 1.0 - (a * b).sum(-1)
    return novelty


def _merge_into_kept(x, mask):  # noqa: ANN001, ANN202
    """Average every dropped token into its most similar kept token (weights = merged count)."""
    torch = _torch()
    kept_idx = mask.nonzero().squeeze(1)
    dropped_idx = (~mask).nonzero().squeeze(1)
    merged = x[kept_idx].clone().float()
    if dropped_idx.numel() == 0:
        return merged.to(x.dtype)
    z = torch.nn.functional.normalize(x.float(), dim=-1)
    target = (z[dropped_idx] @ z[kept_idx].T).argmax(dim=1)
    counts = torch.ones(len(kept_idx))
    merged.index_add_(0, target, x[dropped_idx].float())
    counts.index_add_(0, target, torch.ones(len(dropped_idx)))
    return (merged / counts[:, None]).to(x.dtype)


def _compress_clip(method: str, feats: list, grids: list, importance: list | None, k: int):  # noqa: ANN202
    """Compress one clip's images to exactly ``k`` tokens; returns (features, index) per image."""
    torch = _torch()
    sizes = [int(f.shape[0]) for f in feats]
    if k >= sum(sizes):
        return feats, [torch.arange(n) for n in sizes]
    if method == "pool":
        out = [
            pool_image(f, g, q)
            for f, g, q in zip(feats, grids, split_budget(sizes, k), strict=True)
        ]
        return [o[0] for o in out], [o[1] for o in out]
    x = torch.cat(feats)
    merged = None
    if method == "diversity":
        mask = _diversity_mask(x, sizes, k)
    elif method == "attention":
        score = torch.cat([imp.float().reshape(-1) for imp in importance])
        mask = _select_with_floor(score, sizes, k, _rank_by_score(score))
    else:  # temporal
        novelty = _temporal_novelty(x, sizes, grids)
        mask = _select_with_floor(novelty, sizes, k, _rank_by_score(novelty))
        merged = _merge_into_kept(x, mask)
    kept_all = x[mask] if merged is None else merged
    out_f, out_i, at = [], [], 0
    for start, n in zip(_offsets(sizes), sizes, strict=True):
        m = mask[start : start + n]
        count = int(m.sum())
        out_f.append(kept_all[at : at + count])
        out_i.append(m.nonzero().squeeze(1))
        at += count
    return out_f, out_i


COMPRESSORS = ("pool", "diversity", "attention", "temporal")


def compress(tokens: VisualTokens, budget: int, method: str = "diversity") -> Compressed:
    """Keep exactly ``min(budget, tokens.total)`` visual tokens with compressor ``method``.

    Args:
        tokens: the projected visual tokens, grouped by image and clip.
        budget: number of visual tokens the language model may see.
        method: one of :data:`COMPRESSORS`.

    Raises:
        UnknownCompressorError: ``method`` is not a known compressor (the message lists them).
        BudgetError: ``budget`` is smaller than the number of images.
    """
    if method not in COMPRESSORS:
        raise UnknownCompressorError(
            f"Unknown visual-token compressor {method!r}; valid names are {list(COMPRESSORS)}."
        )
    if method == "attention" and tokens.importance is None:
        raise ValueError("the 'attention' compressor needs the encoder's token importance")
    n_images = len(tokens.features)
    if budget < n_images:
        raise BudgetError(
            f"A budget of {budget} visual tokens cannot show {n_images} images (each needs at "
            f"least one token). Raise the budget to >= {n_images} or pass fewer frames/crops."
        )
    clips: dict[int, list[int]] = {}
    for i, c in enumerate(tokens.clip_of):
        clips.setdefault(c, []).append(i)
    clip_ids = list(clips)
    clip_sizes = [sum(int(tokens.features[i].shape[0]) for i in clips[c]) for c in clip_ids]
    # Every clip needs one token per image before sharing the rest by size.
    floors = [len(clips[c]) for c in clip_ids]
    extra = (
        split_budget(
            [s - f + 1 for s, f in zip(clip_sizes, floors, strict=True)],
            budget - n_images + len(clip_ids),
        )
        if budget < tokens.total
        else None
    )
    features: list = [None] * n_images
    index: list = [None] * n_images
    for ci, c in enumerate(clip_ids):
        members = clips[c]
        k = clip_sizes[ci] if extra is None else extra[ci] - 1 + floors[ci]
        imp = None if tokens.importance is None else [tokens.importance[i] for i in members]
        f_out, i_out = _compress_clip(
            method,
            [tokens.features[i] for i in members],
            [tokens.grids[i] for i in members],
            imp,
            k,
        )
        for i, f, idx in zip(members, f_out, i_out, strict=True):
            features[i], index[i] = f, idx
    return Compressed(features, index, method)


__all__ = ["COMPRESSORS", "Compressed", "VisualTokens", "compress", "pool_image", "split_budget"]
