"""What every model family adapter provides: the user turn's content, the processor's
inputs, the vision encoder's tokens (:class:`EncodedFrames`) and the prompt's positions."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import require
from ...text import clock
from ..compress import VisualTokens
from .base import VisualClip

# Frames encoded per vision-encoder call (bounds peak memory, not results); a GPU needs more
# at once to be kept busy.
ENCODE_CHUNK = 8
GPU_ENCODE_CHUNK = 64


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


class Family:
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


def frame_runs(clips: Sequence[VisualClip]) -> list[int]:
    return [i for i, c in enumerate(clips) for _ in c.frames]
