"""The transformers backend: loads a checkpoint, encodes frames once, compresses the visual
tokens, and answers by option likelihood or greedy generation."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ...answer import Evidence
from ...errors import InvalidQuestionError, ModelError, UnknownCompressorError, require
from ...text import LETTERS
from ..compress import COMPRESSORS, Compressed, compress
from ..device import pick_device
from .base import VisionLanguageModel, VisualClip, VLMAnswer
from .families import FAMILIES, SUPPORTED_MODEL_TYPES
from .family import ENCODE_CHUNK, GPU_ENCODE_CHUNK, EncodedFrames
from .prompt import format_question, render_prompt

logger = logging.getLogger(__name__)


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
        family = next((f for f in FAMILIES if config.model_type in f.model_types), None)
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
        format_question(question, options)  # validate before the slow encoder
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
        return render_prompt(self.family, clips, question_text, options, evidence)

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
        prompt_q = format_question(question, options)
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
