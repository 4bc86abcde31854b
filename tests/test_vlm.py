"""The compressed VLM through the real loading path, with tiny random-init checkpoints.

No VLM weights are reachable here, so each supported family is built as a tiny random config,
saved with ``save_pretrained`` (plus a tokenizer trained locally and the family's image
processor) to a temp dir, and loaded with ``load_vlm(str(dir))`` exactly as a user's
checkpoint would be. Random weights make the answers meaningless, so the tests check what
does not depend on them: token counts, budgets, order, positions and the answer's shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from viewfinder.answer import Evidence  # noqa: E402
from viewfinder.errors import BudgetError, UnknownCompressorError  # noqa: E402
from viewfinder.tools.compress import COMPRESSORS  # noqa: E402
from viewfinder.tools.vlm import VisualClip, load_vlm  # noqa: E402

FAMILY_SPECIALS = {
    "smolvlm": [
        "<image>",
        "<fake_token_around_image>",
        "<global-img>",
        "<end_of_utterance>",
        "<|im_start|>",
    ],
    "qwen2_vl": [
        "<|image_pad|>",
        "<|video_pad|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|im_start|>",
        "<|im_end|>",
    ],
    "llava_onevision": ["<image>", "<video>", "<|im_start|>", "<|im_end|>"],
}
CORPUS = [
    "Question: what is shown in the video? Options: (A) a cat (B) a dog (C) a car",
    "Best Option: (A) Answer with the option's letter from the given choices directly.",
    "Frame from 00:01.0: Clip 1 speech text system user assistant helpful",
] * 20


def _tokenizer(specials: list[str]):  # noqa: ANN202
    """A small byte-level BPE trained here (no hub), with the family's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", *specials],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials,
    )


def _text_config(kind: str, vocab: int, **extra) -> dict:  # noqa: ANN003
    return dict(
        model_type=kind,
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        **extra,
    )


def _build(family: str, root: Path) -> Path:
    """Save a tiny random checkpoint of ``family`` with tokenizer and image processor."""
    torch.manual_seed(0)
    tok = _tokenizer(FAMILY_SPECIALS["qwen2_vl" if family == "qwen2_5_vl" else family])
    vocab = len(tok)
    ids = tok.convert_tokens_to_ids
    if family == "smolvlm":
        cfg = transformers.SmolVLMConfig(
            vision_config=dict(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=64,
                patch_size=8,
            ),
            text_config=_text_config("llama", vocab),
            scale_factor=2,
            image_token_id=ids("<image>"),
        )
        model = transformers.SmolVLMForConditionalGeneration(cfg)
        proc = transformers.SmolVLMImageProcessor(
            size={"longest_edge": 64}, max_image_size={"longest_edge": 64}, do_image_splitting=False
        )
    elif family in ("qwen2_vl", "qwen2_5_vl"):
        vision = dict(
            depth=2,
            hidden_size=32,
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        )
        text = _text_config(
            family + "_text" if family == "qwen2_5_vl" else "qwen2_vl_text",
            vocab,
            rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [4, 6, 6]},
        )
        if family == "qwen2_5_vl":
            vision.update(
                intermediate_size=64, out_hidden_size=64, window_size=56, fullatt_block_indexes=[1]
            )
            cls = transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration
        else:
            vision.update(embed_dim=32, mlp_ratio=2)
            text_hidden = 64
            vision["hidden_size"] = text_hidden
            cls = transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration
        cfg = cls[0](
            vision_config=vision,
            text_config=text,
            image_token_id=ids("<|image_pad|>"),
            video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"),
            vision_end_token_id=ids("<|vision_end|>"),
        )
        model = cls[1](cfg)
        proc = transformers.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112)
    else:
        cfg = transformers.LlavaOnevisionConfig(
            vision_config=dict(
                model_type="siglip_vision_model",
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=3,
                num_attention_heads=2,
                image_size=32,
                patch_size=4,
            ),
            text_config=_text_config("qwen2", vocab),
            image_token_id=ids("<image>"),
            video_token_id=ids("<video>"),
            vision_feature_layer=-2,
            vision_feature_select_strategy="full",
        )
        model = transformers.LlavaOnevisionForConditionalGeneration(cfg)
        proc = transformers.LlavaOnevisionImageProcessor(size={"height": 32, "width": 32})
    path = root / family
    model.save_pretrained(path)
    tok.save_pretrained(path)
    proc.save_pretrained(path)
    return path


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
    """Qwen M-RoPE ids of kept tokens are their original (row, col); text resumes after."""
    from viewfinder.tools.compress import Compressed

    vlm = load_vlm(str(_build("qwen2_vl", tmp_path)), compressor="attention", budget=4)
    kept = Compressed([torch.zeros(3, 64)], [torch.tensor([1, 6, 15])], "test")
    segments = [("text", torch.arange(5)), ("image", 0), ("text", torch.arange(3))]
    pos = vlm.family.positions(segments, kept, [(4, 4)])[:, 0].tolist()
    assert pos[0] == [0, 1, 2, 3, 4, 5, 5, 5, 9, 10, 11]  # temporal
    assert pos[1] == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]  # rows 0, 1, 3
    assert pos[2] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]  # cols 1, 2, 3
    seen = {}

    def grab(module, args, kwargs):  # noqa: ANN001, ANN202
        seen.setdefault("pos", kwargs["position_ids"])

    handle = vlm.family.language_model.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        ans = vlm.answer(_clips(1, 1, (112, 112)), "What?", options=["x", "y"])
    finally:
        handle.remove()
    assert tuple(seen["pos"].shape) == (3, 1, ans.prompt_tokens)
    assert ans.visual_tokens == 4 and ans.visual_tokens_before == 16  # 112 px: 4x4 merged
