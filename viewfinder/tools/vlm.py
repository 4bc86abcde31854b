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

logger = logging.getLogger(__name__)

# Frames encoded per vision-encoder call (bounds peak memory, not results).
ENCODE_CHUNK = 8


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


@dataclass
class EncodedFrames:
    """Projected visual tokens of all frames, before compression."""

    tokens: VisualTokens
    # Extra embeddings appended after each clip's frames (LLaVA-OneVision's newline), or None.
    clip_suffix: Any = None


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


class _Family:
    """How one transformers VLM family encodes frames and lays out its prompt."""

    model_types: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor

    # -- language model pieces
    @property
    def language_model(self) -> Any:
        inner = self.model.model
        return getattr(inner, "text_model", None) or inner.language_model

    def embed(self, ids: Any) -> Any:
        return self.model.get_input_embeddings()(ids)

    @abstractmethod
    def encode(self, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        """Vision encoder + projector over every frame; importance from encoder attention."""

    @abstractmethod
    def frame_text(self, timestamp: float) -> tuple[str, str]:
        """Text around one frame's visual tokens: (before, after)."""

    @abstractmethod
    def chat(self, user: str, assistant_prefix: str) -> tuple[str, str]:
        """Split the chat-formatted turn into text before and after the ``<visual>`` marker."""

    image_token: ClassVar[str] = ""

    def positions(
        self, segments: list[tuple[str, Any]], kept: Compressed, grids: Sequence[tuple[int, int]]
    ) -> Any:
        """1D positions: [1, length]."""
        torch = require("torch", "vlm", "The VLM")
        length = sum(_segment_len(s, kept) for s in segments)
        return torch.arange(length)[None]

    def next_positions(self, positions: Any, step: int) -> Any:
        return positions.reshape(-1, positions.shape[-1])[..., -1:] + step


def _segment_len(segment: tuple[str, Any], kept: Compressed) -> int:
    kind, value = segment
    if kind == "text":
        return int(value.numel())
    if kind == "image":
        return kept.per_image[value]
    return int(value.shape[0])  # "embeds"


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
    """SmolVLM / SmolVLM2 / Idefics3: SigLIP + pixel shuffle; frames are not split into tiles."""

    model_types = ("smolvlm", "idefics3")
    image_token = "<image>"

    def encode(self, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        torch = require("torch", "vlm", "The VLM")
        inner = self.model.model
        frames = [f for c in clips for f in c.frames]
        clip_of = [i for i, c in enumerate(clips) for _ in c.frames]
        batch = self.image_processor(
            images=[[f] for f in frames], do_image_splitting=False, return_tensors="pt"
        )
        pixel_values = batch["pixel_values"].to(self.model.dtype)
        pixel_mask = batch.get("pixel_attention_mask")
        vision = inner.vision_model
        probe = _SigLipAttentionProbe(vision.encoder.layers[-1].self_attn) if importance else None
        feats, imps = [], []
        try:
            for start in range(0, len(frames), ENCODE_CHUNK):
                pv = pixel_values[start : start + ENCODE_CHUNK].flatten(0, 1)
                if pixel_mask is not None:
                    pm = pixel_mask[start : start + ENCODE_CHUNK].flatten(0, 1).bool()
                else:
                    pm = torch.ones((pv.shape[0], pv.shape[2], pv.shape[3]), dtype=torch.bool)
                p = vision.patch_size
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
        side = int(round(math.sqrt(feats[0].shape[0])))
        return EncodedFrames(
            VisualTokens(feats, [(side, side)] * len(feats), clip_of, imps or None)
        )

    def frame_text(self, timestamp: float) -> tuple[str, str]:
        return (
            f"Frame from {clock(timestamp)}:<fake_token_around_image><global-img>",
            "<fake_token_around_image>",
        )

    def chat(self, user: str, assistant_prefix: str) -> tuple[str, str]:
        return f"<|im_start|>User:{user}<end_of_utterance>\nAssistant: {assistant_prefix}", ""


class _QwenFamily(_Family):
    """Qwen2-VL / Qwen2.5-VL: native-resolution patches merged 2x2, M-RoPE positions."""

    model_types = ("qwen2_vl", "qwen2_5_vl")
    image_token = "<|image_pad|>"

    def encode(self, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        inner = self.model.model
        visual = inner.visual
        merge = visual.spatial_merge_size
        frames = [f for c in clips for f in c.frames]
        clip_of = [i for i, c in enumerate(clips) for _ in c.frames]
        feats, grids, imps = [], [], []
        for start in range(0, len(frames), ENCODE_CHUNK):
            batch = self.image_processor(
                images=list(frames[start : start + ENCODE_CHUNK]), return_tensors="pt"
            )
            thw = batch["image_grid_thw"]
            captured: dict[str, Any] = {}
            handle = None
            if importance:

                def hook(module: Any, args: tuple, kwargs: dict, store: dict = captured) -> None:
                    store["args"], store["kwargs"] = args, kwargs

                handle = visual.blocks[-1].attn.register_forward_pre_hook(hook, with_kwargs=True)
            try:
                out = inner.get_image_features(batch["pixel_values"].to(self.model.dtype), thw)
            finally:
                if handle is not None:
                    handle.remove()
            feats.extend(out.pooler_output)
            grids.extend((int(h) // merge, int(w) // merge) for _, h, w in thw.tolist())
            if importance:
                imps.extend(self._importance(captured, thw))
        return EncodedFrames(VisualTokens(feats, grids, clip_of, imps or None))

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
            received = torch.zeros(n)
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

    def frame_text(self, timestamp: float) -> tuple[str, str]:
        return f"Frame from {clock(timestamp)}: <|vision_start|>", "<|vision_end|>"

    def chat(self, user: str, assistant_prefix: str) -> tuple[str, str]:
        return (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{assistant_prefix}",
            "",
        )

    def positions(
        self, segments: list[tuple[str, Any]], kept: Compressed, grids: Sequence[tuple[int, int]]
    ) -> Any:
        """M-RoPE (temporal, row, col) positions, [3, 1, length], for the kept tokens only.

        As ``get_rope_index``: text advances all three by one; an image's tokens sit at
        ``start + (0, row, col)`` of their original grid cell, and the text after it starts at
        ``start + max(rows, cols)``. Dropped tokens leave gaps, kept ones keep their place.
        """
        torch = require("torch", "vlm", "The VLM")
        parts, p = [], 0
        for kind, value in segments:
            if kind == "image":
                rows, cols = grids[value]
                idx = kept.index[value]
                r, c = idx // cols, idx % cols
                parts.append(torch.stack([torch.full_like(r, p), p + r, p + c]))
                p += max(rows, cols)
            else:
                n = _segment_len((kind, value), kept)
                parts.append(torch.arange(p, p + n).expand(3, n))
                p += n
        return torch.cat(parts, dim=1)[:, None, :]

    def next_positions(self, positions: Any, step: int) -> Any:
        return (positions.amax() + step).reshape(1, 1, 1).expand(3, 1, 1)


class _LlavaOnevisionFamily(_Family):
    """LLaVA-OneVision: SigLIP patches, projector, 2x2 bilinear pooling per frame (video path)."""

    model_types = ("llava_onevision",)
    image_token = "<video>"

    def encode(self, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        torch = require("torch", "vlm", "The VLM")
        inner = self.model.model
        cfg = self.model.config
        size = cfg.vision_config.image_size
        mean = torch.tensor(self.image_processor.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_processor.image_std).view(1, 3, 1, 1)
        layer = cfg.vision_feature_layer
        n_layers = cfg.vision_config.num_hidden_layers
        # hidden_states[layer] is the output of encoder layer (layer - 1) (index 0 = embeddings).
        attn_layer = (layer if layer >= 0 else n_layers + 1 + layer) - 1
        frames = [f for c in clips for f in c.frames]
        clip_of = [i for i, c in enumerate(clips) for _ in c.frames]
        probe = None
        if importance:
            tower = getattr(inner.vision_tower, "vision_model", inner.vision_tower)
            probe = _SigLipAttentionProbe(tower.encoder.layers[attn_layer].self_attn)
        feats = []
        try:
            for start in range(0, len(frames), ENCODE_CHUNK):
                x = (
                    torch.stack(
                        [
                            torch.as_tensor(f).permute(2, 0, 1)
                            for f in frames[start : start + ENCODE_CHUNK]
                        ]
                    ).float()
                    / 255.0
                )
                x = torch.nn.functional.interpolate(
                    x, size=(size, size), mode="bicubic", align_corners=False
                ).clamp(0, 1)
                x = ((x - mean) / std).to(self.model.dtype)
                out = inner.get_video_features(
                    x[None],
                    vision_feature_layer=layer,
                    vision_feature_select_strategy=cfg.vision_feature_select_strategy,
                )
                per_frame = out.pooler_output[0, :-1].view(
                    x.shape[0], -1, out.pooler_output.shape[-1]
                )
                feats.extend(per_frame)
        finally:
            if probe is not None:
                probe.close()
        side = int(round(math.sqrt(feats[0].shape[0])))
        imps = None
        if probe is not None:
            patches = size // cfg.vision_config.patch_size
            imps = []
            for r in probe.results:
                if r.shape[0] != patches * patches:  # a CLS token first
                    r = r[-patches * patches :]
                pooled = torch.nn.functional.interpolate(
                    r.view(1, 1, patches, patches), size=(side, side), mode="bilinear"
                )
                imps.append(pooled.flatten())
        newline = inner.image_newline[None, :]
        return EncodedFrames(
            VisualTokens(feats, [(side, side)] * len(feats), clip_of, imps), clip_suffix=newline
        )

    def frame_text(self, timestamp: float) -> tuple[str, str]:
        return f"Frame from {clock(timestamp)}: ", "\n"

    def chat(self, user: str, assistant_prefix: str) -> tuple[str, str]:
        return (
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{assistant_prefix}",
            "",
        )


_FAMILIES: tuple[type[_Family], ...] = (_PixelShuffleFamily, _QwenFamily, _LlavaOnevisionFamily)
SUPPORTED_MODEL_TYPES = tuple(t for f in _FAMILIES for t in f.model_types)


# --------------------------------------------------------------------------- transformers backend


class TransformersVLM(VisionLanguageModel):
    """Any supported transformers VLM loaded from a local directory (fp32 on CPU)."""

    BACKEND_NAME: ClassVar[str] = "transformers"

    def __init__(
        self, path: Path, compressor: str = "diversity", budget: int = 1024, threads: int = 2
    ) -> None:
        torch = require("torch", "vlm", "The VLM")
        transformers = require("transformers", "vlm", "The VLM")
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
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            path, dtype=torch.float32, local_files_only=True
        ).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        image_processor = transformers.AutoImageProcessor.from_pretrained(
            path, local_files_only=True
        )
        self.path = Path(path)
        self.compressor = compressor
        self.budget = budget
        self.family = family(model, tokenizer, image_processor)
        self.model = model
        self.tokenizer = tokenizer

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
        with torch.inference_mode():
            return self.family.encode(clips, importance=self.compressor == "attention")

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
        assistant = "Best Option: (" if options is not None else ""
        prompt_q = _question_text(question, options)
        seconds: dict[str, float] = {}
        with torch.inference_mode():
            t0 = time.perf_counter()
            kept = compress(encoded.tokens, budget, self.compressor)
            seconds["compress"] = time.perf_counter() - t0
            segments = self._segments(clips, encoded, kept, prompt_q, evidence, assistant)
            t0 = time.perf_counter()
            embeds, positions = self._assemble(segments, kept, encoded.tokens.grids)
            out = self.family.language_model(
                inputs_embeds=embeds, position_ids=positions, use_cache=options is None
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
        return VLMAnswer(
            text=text,
            choice=choice,
            probabilities=probs,
            visual_tokens=kept.kept,
            tokens_per_image=kept.per_image,
            visual_tokens_before=encoded.tokens.total,
            prompt_tokens=int(embeds.shape[1]),
            compressor=self.compressor,
            seconds=seconds,
        )

    # -- internals
    def _ids(self, text: str) -> Any:
        torch = require("torch", "vlm", "The VLM")
        return torch.tensor(self.tokenizer.encode(text, add_special_tokens=False), dtype=torch.long)

    def _segments(
        self,
        clips: Sequence[VisualClip],
        encoded: EncodedFrames,
        kept: Compressed,
        question: str,
        evidence: Sequence[Evidence],
        assistant: str,
    ) -> list[tuple[str, Any]]:
        """The prompt as ("text", ids) / ("image", image index) / ("embeds", tensor) pieces."""
        marker = "\x00VISUAL\x00"
        user = marker + _evidence_lines(evidence) + question
        before, after = self.family.chat(user, assistant)
        head, tail = (before + after).split(marker)
        segments: list[tuple[str, Any]] = [("text", self._ids(head))]
        image = 0
        for ci, clip in enumerate(clips):
            t0, t1 = min(clip.timestamps), max(clip.timestamps)
            segments.append(("text", self._ids(f"Clip {ci + 1} ({clock(t0)}-{clock(t1)}):\n")))
            for ts in clip.timestamps:
                pre, post = self.family.frame_text(ts)
                segments += [("text", self._ids(pre)), ("image", image), ("text", self._ids(post))]
                image += 1
            if encoded.clip_suffix is not None:
                segments.append(("embeds", encoded.clip_suffix))
            segments.append(("text", self._ids("\n")))
        segments.append(("text", self._ids(tail)))
        return [s for s in segments if s[0] != "text" or s[1].numel() > 0]

    def _assemble(
        self, segments: list[tuple[str, Any]], kept: Compressed, grids: Sequence[tuple[int, int]]
    ) -> tuple[Any, Any]:
        """Input embeddings with exactly the kept visual tokens, and matching position ids."""
        torch = require("torch", "vlm", "The VLM")
        parts = []
        for kind, value in segments:
            if kind == "text":
                parts.append(self.family.embed(value))
            elif kind == "image":
                parts.append(kept.features[value])
            else:
                parts.append(value)
        dtype = parts[0].dtype
        embeds = torch.cat([p.to(dtype) for p in parts])[None]
        return embeds, self.family.positions(segments, kept, grids)

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
            ids = require("torch", "vlm", "The VLM").tensor([[token]])
            out = self.family.language_model(
                inputs_embeds=self.family.embed(ids),
                past_key_values=cache,
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
) -> VisionLanguageModel:
    """Load a VLM by registry name (e.g. ``HuggingFaceTB/SmolVLM2-2.2B-Instruct``) or local dir.

    Args:
        name_or_path: a ``vlm`` registry name (resolved in the local Hugging Face cache,
            never downloaded) or a path to a transformers model directory.
        compressor: visual-token compressor, one of :data:`~viewfinder.tools.compress.COMPRESSORS`.
        budget: default number of visual tokens the language model sees per answer.
        threads: CPU threads for torch.
        cache_dir: viewfinder cache root (None: the default).

    Raises:
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
    return backend(resolved.path, compressor=compressor, budget=budget, threads=threads)


__all__ = [
    "AVAILABLE_BACKENDS",
    "SUPPORTED_MODEL_TYPES",
    "TransformersVLM",
    "VLMAnswer",
    "VisionLanguageModel",
    "VisualClip",
    "load_vlm",
]
