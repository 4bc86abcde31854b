"""The compressed VLM sees what each family's reference transformers pipeline sees.

For every supported family a tiny random checkpoint is saved with the family's real chat
template and processor files (``tests/data/vlm``) and loaded with ``load_vlm``. With compression
off (a budget that keeps every token), the project's first-token logits for a multiple-choice
prompt and its greedy 20-token answer to an open question must equal those of the reference
pipeline: ``AutoProcessor.apply_chat_template`` -> ``processor(text=..., images=...)`` ->
``model(...)`` / ``model.generate``, on the same real frames (several images per prompt, the
family's default image splitting). Random weights make every input detail visible in the
output, so equal outputs mean equal inputs. With compression on, the kept tokens must be
exactly the selected ones at their original positions: the reference removes the dropped
tokens from its own embeddings by hand.
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
from viewfinder.text import clock, stamp  # noqa: E402
from viewfinder.tools.compress import compress  # noqa: E402
from viewfinder.tools.video import open_video  # noqa: E402
from viewfinder.tools.vlm import VisualClip, load_vlm  # noqa: E402

MEDIA = Path("/work/shared/media")
# (family, split): SmolVLM both without tiles (the project's default, as SmolVLM2's video path)
# and with its image processor's default tile splitting (12 tiles + global view per frame).
CASES = [
    ("smolvlm", False),
    ("smolvlm", True),
    ("qwen2_vl", False),
    ("qwen2_5_vl", False),
    ("llava_onevision", False),
]
QUESTION = "What is typed into the terminal?"
OPTIONS = ["ls /usr", "cat notes.txt", "make install"]
EVIDENCE = [Evidence(1.0, 2.5, "speech", "now I type the command")]
TOLERANCE = 1e-4  # fp32


@pytest.fixture(scope="module")
def clips() -> list[VisualClip]:
    """Two clips of real frames (four images per prompt), 16:9, decoded by the project."""
    video = MEDIA / "hello_terminal.mp4"
    if not video.is_file():
        pytest.skip(f"needs {video}")
    with open_video(video) as reader:
        frames = reader.frames_at([1.0, 2.0, 6.0, 7.5], max_side=224)
    return [VisualClip(frames[:2], [1.0, 2.0]), VisualClip(frames[2:], [6.0, 7.5])]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("vlm")
    return {family: build(family, root) for family in {f for f, _ in CASES}}


@pytest.fixture(
    params=[
        # Split frames hold 13x the tokens (about 2 min on 2 busy cores): slow.
        pytest.param(case, marks=[pytest.mark.slow] if case[1] else [])
        for case in CASES
    ],
    ids=[f + ("-split" if s else "") for f, s in CASES],
)
def checkpoint(request, checkpoints) -> tuple[str, Path, bool]:  # noqa: ANN001
    family, split = request.param
    return family, checkpoints[family], split


def _reference_inputs(family: str, path: Path, clips, text: str, mc: bool, split: bool):  # noqa: ANN001, ANN202, E501
    """The reference pipeline's model inputs, built from the processor alone."""
    processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
    frames = [f for c in clips for f in c.frames]
    if family == "llava_onevision":  # its template puts videos first; one video per clip
        spans = "".join(
            f"Video {i + 1}: {len(c.frames)} frames from {clock(min(c.timestamps))} to "
            f"{clock(max(c.timestamps))}.\n"
            for i, c in enumerate(clips)
        )
        content = [{"type": "video"} for _ in clips] + [{"type": "text", "text": spans + text}]
        media = {"videos": [np.stack(c.frames) for c in clips]}
    else:
        content = []
        for i, c in enumerate(clips):
            span = f"Clip {i + 1} ({clock(min(c.timestamps))}-{clock(max(c.timestamps))}):\n"
            content.append({"type": "text", "text": span})
            for t in c.timestamps:
                content += [{"type": "text", "text": f"Frame from {clock(t)}: "}]
                content += [{"type": "image"}]
            content.append({"type": "text", "text": "\n"})
        content.append({"type": "text", "text": text})
        media = {"images": [frames] if family == "smolvlm" else frames}
        if family == "smolvlm" and not split:
            media["do_image_splitting"] = False
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    if mc:
        prompt += " Best Option: (" if family == "smolvlm" else "Best Option: ("
    return processor, processor(text=[prompt], return_tensors="pt", **media)


def _mc_text() -> str:
    listed = "\n".join(f"({'ABC'[i]}) {o}" for i, o in enumerate(OPTIONS))
    return (
        f"Speech and on-screen text from the video:\n[{stamp(1.0, 2.5)}] speech: now I type the "
        f"command\nQuestion: {QUESTION}\nOptions:\n{listed}\n"
        "Answer with the option's letter from the given choices directly.\n"
    )


def _first_logits(vlm, call):  # noqa: ANN001, ANN202
    """The logits the project computes for the first answer token (lm_head's first call)."""
    seen = []
    handle = vlm.model.lm_head.register_forward_hook(lambda m, a, out: seen.append(out))
    try:
        answer = call()
    finally:
        handle.remove()
    return answer, seen[0].reshape(-1, seen[0].shape[-1])[-1].float()


def test_uncompressed_answers_equal_the_reference_pipeline(checkpoint, clips) -> None:  # noqa: ANN001
    """Multiple-choice logits within 1e-4 and the greedy 20-token answer identical to
    apply_chat_template + processor + model.generate, with every visual token kept."""
    family, path, split = checkpoint
    vlm = load_vlm(str(path), compressor="pool", budget=1_000_000, split_images=split)
    reference = transformers.AutoModelForImageTextToText.from_pretrained(
        path, dtype=torch.float32, local_files_only=True
    ).eval()

    ans, ours = _first_logits(
        vlm, lambda: vlm.answer(clips, QUESTION, options=OPTIONS, evidence=EVIDENCE)
    )
    _, inputs = _reference_inputs(family, path, clips, _mc_text(), mc=True, split=split)
    with torch.inference_mode():
        theirs = reference(**inputs).logits[0, -1].float()
    diff = float((ours - theirs).abs().max())
    assert ans.visual_tokens == ans.visual_tokens_before  # nothing dropped
    assert ans.prompt_tokens == inputs["input_ids"].shape[1]
    assert diff <= TOLERANCE, f"{family}: max abs logit difference {diff:.2e}"

    open_q = f"Question: {QUESTION}\nAnswer the question briefly.\n"
    processor, inputs = _reference_inputs(family, path, clips, open_q, mc=False, split=split)
    ours_text = vlm.answer(clips, QUESTION, max_new_tokens=20).text
    stop = sorted(
        {vlm.tokenizer.eos_token_id, *vlm._stop_ids()} - {None}
    )  # the project's stop tokens
    with torch.inference_mode():
        out = reference.generate(
            **inputs, max_new_tokens=20, do_sample=False, eos_token_id=stop, pad_token_id=stop[0]
        )
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    new = [t for t in new if t not in stop]
    theirs_text = processor.tokenizer.decode(new, skip_special_tokens=True).strip()
    print(
        f"\nPARITY {family} split={split}: visual tokens {ans.visual_tokens}, "
        f"max|dlogit|={diff:.2e} greedy_equal={ours_text == theirs_text}"
    )
    assert ours_text == theirs_text


def test_compressed_tokens_are_the_selected_ones_at_their_positions(checkpoint, clips) -> None:  # noqa: ANN001
    """With a budget of a quarter of the tokens, the logits equal a reference forward pass on
    the model's own full embeddings and positions (M-RoPE for Qwen) with the dropped visual
    tokens removed by hand."""
    family, path, split = checkpoint
    vlm = load_vlm(str(path), compressor="diversity", budget=16, split_images=split)
    encoded = vlm.encode(clips)
    budget = max(encoded.tokens.total // 4, len(encoded.tokens.features))
    ans, ours = _first_logits(
        vlm, lambda: vlm.answer_encoded(clips, encoded, QUESTION, OPTIONS, EVIDENCE, budget)
    )
    assert ans.visual_tokens == budget

    _, inputs = _reference_inputs(family, path, clips, _mc_text(), mc=True, split=split)
    model = vlm.model
    inner = model.model
    with torch.inference_mode():
        # The reference's own merged embeddings: run the model once and capture what its
        # language model receives (all visual tokens scattered in place).
        seen = {}
        lm = vlm.family.language_model
        hook = lm.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)
        try:
            model(**inputs)
        finally:
            hook.remove()
        full = seen["inputs_embeds"][0]
        if family.startswith("qwen"):
            positions, _ = inner.get_rope_index(
                inputs["input_ids"],
                mm_token_type_ids=inputs["mm_token_type_ids"],
                image_grid_thw=inputs["image_grid_thw"],
            )
        else:
            positions = torch.arange(full.shape[0])[None]
        # Drop by hand what the compressor did not select.
        kept = compress(encoded.tokens, budget, "diversity")
        placeholder = vlm.family.placeholder_id
        slots = (inputs["input_ids"][0] == placeholder).nonzero().flatten().tolist()
        drop, at = set(), 0
        for kind, unit in encoded.layout:
            if kind == "fixed":
                at += 1
                continue
            n = encoded.tokens.features[unit].shape[0]
            chosen = set(kept.index[unit].tolist())
            drop |= {slots[at + j] for j in range(n) if j not in chosen}
            at += n
        keep = torch.tensor([i not in drop for i in range(full.shape[0])])
        pruned = full[keep][None]
        out = lm(
            inputs_embeds=pruned,
            position_ids=positions[..., keep],
            attention_mask=torch.ones(pruned.shape[:2], dtype=torch.long),  # as generate does
        )
        theirs = model.lm_head(out.last_hidden_state[:, -1])[0].float()
    assert ans.prompt_tokens == int(keep.sum())
    diff = float((ours - theirs).abs().max())
    print(
        f"\nCOMPRESSED {family} split={split}: kept {budget}/{encoded.tokens.total} max|dlogit|={diff:.2e}"
    )
    assert diff <= TOLERANCE


def test_stored_chat_templates_are_the_real_ones() -> None:
    """The templates viewfinder ships (used for a checkpoint saved without one) are the
    model repositories' own, byte for byte."""
    import json

    from viewfinder.tools.vlm import FAMILIES as _FAMILIES

    data = Path(__file__).parent / "data" / "vlm"
    real = {
        "smolvlm.jinja": "smolvlm2",
        "qwen2_vl.jinja": "qwen2_vl",
        "llava_onevision.jinja": "llava_onevision",
    }
    for family in _FAMILIES:
        stored = family.stored_chat_template()
        repo = json.loads((data / real[family.template_file] / "chat_template.json").read_text())
        assert stored == repo["chat_template"]
    qwen25 = json.loads((data / "qwen2_5_vl" / "chat_template.json").read_text())
    assert qwen25["chat_template"] == _FAMILIES[1].stored_chat_template()
