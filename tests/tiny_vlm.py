"""Tiny random checkpoints of the supported VLM families, saved in the real on-disk format.

Each is a small random config saved with ``save_pretrained`` next to a tokenizer trained here
(no hub) that carries the family's real special tokens, and the family's real processor files
from ``tests/data/vlm`` (chat template, processor and image-processor configs). With
``real_images=False`` the image processor is shrunk (64 px SmolVLM, 32 px LLaVA, small Qwen
pixel range) so mechanics tests run in a fraction of a second; the chat template stays real.
Random weights make answers meaningless: tests built on these check equality with the
reference pipeline, token counts, budgets and positions, never what an answer says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

DATA = Path(__file__).parent / "data" / "vlm"
# Family name -> directory of its real processor files.
DATA_DIR = {
    "smolvlm": "smolvlm2",
    "qwen2_vl": "qwen2_vl",
    "qwen2_5_vl": "qwen2_5_vl",
    "llava_onevision": "llava_onevision",
}
FAMILY_SPECIALS = {
    "smolvlm": [
        "<|im_start|>",
        "<end_of_utterance>",
        "<image>",
        "<fake_token_around_image>",
        "<global-img>",
        *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
    ],
    "qwen2_vl": [
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ],
    "llava_onevision": ["<|im_start|>", "<|im_end|>", "<image>", "<video>"],
}
EOS = {"smolvlm": "<end_of_utterance>", "qwen2_vl": "<|im_end|>", "llava_onevision": "<|im_end|>"}
CORPUS = [
    "Question: what is shown in the video? Options: (A) a cat (B) a dog (C) a car",
    "Best Option: (A) Answer with the option's letter from the given choices directly.",
    "Frame from 00:01.0: Clip 1 speech text system user assistant helpful",
    "User: Assistant: You are a helpful assistant. Video 1: 3 frames from 00:01.0 to",
] * 20


def tokenizer(family: str):  # noqa: ANN201
    """A small byte-level BPE trained here (no hub), with the family's special tokens."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = FAMILY_SPECIALS["qwen2_vl" if family == "qwen2_5_vl" else family]
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
        max_position_embeddings=16384,
        bos_token_id=0,
        eos_token_id=0,
        **extra,
    )


def build(family: str, root: Path, real_images: bool = True, seed: int = 0) -> Path:
    """Save a tiny random checkpoint of ``family`` and return its directory."""
    import torch
    import transformers

    torch.manual_seed(seed)
    tok = tokenizer(family)
    vocab = len(tok)
    ids = tok.convert_tokens_to_ids
    if family == "smolvlm":
        side = 512 if real_images else 64
        cfg = transformers.SmolVLMConfig(
            vision_config=dict(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=side,
                patch_size=16 if real_images else 8,
            ),
            text_config=_text_config("llama", vocab),
            scale_factor=4 if real_images else 2,
            image_token_id=ids("<image>"),
        )
        model = transformers.SmolVLMForConditionalGeneration(cfg)
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
            family + "_text",
            vocab,
            rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [4, 6, 6]},
        )
        if family == "qwen2_5_vl":
            vision.update(
                intermediate_size=64, out_hidden_size=64, window_size=56, fullatt_block_indexes=[1]
            )
            cls = transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration
        else:
            vision.update(embed_dim=32, mlp_ratio=2, hidden_size=64)
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
    else:
        cfg = transformers.LlavaOnevisionConfig(
            vision_config=dict(
                model_type="siglip_vision_model",
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=3,
                num_attention_heads=2,
                image_size=384 if real_images else 32,
                patch_size=14 if real_images else 4,
            ),
            text_config=_text_config("qwen2", vocab),
            image_token_id=ids("<image>"),
            video_token_id=ids("<video>"),
            vision_feature_layer=-2,
            vision_feature_select_strategy="full",
        )
        model = transformers.LlavaOnevisionForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = ids(EOS["qwen2_vl" if "qwen" in family else family])
    path = root / family
    model.save_pretrained(path)
    tok.save_pretrained(path)
    for source in (DATA / DATA_DIR[family]).iterdir():
        shutil.copy(source, path / source.name)
    if not real_images:
        _shrink_image_processor(family, path)
    return path


def _shrink_image_processor(family: str, path: Path) -> None:
    config_file = path / "preprocessor_config.json"
    cfg = json.loads(config_file.read_text())
    if family == "smolvlm":
        cfg.update(size={"longest_edge": 64}, max_image_size={"longest_edge": 64})
        cfg["do_image_splitting"] = False
        (path / "processor_config.json").write_text(
            json.dumps({"image_seq_len": 16, "processor_class": "SmolVLMProcessor"})
        )
    elif family == "llava_onevision":
        cfg.update(size={"height": 32, "width": 32}, image_grid_pinpoints=[[32, 32]])
        processor = json.loads((path / "processor_config.json").read_text())
        processor["num_image_tokens"] = 64
        (path / "processor_config.json").write_text(json.dumps(processor))
    else:
        cfg.update(min_pixels=56 * 56, max_pixels=112 * 112)
    config_file.write_text(json.dumps(cfg, indent=2))
