"""Answer from frames with a vision-language model whose visual tokens are compressed to a budget.

``load_vlm(name_or_path)`` resolves a registry name (see ``viewfinder models``) or a local
model directory, loads it with the first installed backend and returns a
:class:`VisionLanguageModel`. Its :meth:`~VisionLanguageModel.answer` runs

    frames --vision encoder + projector--> tokens --compressor--> ``budget`` tokens --LM--> answer

Multiple-choice questions are answered by option likelihood (the next-token logits of the
option letters after ``Best Option: (``, normalised over the given letters); open questions by
greedy generation. Speech and screen-text evidence enters the prompt with its timestamps.

Supported transformers families: SmolVLM / SmolVLM2 / Idefics3 (pixel-shuffle connector),
Qwen2-VL / Qwen2.5-VL (M-RoPE positions rebuilt for the kept tokens), LLaVA-OneVision (frames
as a video, one newline token per clip). Nothing here ever falls back to random weights.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..answer import Evidence
from ..errors import (
    InvalidQuestionError,
    MissingDependencyError,
    ModelError,
    UnknownCompressorError,
    require,
)
from ..models import resolve
from ..text import LETTERS, clock, stamp
from .compress import COMPRESSORS, Compressed, VisualTokens, compress
from .device import pick_device

logger = logging.getLogger(__name__)

# Frames encoded per vision-encoder call (bounds peak memory, not results); a GPU needs more
# at once to be kept busy.
ENCODE_CHUNK = 8
GPU_ENCODE_CHUNK = 64


@dataclass(frozen=True)
class VisualClip:
    """Frames of one shot, shown to the model together."""

    # RGB uint8 arrays of shape (height, width, 3); all frames of a clip have the same size.
    frames: Sequence[Any]
    # Seconds in the video of each frame (same length as ``frames``).
    timestamps: Sequence[float]

    def __post_init__(self) -> None:
        if len(self.frames) == 0:
            raise InvalidQuestionError("A clip has no frames; pass at least one frame per clip.")
        if len(self.frames) != len(self.timestamps):
            raise InvalidQuestionError(
                f"A clip has {len(self.frames)} frames but {len(self.timestamps)} timestamps; "
                "pass one timestamp per frame."
            )


@dataclass
class VLMAnswer:
    """What :meth:`VisionLanguageModel.answer` returns."""

    text: str  # generated answer, or the chosen option's text
    choice: str | None  # chosen letter for multiple choice, else None
    # Letter -> probability (sums to 1 over the given options); empty for open questions.
    probabilities: dict[str, float]
    visual_tokens: int  # exactly how many visual tokens the language model saw
    tokens_per_image: list[int]  # kept tokens per frame, in input order
    visual_tokens_before: int  # tokens the encoder produced before compression
    prompt_tokens: int  # total prefill length (text + visual)
    compressor: str
    # Seconds per stage: "vision", "compress", "prefill" (time to first token), "decode".
    seconds: dict[str, float] = field(default_factory=dict)


class VisionLanguageModel(ABC):
    """A VLM that answers from clips of frames under a visual-token budget."""

    BACKEND_NAME: ClassVar[str]

    @abstractmethod
    def answer(
        self,
        clips: Sequence[VisualClip],
        question: str,
        options: Sequence[str] | None = None,
        evidence: Sequence[Evidence] = (),
        budget: int | None = None,
        max_new_tokens: int = 48,
    ) -> VLMAnswer:
        """Answer ``question`` about ``clips``.

        Args:
            clips: frames grouped by clip (each clip's frames in time order).
            question: the question in words.
            options: multiple-choice options (letters are assigned A, B, ...), or None.
            evidence: speech / screen-text lines with timestamps, shown in the prompt.
            budget: visual tokens the language model may see (None: the model's default).
            max_new_tokens: length limit of open answers.
        """


# --------------------------------------------------------------------------- prompt text


def _evidence_lines(evidence: Sequence[Evidence]) -> str:
    if not evidence:
        return ""
    lines = [
        f"[{stamp(e.start, e.end)}] {e.modality}: {e.text.strip()}"
        for e in sorted(evidence, key=lambda e: e.start)
    ]
    return "Speech and on-screen text from the video:\n" + "\n".join(lines) + "\n"


def _question_text(question: str, options: Sequence[str] | None) -> str:
    if not question.strip():
        raise InvalidQuestionError("The question is empty; pass the question in words.")
    if options is None:
        return f"Question: {question.strip()}\nAnswer the question briefly.\n"
    if not 2 <= len(options) <= len(LETTERS):
        raise InvalidQuestionError(
            f"{len(options)} options given; multiple choice needs 2 to {len(LETTERS)} options."
        )
    listed = "\n".join(f"({LETTERS[i]}) {o.strip()}" for i, o in enumerate(options))
    return (
        f"Question: {question.strip()}\nOptions:\n{listed}\n"
        "Answer with the option's letter from the given choices directly.\n"
    )


# --------------------------------------------------------------------------- family adapters


@dataclass
class EncodedFrames:
    """Projected visual tokens of all frames, before compression.

    A *unit* is one block of visual tokens the processor gives one placeholder run: a frame
    (Qwen, LLaVA-OneVision) or one tile of a frame (SmolVLM / Idefics3 split frames into
    tiles plus a global view). Compression keeps at least one token per unit.
    """

    tokens: VisualTokens
    # Frame index (over all clips, in order) of each unit.
    unit_frame: list[int]
    # The processor's placeholder tokens in prompt order, as ("unit", i) runs of
    # ``tokens.grids[i]`` tokens and ("fixed", [1, dim] embedding) single tokens that are always
    # kept (LLaVA-OneVision's newline after each video).
    layout: list[tuple[str, Any]]
    # Frames handed to the processor, to lay out prompts later.
    media: dict[str, Any] = field(default_factory=dict)


class _Family:
    """How one transformers VLM family shows frames: message content, encoder, positions.

    Prompts come from the checkpoint's own processor: its chat template (``chat_template.json``)
    renders the messages, and ``processor(text=..., images=...)`` expands each image placeholder
    into the exact token run the model was trained with (tiles, rows, grids).
    """

    model_types: ClassVar[tuple[str, ...]] = ()
    # Text after the generation prompt that multiple-choice scoring reads the letter after.
    answer_prefix: ClassVar[str] = "Best Option: ("

    # Package file (prompts/chat_templates/) with the family's real chat template, copied from
    # its model repository; used only for a checkpoint saved without one.
    template_file: ClassVar[str] = ""

    def __init__(
        self, model: Any, processor: Any, split_images: bool = False, chunk: int = ENCODE_CHUNK
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.split_images = split_images
        self.chunk = chunk  # frames (tiles) per vision-encoder call

    @classmethod
    def stored_chat_template(cls) -> str:
        """The family's real chat template as shipped with viewfinder."""
        from importlib import resources

        path = resources.files("viewfinder.prompts").joinpath("chat_templates", cls.template_file)
        return path.read_text(encoding="utf-8")

    @property
    def language_model(self) -> Any:
        inner = self.model.model
        return getattr(inner, "text_model", None) or inner.language_model

    @property
    def placeholder_id(self) -> int:
        """Token id the processor repeats for every visual token."""
        return int(self.model.config.image_token_id)

    def embed(self, ids: Any) -> Any:
        return self.model.get_input_embeddings()(ids)

    def content(self, clips: Sequence[VisualClip], text: str) -> list[dict[str, Any]]:
        """The user turn: each clip's time span, each frame after its timestamp, then ``text``."""
        items: list[dict[str, Any]] = []
        for ci, clip in enumerate(clips):
            t0, t1 = min(clip.timestamps), max(clip.timestamps)
            items.append({"type": "text", "text": f"Clip {ci + 1} ({clock(t0)}-{clock(t1)}):\n"})
            for ts in clip.timestamps:
                items += [{"type": "text", "text": f"Frame from {clock(ts)}: "}, {"type": "image"}]
            items.append({"type": "text", "text": "\n"})
        items.append({"type": "text", "text": text})
        return items

    def media(self, clips: Sequence[VisualClip]) -> dict[str, Any]:
        """Keyword arguments that hand the frames to the processor."""
        return {"images": [f for c in clips for f in c.frames]}

    def processed(self, text: str, media: dict[str, Any]) -> Any:
        """The processor's model inputs for one prompt."""
        return self.processor(text=[text], return_tensors="pt", **media)

    @abstractmethod
    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        """Vision encoder + projector over the processor's pixels; importance from attention."""

    def positions(self, batch: Any) -> Any:
        """Position ids of the full prompt (every visual token), [1, length]."""
        torch = require("torch", "vlm", "The VLM")
        ids = batch["input_ids"]
        return torch.arange(ids.shape[1], device=ids.device)[None]

    def select_positions(self, positions: Any, keep: Any) -> Any:
        return positions[..., keep]

    def next_positions(self, positions: Any, step: int) -> Any:
        return positions.reshape(-1, positions.shape[-1])[..., -1:] + step


def _frame_runs(clips: Sequence[VisualClip]) -> list[int]:
    return [i for i, c in enumerate(clips) for _ in c.frames]


def _received_attention(q: Any, k: Any, key_mask: Any = None) -> Any:
    """Mean attention each key receives over heads and queries. q, k: [heads, n, dim]."""
    torch = require("torch", "vlm", "The VLM")
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[None, None, :], float("-inf"))
    attn = torch.softmax(scores, dim=-1)
    if key_mask is not None:
        attn = attn[:, key_mask]  # only real patches ask
    return attn.mean(dim=(0, 1))


class _SigLipAttentionProbe:
    """Captures the input of one SigLIP attention layer and computes received attention."""

    def __init__(self, attn_module: Any) -> None:
        self.module = attn_module
        self.results: list[Any] = []
        self.masks: list[Any] | None = None
        self._handle = attn_module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        with require("torch", "vlm", "The VLM").no_grad():
            b, n, _ = hidden.shape
            heads = module.num_heads
            q = module.q_proj(hidden).view(b, n, heads, -1).transpose(1, 2)
            k = module.k_proj(hidden).view(b, n, heads, -1).transpose(1, 2)
            for i in range(b):
                mask = None if self.masks is None else self.masks[len(self.results)]
                self.results.append(_received_attention(q[i], k[i], mask))

    def close(self) -> None:
        self._handle.remove()


class _PixelShuffleFamily(_Family):
    """SmolVLM / SmolVLM2 / Idefics3: SigLIP + pixel shuffle; frames split into tiles and a
    global view as the checkpoint's image processor is configured (``do_image_splitting``)."""

    model_types = ("smolvlm", "idefics3")
    answer_prefix = " Best Option: ("  # the template ends "Assistant:", answers start spaced

    template_file = "smolvlm.jinja"

    def media(self, clips: Sequence[VisualClip]) -> dict[str, Any]:
        # One prompt's images. Tiles only when asked: SmolVLM2's own video path shows each
        # frame as one 512 px view (64 tokens); its image default splits a 360p frame into
        # 12 tiles + the global view (832 tokens), 13x the vision cost.
        split = {} if self.split_images else {"do_image_splitting": False}
        return {"images": [[f for c in clips for f in c.frames]], **split}

    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        torch = require("torch", "vlm", "The VLM")
        inner = self.model.model
        # Real (not padding) tiles, in prompt order: what get_image_features keeps.
        pixel_values = batch["pixel_values"].to(self.model.dtype).flatten(0, 1)
        real = (pixel_values != 0.0).flatten(1).any(dim=1)
        pixel_values = pixel_values[real]
        pixel_mask = batch.get("pixel_attention_mask")
        if pixel_mask is not None:
            pixel_mask = pixel_mask.flatten(0, 1)[real].bool()
        else:
            pixel_mask = torch.ones(
                (pixel_values.shape[0], *pixel_values.shape[2:]), dtype=torch.bool
            )
        vision = inner.vision_model
        p = vision.patch_size if hasattr(vision, "patch_size") else vision.config.patch_size
        probe = _SigLipAttentionProbe(vision.encoder.layers[-1].self_attn) if importance else None
        feats, imps = [], []
        try:
            for start in range(0, pixel_values.shape[0], self.chunk):
                pv = pixel_values[start : start + self.chunk]
                pm = pixel_mask[start : start + self.chunk]
                patch_mask = pm.unfold(1, p, p).unfold(2, p, p).sum(dim=(-1, -2)) > 0
                if probe is not None:
                    probe.masks = [None] * len(probe.results) + list(patch_mask.flatten(1))
                hidden = vision(pixel_values=pv, patch_attention_mask=patch_mask).last_hidden_state
                feats.extend(inner.connector(hidden))
        finally:
            if probe is not None:
                probe.close()
        if probe is not None:
            scale = inner.connector.scale_factor
            for r in probe.results:
                # Push the patch importance through the same pixel shuffle as the features.
                shuffled = inner.connector.pixel_shuffle(r[None, :, None], scale)
                imps.append(shuffled[0].sum(-1))
        unit_frame = self._tile_frames(batch, len(feats))
        frame_clip = _frame_runs(clips)
        side = int(round(math.sqrt(feats[0].shape[0])))
        tokens = VisualTokens(
            feats, [(side, side)] * len(feats), [frame_clip[f] for f in unit_frame], imps or None
        )
        return EncodedFrames(tokens, unit_frame, [("unit", i) for i in range(len(feats))])

    def _tile_frames(self, batch: Any, n_tiles: int) -> list[int]:
        """Frame of each tile, read off the expanded prompt: a frame's last run of image
        tokens (its global view, or the whole frame when it is not split) follows
        ``<global-img>``."""
        ids = batch["input_ids"][0].tolist()
        image_id = self.placeholder_id
        global_id = self.tokenizer.convert_tokens_to_ids(
            getattr(self.processor, "global_image_token", "<global-img>")
        )
        out, frame = [], 0
        for i, tok in enumerate(ids):
            if tok == image_id and (i == 0 or ids[i - 1] != image_id):  # a run starts
                out.append(frame)
                if i > 0 and ids[i - 1] == global_id:
                    frame += 1
        if len(out) != n_tiles:
            raise ModelError(
                f"The prompt has {len(out)} image-token runs but the encoder made {n_tiles} "
                "tiles; the checkpoint's processor and model configs disagree."
            )
        return out


class _QwenFamily(_Family):
    """Qwen2-VL / Qwen2.5-VL: native-resolution patches merged 2x2, M-RoPE positions."""

    model_types = ("qwen2_vl", "qwen2_5_vl")
    template_file = "qwen2_vl.jinja"  # Qwen2.5-VL ships the same template

    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        inner = self.model.model
        visual = inner.visual
        merge = visual.spatial_merge_size
        thw_all = batch["image_grid_thw"]
        patches = thw_all.prod(-1).tolist()
        offsets = [0]
        for n in patches:
            offsets.append(offsets[-1] + n)
        pixel_values = batch["pixel_values"].to(self.model.dtype)
        feats, grids, imps = [], [], []
        for start in range(0, len(patches), self.chunk):
            stop = min(start + self.chunk, len(patches))
            thw = thw_all[start:stop]
            pv = pixel_values[offsets[start] : offsets[stop]]
            captured: dict[str, Any] = {}
            handle = None
            if importance:

                def hook(module: Any, args: tuple, kwargs: dict, store: dict = captured) -> None:
                    store["args"], store["kwargs"] = args, kwargs

                handle = visual.blocks[-1].attn.register_forward_pre_hook(hook, with_kwargs=True)
            try:
                out = inner.get_image_features(pv, thw)
            finally:
                if handle is not None:
                    handle.remove()
            feats.extend(out.pooler_output)
            grids.extend((int(h) // merge, int(w) // merge) for _, h, w in thw.tolist())
            if importance:
                imps.extend(self._importance(captured, thw))
        unit_frame = list(range(len(feats)))
        tokens = VisualTokens(feats, grids, _frame_runs(clips), imps or None)
        return EncodedFrames(tokens, unit_frame, [("unit", i) for i in range(len(feats))])

    def _importance(self, captured: dict, thw: Any) -> list:
        """Mean received attention in the last vision block, per merged token, raster order."""
        torch = require("torch", "vlm", "The VLM")
        from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

        visual = self.model.model.visual
        attn = visual.blocks[-1].attn
        hidden = captured["kwargs"].get("hidden_states", captured["args"][0])
        cu = captured["kwargs"].get("cu_seqlens")
        cos, sin = captured["kwargs"]["position_embeddings"]
        n = hidden.shape[0]
        with torch.no_grad():
            q, k, _ = (
                attn.qkv(hidden).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            )
            q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
            received = torch.zeros(n, device=hidden.device)
            bounds = cu.tolist()
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                received[a:b] = _received_attention(q[a:b].transpose(0, 1), k[a:b].transpose(0, 1))
        unit = visual.spatial_merge_size**2
        per_token = received.view(-1, unit).sum(-1)
        if getattr(visual, "window_size", None):  # Qwen2.5-VL runs blocks in window order
            from transformers.vision_utils import get_vision_window_index

            window_index, _ = get_vision_window_index(
                thw,
                spatial_merge_size=visual.spatial_merge_size,
                window_size=visual.window_size,
                patch_size=visual.patch_size,
            )
            per_token = per_token[torch.argsort(window_index)]
        sizes = (thw.prod(-1) // unit).tolist()
        return list(torch.split(per_token, sizes))

    def positions(self, batch: Any) -> Any:
        """M-RoPE (temporal, row, col) positions of the full prompt, [3, 1, length], computed
        by the model's own ``get_rope_index``; dropped tokens later leave gaps, kept ones keep
        their place."""
        positions, _ = self.model.model.get_rope_index(
            batch["input_ids"],
            mm_token_type_ids=batch["mm_token_type_ids"],
            image_grid_thw=batch["image_grid_thw"],
            attention_mask=batch.get("attention_mask"),
        )
        return positions

    def next_positions(self, positions: Any, step: int) -> Any:
        return (positions.amax() + step).reshape(1, 1, 1).expand(3, 1, 1)


class _LlavaOnevisionFamily(_Family):
    """LLaVA-OneVision: each clip is a video (SigLIP patches, projector, 2x2 bilinear pooling
    per frame, one newline token after the clip). Its chat template puts all videos before
    the text, so clip times are listed in words."""

    model_types = ("llava_onevision",)
    template_file = "llava_onevision.jinja"

    @property
    def placeholder_id(self) -> int:
        return int(self.model.config.video_token_id)

    def content(self, clips: Sequence[VisualClip], text: str) -> list[dict[str, Any]]:
        spans = "".join(
            f"Video {ci + 1}: {len(c.frames)} frames from {clock(min(c.timestamps))} to "
            f"{clock(max(c.timestamps))}.\n"
            for ci, c in enumerate(clips)
        )
        return [{"type": "video"} for _ in clips] + [{"type": "text", "text": spans + text}]

    def media(self, clips: Sequence[VisualClip]) -> dict[str, Any]:
        import numpy as np

        return {"videos": [np.stack(list(c.frames)) for c in clips]}

    def processed(self, text: str, media: dict[str, Any]) -> Any:
        """As the processor gives it, but clips of different lengths stay a list of videos
        (one batch tensor cannot hold them)."""
        torch = require("torch", "vlm", "The VLM")
        out = self.processor(text=[text], **media)
        batch = {k: torch.as_tensor(v) for k, v in out.items() if k != "pixel_values_videos"}
        batch["pixel_values_videos"] = [torch.as_tensor(v) for v in out["pixel_values_videos"]]
        return batch

    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        torch = require("torch", "vlm", "The VLM")
        inner = self.model.model
        cfg = self.model.config
        layer = cfg.vision_feature_layer
        n_layers = cfg.vision_config.num_hidden_layers
        # hidden_states[layer] is the output of encoder layer (layer - 1) (index 0 = embeddings).
        attn_layer = (layer if layer >= 0 else n_layers + 1 + layer) - 1
        probe = None
        if importance:
            tower = getattr(inner.vision_tower, "vision_model", inner.vision_tower)
            probe = _SigLipAttentionProbe(tower.encoder.layers[attn_layer].self_attn)
        feats: list[Any] = []
        layout: list[tuple[str, Any]] = []
        try:
            for vi, _clip in enumerate(clips):
                video = batch["pixel_values_videos"][vi].to(self.model.dtype)[None]
                per_frame_all = []
                for start in range(0, video.shape[1], self.chunk):
                    out = inner.get_video_features(
                        video[:, start : start + self.chunk],
                        vision_feature_layer=layer,
                        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
                    )
                    chunk = out.pooler_output[0, :-1]  # the last token is the newline
                    n = min(self.chunk, video.shape[1] - start)
                    per_frame_all.extend(chunk.view(n, -1, chunk.shape[-1]))
                for f in per_frame_all:
                    layout.append(("unit", len(feats)))
                    feats.append(f)
                layout.append(("fixed", inner.image_newline[None, :]))
        finally:
            if probe is not None:
                probe.close()
        side = int(round(math.sqrt(feats[0].shape[0])))
        imps = None
        if probe is not None:
            size = cfg.vision_config.image_size
            patches = size // cfg.vision_config.patch_size
            imps = []
            for r in probe.results:
                if r.shape[0] != patches * patches:  # a CLS token first
                    r = r[-patches * patches :]
                pooled = torch.nn.functional.interpolate(
                    r.view(1, 1, patches, patches), size=(side, side), mode="bilinear"
                )
                imps.append(pooled.flatten())
        tokens = VisualTokens(feats, [(side, side)] * len(feats), _frame_runs(clips), imps)
        return EncodedFrames(tokens, list(range(len(feats))), layout)


_FAMILIES: tuple[type[_Family], ...] = (_PixelShuffleFamily, _QwenFamily, _LlavaOnevisionFamily)
SUPPORTED_MODEL_TYPES = tuple(t for f in _FAMILIES for t in f.model_types)


# --------------------------------------------------------------------------- transformers backend


class TransformersVLM(VisionLanguageModel):
    """Any supported transformers VLM loaded from a local directory (CPU float32, or a GPU in
    half precision, see :mod:`viewfinder.tools.device`).

    Prompts are rendered with the checkpoint's own chat template and expanded by its own
    processor, so the language model sees the token sequence its reference pipeline
    (``processor.apply_chat_template`` + ``processor(text=..., images=...)`` +
    ``model.generate``) would give it; only the visual tokens the compressor drops are removed,
    and every kept token keeps its original position.
    """

    BACKEND_NAME: ClassVar[str] = "transformers"

    def __init__(
        self,
        path: Path,
        compressor: str = "diversity",
        budget: int = 1024,
        threads: int = 2,
        split_images: bool = False,
        device: str = "auto",
    ) -> None:
        torch = require("torch", "vlm", "The VLM")
        transformers = require("transformers", "vlm", "The VLM")
        placement = pick_device(device)  # a bad device fails before the weights load
        if compressor not in COMPRESSORS:
            raise UnknownCompressorError(
                f"Unknown visual-token compressor {compressor!r}; valid names are "
                f"{list(COMPRESSORS)}."
            )
        torch.set_num_threads(threads)
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        family = next((f for f in _FAMILIES if config.model_type in f.model_types), None)
        if family is None:
            raise ModelError(
                f"{path} holds a {config.model_type!r} model; the VLM backend supports "
                f"{list(SUPPORTED_MODEL_TYPES)}. Pass a SmolVLM2, Qwen2.5-VL or LLaVA-OneVision "
                "checkpoint."
            )
        processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        if not getattr(processor, "chat_template", None):
            processor.chat_template = family.stored_chat_template()
            logger.info("%s has no chat template; using the stored %s one", path, family.__name__)
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            path, dtype=placement.torch_dtype(), local_files_only=True
        ).eval()
        model.to(placement.device)
        self.placement = placement
        self.path = Path(path)
        self.compressor = compressor
        self.budget = budget
        self.family = family(
            model,
            processor,
            split_images=split_images,
            chunk=placement.batch(ENCODE_CHUNK, GPU_ENCODE_CHUNK),
        )
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer

    # -- public
    def answer(
        self,
        clips: Sequence[VisualClip],
        question: str,
        options: Sequence[str] | None = None,
        evidence: Sequence[Evidence] = (),
        budget: int | None = None,
        max_new_tokens: int = 48,
    ) -> VLMAnswer:
        if not clips:
            raise InvalidQuestionError("No clips given; pass at least one clip of frames.")
        _question_text(question, options)  # validate before the slow encoder
        t0 = time.perf_counter()
        encoded = self.encode(clips)
        vision = time.perf_counter() - t0
        ans = self.answer_encoded(
            clips, encoded, question, options, evidence, budget, max_new_tokens
        )
        ans.seconds = {"vision": vision, **ans.seconds}
        return ans

    def encode(self, clips: Sequence[VisualClip]) -> EncodedFrames:
        """Run the vision encoder + projector once (reusable for several questions/budgets)."""
        torch = require("torch", "vlm", "The VLM")
        if not clips:
            raise InvalidQuestionError("No clips given; pass at least one clip of frames.")
        media = self.family.media(clips)
        batch = self._processed(self.prompt(clips, "", None), media)
        with torch.inference_mode():
            encoded = self.family.encode(batch, clips, importance=self.compressor == "attention")
        encoded.media = media
        return encoded

    def prompt(
        self,
        clips: Sequence[VisualClip],
        question_text: str,
        options: Sequence[str] | None,
        evidence: Sequence[Evidence] = (),
    ) -> str:
        """The chat-template text of a question (visual placeholders not yet expanded)."""
        text = _evidence_lines(evidence) + question_text
        messages = [{"role": "user", "content": self.family.content(clips, text)}]
        rendered = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return rendered + (self.family.answer_prefix if options is not None else "")

    def answer_encoded(
        self,
        clips: Sequence[VisualClip],
        encoded: EncodedFrames,
        question: str,
        options: Sequence[str] | None = None,
        evidence: Sequence[Evidence] = (),
        budget: int | None = None,
        max_new_tokens: int = 48,
    ) -> VLMAnswer:
        """:meth:`answer` from frames already passed through :meth:`encode`."""
        torch = require("torch", "vlm", "The VLM")
        budget = self.budget if budget is None else budget
        prompt_q = _question_text(question, options)
        seconds: dict[str, float] = {}
        batch = self._processed(self.prompt(clips, prompt_q, options, evidence), encoded.media)
        with torch.inference_mode():
            t0 = time.perf_counter()
            kept = compress(encoded.tokens, budget, self.compressor)
            seconds["compress"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            embeds, positions = self._assemble(batch, encoded, kept)
            out = self.family.language_model(
                inputs_embeds=embeds,
                position_ids=positions,
                # Explicit: without a mask, transformers reads the gaps dropped tokens leave
                # in the positions as boundaries of packed sequences and blocks attention.
                attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device),
                use_cache=options is None,
            )
            logits = self.model.lm_head(out.last_hidden_state[:, -1])[0].float()
            seconds["prefill"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if options is not None:
                choice, probs = self._score_letters(logits, len(options))
                text = options[LETTERS.index(choice)]
            else:
                choice, probs = None, {}
                text = self._greedy(logits, out.past_key_values, positions, max_new_tokens)
            seconds["decode"] = time.perf_counter() - t0
        per_frame = [0] * (max(encoded.unit_frame) + 1)
        for unit, n in enumerate(kept.per_image):
            per_frame[encoded.unit_frame[unit]] += n
        return VLMAnswer(
            text=text,
            choice=choice,
            probabilities=probs,
            visual_tokens=kept.kept,
            tokens_per_image=per_frame,
            visual_tokens_before=encoded.tokens.total,
            prompt_tokens=int(embeds.shape[1]),
            compressor=self.compressor,
            seconds=seconds,
        )

    # -- internals
    def _processed(self, text: str, media: dict[str, Any]) -> Any:
        """``processor(text=..., images=...)``: the prompt with every placeholder expanded."""
        batch = self.family.processed(text, media)
        device = self.placement.device
        return {
            k: [t.to(device) for t in v] if isinstance(v, list) else v.to(device)
            for k, v in dict(batch).items()
            if hasattr(v, "to") or isinstance(v, list)
        }

    def keep_mask(self, batch: Any, encoded: EncodedFrames, kept: Compressed) -> Any:
        """Which prompt tokens the language model sees: all text, the kept visual tokens."""
        torch = require("torch", "vlm", "The VLM")
        ids = batch["input_ids"][0]
        slots = (ids == self.family.placeholder_id).nonzero().flatten()
        expected = sum(
            encoded.tokens.grids[v][0] * encoded.tokens.grids[v][1] if k == "unit" else 1
            for k, v in encoded.layout
        )
        if slots.numel() != expected:
            raise ModelError(
                f"The processor expanded {slots.numel()} visual placeholders but the encoder "
                f"made {expected} tokens; the checkpoint's processor and model configs disagree."
            )
        keep = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
        at = 0
        for kind, value in encoded.layout:
            if kind == "fixed":
                at += 1
                continue
            rows, cols = encoded.tokens.grids[value]
            run = slots[at : at + rows * cols]
            keep[run] = False
            keep[run[kept.index[value]]] = True
            at += rows * cols
        return keep

    def _assemble(self, batch: Any, encoded: EncodedFrames, kept: Compressed) -> tuple[Any, Any]:
        """Input embeddings with exactly the kept visual tokens, and their original positions."""
        ids = batch["input_ids"][0]
        keep = self.keep_mask(batch, encoded, kept)
        embeds = self.family.embed(ids[None])[0].clone()
        slots = (ids == self.family.placeholder_id).nonzero().flatten()
        at = 0
        for kind, value in encoded.layout:
            if kind == "fixed":
                embeds[slots[at]] = value[0].to(embeds.dtype)
                at += 1
                continue
            rows, cols = encoded.tokens.grids[value]
            run = slots[at : at + rows * cols]
            embeds[run[kept.index[value]]] = kept.features[value].to(embeds.dtype)
            at += rows * cols
        positions = self.family.positions(batch)
        return embeds[keep][None], self.family.select_positions(positions, keep)

    def _letter_ids(self, n: int) -> list[int]:
        ids = []
        for letter in LETTERS[:n]:
            tokens = self.tokenizer.encode(letter, add_special_tokens=False)
            if len(tokens) != 1:
                raise ModelError(
                    f"The tokenizer splits option letter {letter!r} into "
                    f"{len(tokens)} tokens; option scoring needs single tokens."
                )
            ids.append(tokens[0])
        return ids

    def _score_letters(self, logits: Any, n: int) -> tuple[str, dict[str, float]]:
        torch = require("torch", "vlm", "The VLM")
        probs = torch.softmax(logits[self._letter_ids(n)], dim=0)
        best = int(probs.argmax())
        return LETTERS[best], {LETTERS[i]: float(p) for i, p in enumerate(probs)}

    def _greedy(self, logits: Any, cache: Any, positions: Any, max_new_tokens: int) -> str:
        stop = {self.tokenizer.eos_token_id, *self._stop_ids()} - {None}
        generated: list[int] = []
        for step in range(1, max_new_tokens + 1):
            token = int(logits.argmax())
            if token in stop:
                break
            generated.append(token)
            ids = require("torch", "vlm", "The VLM").tensor([[token]], device=logits.device)
            out = self.family.language_model(
                inputs_embeds=self.family.embed(ids),
                cache=cache,
                use_cache=True,
                position_ids=self.family.next_positions(positions, step),
            )
            cache = out.past_key_values
            logits = self.model.lm_head(out.last_hidden_state[:, -1])[0]
        return self.tokenizer.decode(generated, skip_special_tokens=True).strip()

    def _stop_ids(self) -> list[int]:
        ids = []
        for tok in ("<end_of_utterance>", "<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.append(tid)
        return ids


def _transformers_backend() -> type[VisionLanguageModel] | None:
    ok = all(importlib.util.find_spec(m) is not None for m in ("transformers", "torch"))
    return TransformersVLM if ok else None


AVAILABLE_BACKENDS: dict[str, type[VisionLanguageModel]] = {
    b.BACKEND_NAME: b for b in filter(None, [_transformers_backend()])
}


def load_vlm(
    name_or_path: str,
    compressor: str = "diversity",
    budget: int = 1024,
    threads: int = 2,
    cache_dir: Path | None = None,
    split_images: bool = False,
    device: str = "auto",
) -> VisionLanguageModel:
    """Load a VLM by registry name (e.g. ``HuggingFaceTB/SmolVLM2-2.2B-Instruct``) or local dir.

    Args:
        name_or_path: a ``vlm`` registry name (resolved in the local Hugging Face cache,
            never downloaded) or a path to a transformers model directory.
        compressor: visual-token compressor, one of :data:`~viewfinder.tools.compress.COMPRESSORS`.
        budget: default number of visual tokens the language model sees per answer.
        threads: CPU threads for torch.
        cache_dir: viewfinder cache root (None: the default).
        split_images: SmolVLM / Idefics3 only: split frames into tiles as the checkpoint's
            image processor does for still images (13x the tokens of a 360p frame), instead
            of one view per frame as its video path does.
        device: ``"auto"`` (a CUDA GPU in bfloat16/float16 if there is one, else the CPU in
            float32), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        DeviceError: ``device`` is not a device name or does not exist here.
        UnknownCompressorError: unknown ``compressor`` (the message lists the valid names).
        UnknownModelError / ModelNotInstalledError: the name is not registered / not on disk.
        MissingDependencyError: transformers or torch is not installed.
    """
    if compressor not in COMPRESSORS:
        raise UnknownCompressorError(
            f"Unknown visual-token compressor {compressor!r}; valid names are {list(COMPRESSORS)}."
        )
    if not AVAILABLE_BACKENDS:
        raise MissingDependencyError("transformers", "vlm", "Answering from frames with a VLM")
    resolved = resolve("vlm", name_or_path, cache_dir)
    backend = AVAILABLE_BACKENDS["transformers"]
    logger.info(
        "Loading VLM %s from %s (compressor=%s, budget=%d)",
        name_or_path,
        resolved.path,
        compressor,
        budget,
    )
    return backend(
        resolved.path,
        compressor=compressor,
        budget=budget,
        threads=threads,
        split_images=split_images,
        device=device,
    )


__all__ = [
    "AVAILABLE_BACKENDS",
    "SUPPORTED_MODEL_TYPES",
    "TransformersVLM",
    "VLMAnswer",
    "VisionLanguageModel",
    "VisualClip",
    "load_vlm",
]
