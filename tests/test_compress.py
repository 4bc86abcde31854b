"""Visual-token compressors as pure torch functions: exact budgets, order, what each keeps."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from viewfinder.errors import BudgetError, UnknownCompressorError  # noqa: E402
from viewfinder.tools.compress import (  # noqa: E402
    COMPRESSORS,
    VisualTokens,
    compress,
    pool_image,
    split_budget,
)


def _tokens(
    frames: int = 6, grid: tuple[int, int] = (8, 8), dim: int = 16, clips: int = 2
) -> VisualTokens:
    g = torch.Generator().manual_seed(0)
    n = grid[0] * grid[1]
    feats = [torch.randn(n, dim, generator=g) for _ in range(frames)]
    imp = [torch.rand(n, generator=g) for _ in range(frames)]
    return VisualTokens(feats, [grid] * frames, [i * clips // frames for i in range(frames)], imp)


@pytest.mark.parametrize("method", COMPRESSORS)
@pytest.mark.parametrize("budget", [6, 7, 50, 191, 383, 384, 5000])
def test_budget_exact_every_image_kept_order_preserved(method: str, budget: int) -> None:
    """Exactly min(budget, total) tokens, >= 1 per image, strictly increasing indices."""
    tokens = _tokens()
    out = compress(tokens, budget, method)
    assert out.kept == min(budget, tokens.total)
    assert min(out.per_image) >= 1
    for idx, feat in zip(out.index, out.features, strict=True):
        assert idx.shape[0] == feat.shape[0]
        assert bool((idx[1:] > idx[:-1]).all())
        assert int(idx.min()) >= 0 and int(idx.max()) < 64


def test_budget_below_images_raises_and_unknown_name_lists_valid() -> None:
    """Too small a budget is a typed error; a typo lists the valid compressor names."""
    with pytest.raises(BudgetError, match=">= 6"):
        compress(_tokens(), 5, "pool")
    with pytest.raises(UnknownCompressorError, match="pool.*diversity.*attention.*temporal"):
        compress(_tokens(), 50, "tome")


def test_selectors_return_original_tokens_in_place() -> None:
    """Pruning compressors keep original feature vectors at the indices they report."""
    tokens = _tokens()
    for method in ("diversity", "attention"):
        out = compress(tokens, 40, method)
        for feats, idx, kept in zip(tokens.features, out.index, out.features, strict=True):
            assert torch.equal(feats[idx], kept)


def test_attention_keeps_the_most_attended_tokens() -> None:
    """With one image, the attention compressor keeps exactly the top-k importance tokens."""
    feats = torch.randn(16, 4)
    imp = torch.arange(16.0).flip(0)  # token 0 most attended
    out = compress(VisualTokens([feats], [(4, 4)], [0], [imp]), 5, "attention")
    assert out.index[0].tolist() == [0, 1, 2, 3, 4]


def test_diversity_prefers_distinct_tokens_over_duplicates() -> None:
    """Max-min diversity picks one of each duplicated direction before any repeat."""
    basis = torch.eye(4)
    feats = basis.repeat_interleave(4, dim=0) + 0.01 * torch.randn(16, 4)  # 4 groups of 4
    out = compress(VisualTokens([feats], [(4, 4)], [0]), 4, "diversity")
    assert sorted((out.index[0] // 4).tolist()) == [0, 1, 2, 3]


def test_temporal_spends_tokens_on_what_changed() -> None:
    """A static clip with one changing region: later frames keep only the changed tokens."""
    g = torch.Generator().manual_seed(1)
    first = torch.randn(16, 8, generator=g)
    frames = [first.clone() for _ in range(4)]
    for f in frames[1:]:
        f[5] = torch.randn(8, generator=g)  # only token 5 changes
    out = compress(VisualTokens(frames, [(4, 4)] * 4, [0] * 4), 16 + 3, "temporal")
    assert out.per_image == [16, 1, 1, 1]
    assert [idx.tolist() for idx in out.index[1:]] == [[5], [5], [5]]


def test_temporal_merges_duplicates_into_kept_tokens() -> None:
    """Dropped near-duplicates are averaged into their kept counterpart, not lost."""
    a = torch.eye(4) * 2.0
    b = a.clone()
    for i in range(4):
        b[i, (i + 1) % 4] = 0.1 * (i + 1)  # frame 2 drifts, token 3 the most
    out = compress(VisualTokens([a, b], [(2, 2)] * 2, [0, 0]), 5, "temporal")
    assert out.per_image == [4, 1] and out.index[1].tolist() == [3]
    assert torch.allclose(out.features[0][:3], (a[:3] + b[:3]) / 2)
    assert torch.equal(out.features[0][3], a[3]) and torch.equal(out.features[1][0], b[3])


def test_pool_is_spatial_average_with_exact_count() -> None:
    """Pooling to a 2x2 of a 4x4 grid averages each quadrant; any k gives k cells in order."""
    x = torch.arange(16.0).reshape(16, 1)
    feats, centres = pool_image(x, (4, 4), 4)
    assert feats.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert centres.tolist() == [5, 6, 9, 10] or bool((centres[1:] > centres[:-1]).all())
    for k in range(1, 16):
        f, c = pool_image(torch.randn(15 * 4, 3), (3, 20), k)
        assert f.shape[0] == k and bool((c[1:] > c[:-1]).all())


def test_budget_split_between_clips_is_proportional() -> None:
    """Clips share the budget by size, each image keeping at least one token."""
    assert split_budget([10, 1, 5], 7) == [4, 1, 2]
    tokens = VisualTokens(
        [torch.randn(64, 4)] * 3 + [torch.randn(16, 4)], [(8, 8)] * 3 + [(4, 4)], [0, 0, 0, 1]
    )
    out = compress(tokens, 52, "pool")
    assert out.kept == 52 and sum(out.per_image[:3]) == 48 and out.per_image[3] == 4
