"""The compressed VLM through the real loading path, with tiny random-init checkpoints.

No VLM weights are reachable here, so each supported family is built as a tiny random config,
saved with ``save_pretrained`` (plus a tokenizer trained locally and the family's image
processor) to a temp dir, and loaded with ``load_vlm(str(dir))`` exactly as a user's
checkpoint would be. Random weights make the answers meaningless, so the tests check what
does not depend on them: token counts, budgets, order, positions and the answer's shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parent))

from tiny_vlm import build  # noqa: E402

from viewfinder.answer import Evidence  # noqa: E402
from viewfinder.errors import BudgetError, UnknownCompressorError  # noqa: E402
from viewfinder.tools.compress import COMPRESSORS  # noqa: E402
from viewfinder.tools.vlm import VisualClip, load_vlm  # noqa: E402


def _build(family: str, root: Path) -> Path:
    """A tiny random checkpoint with the family's real chat template, small image settings."""
    return build(family, root, real_images=False)


FAMILIES = ["smolvlm", "qwen2_vl", "qwen2_5_vl", "llava_onevision"]


@pytest.fixture(scope="module", params=FAMILIES)
def checkpoint(request, tmp_path_factory) -> Path:  # noqa: ANN001
    return _build(request.param, tmp_path_factory.mktemp("vlm"))


def _clips(n_clips: int = 2, frames: int = 3, size: tuple[int, int] = (56, 84)) -> list:
    rng = np.random.default_rng(0)
    clips = []
    for c in range(n_clips):
        base = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        shots = [
            np.clip(base.astype(int) + rng.integers(-8, 8, base.shape), 0, 255).astype(np.uint8)
            for _ in range(frames)
        ]
        clips.append(VisualClip(shots, [10.0 * c + i for i in range(frames)]))
    return clips


@pytest.mark.parametrize("method", COMPRESSORS)
def test_every_compressor_honours_the_budget_exactly(checkpoint: Path, method: str) -> None:
    """Through the real load path, the LM sees exactly the budget, >= 1 token per frame."""
    vlm = load_vlm(str(checkpoint), compressor=method, budget=9)
    clips = _clips()
    full = vlm.answer(clips, "What is shown?", options=["a cat", "a dog"], budget=10_000)
    assert full.visual_tokens == full.visual_tokens_before  # no more than there are
    for budget in (6, 9, full.visual_tokens_before - 1):
        ans = vlm.answer(clips, "What is shown?", options=["a cat", "a dog"], budget=budget)
        assert ans.visual_tokens == budget
        assert sum(ans.tokens_per_image) == budget and len(ans.tokens_per_image) == 6
        assert min(ans.tokens_per_image) >= 1
        # Prompt length shrinks by exactly the dropped tokens: placeholders were rebuilt.
        assert full.prompt_tokens - ans.prompt_tokens == full.visual_tokens - budget


def test_multiple_choice_returns_a_valid_option(checkpoint: Path) -> None:
    """MC scoring picks one of the given letters; probabilities over them sum to 1."""
    vlm = load_vlm(str(checkpoint), compressor="diversity", budget=8)
    options = ["a cat", "a dog", "a car"]
    ev = [Evidence(1.0, 2.5, "speech", "look at the cat"), Evidence(4, 5, "text", "EXIT")]
    ans = vlm.answer(_clips(), "What animal is shown?", options=options, evidence=ev)
    assert ans.choice in ("A", "B", "C")
    assert ans.text == options["ABC".index(ans.choice)]
    assert set(ans.probabilities) == {"A", "B", "C"}
    assert sum(ans.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert ans.probabilities[ans.choice] == max(ans.probabilities.values())
    assert set(ans.seconds) == {"vision", "compress", "prefill", "decode"}


def test_open_question_generates_text(checkpoint: Path) -> None:
    """Open questions are answered by greedy generation with the KV cache."""
    vlm = load_vlm(str(checkpoint), compressor="temporal", budget=8)
    ans = vlm.answer(_clips(1, 2), "Describe it.", max_new_tokens=4)
    assert ans.choice is None and ans.probabilities == {}
    assert isinstance(ans.text, str)
    assert ans.visual_tokens == 8


def test_budget_below_image_count_raises(checkpoint: Path) -> None:
    """A budget smaller than the number of frames is an error, not silently dropped frames."""
    vlm = load_vlm(str(checkpoint), compressor="pool")
    with pytest.raises(BudgetError, match="at least one"):
        vlm.answer(_clips(), "What?", options=["x", "y"], budget=5)


def test_unknown_compressor_lists_valid_names(checkpoint: Path) -> None:
    """An unknown compressor name fails before loading, naming the valid ones."""
    with pytest.raises(UnknownCompressorError, match="diversity"):
        load_vlm(str(checkpoint), compressor="magic")


def test_qwen_positions_keep_kept_tokens_grid_places(tmp_path: Path) -> None:
    """Qwen M-RoPE ids of kept tokens are those of their original grid cells in the full
    prompt (as get_rope_index gives them); text after an image resumes where it would have."""
    vlm = load_vlm(str(_build("qwen2_vl", tmp_path)), compressor="attention", budget=4)
    clips = _clips(1, 1, (112, 112))
    encoded = vlm.encode(clips)
    seen = {}

    def grab(module, args, kwargs):  # noqa: ANN001, ANN202
        seen.setdefault("pos", kwargs["position_ids"])

    handle = vlm.family.language_model.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        ans = vlm.answer_encoded(clips, encoded, "What?", options=["x", "y"])
    finally:
        handle.remove()
    assert ans.visual_tokens == 4 and ans.visual_tokens_before == 16  # 112 px: 4x4 merged
    assert tuple(seen["pos"].shape) == (3, 1, ans.prompt_tokens)

    from viewfinder.tools.vlm.prompt import format_question as _question_text

    prompt = vlm.prompt(clips, _question_text("What?", ["x", "y"]), ["x", "y"])
    batch = vlm._processed(prompt, encoded.media)
    full = vlm.family.positions(batch)[:, 0]
    slots = (batch["input_ids"][0] == vlm.family.placeholder_id).nonzero().flatten()
    start = int(full[0, slots[0]])
    # Full prompt: the 4x4 grid sits at start + (0, row, col); text resumes at start + 4.
    assert full[1, slots].tolist() == [start + r for r in range(4) for _ in range(4)]
    assert full[2, slots].tolist() == [start + c for _ in range(4) for c in range(4)]
    assert int(full[0, slots[-1] + 1]) == start + 4
    # The compressed prompt is the full one minus the dropped slots, nothing renumbered.
    from viewfinder.tools.compress import compress

    kept = compress(encoded.tokens, 4, "attention")
    keep = vlm.keep_mask(batch, encoded, kept)
    assert int(keep.sum()) == ans.prompt_tokens
    np.testing.assert_array_equal(seen["pos"][:, 0].numpy(), full[:, keep].numpy())
    assert set(slots[kept.index[0]].tolist()) == set(slots.tolist()) & set(
        keep.nonzero().flatten().tolist()
    )
