"""What a VLM takes and gives: clips of frames in, an answer with its token counts out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...answer import Evidence
from ...errors import InvalidQuestionError


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
