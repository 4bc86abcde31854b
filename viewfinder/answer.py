"""What a question returns: the answer, its evidence with timestamps, and what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Modality = Literal["speech", "text", "visual"]


@dataclass(frozen=True)
class Evidence:
    """A moment of the video that supports the answer."""

    start: float  # seconds
    end: float  # seconds
    modality: Modality
    text: str  # what was said / written, or a description of what was seen
    score: float = 0.0  # relevance to the question and answer (higher is better)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "modality": self.modality,
            "text": self.text,
        }


@dataclass
class Answer:
    """The result of :meth:`viewfinder.VideoQA.ask`."""

    text: str  # the answer in words (for multiple choice: the chosen option's text)
    choice: str | None = None  # "A".."F" for multiple-choice questions, else None
    confidence: float = 0.0  # 0..1
    evidence: list[Evidence] = field(default_factory=list)
    # Tokens, frames, resolutions and seconds per stage.
    usage: dict[str, Any] = field(default_factory=dict)
    # Role -> {"name", "path", "sha256"} of each model used (None for unavailable roles).
    models: dict[str, Any] = field(default_factory=dict)
    # Human-readable caveats, e.g. "answered from speech and screen text only (no VLM)".
    notes: list[str] = field(default_factory=list)
    # Step-by-step record of what the strategy did (JSON-serialisable).
    trace: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``ask --json`` object."""
        return {
            "answer": self.text,
            "choice": self.choice,
            "confidence": round(float(self.confidence), 4),
            "evidence": [e.as_dict() for e in self.evidence],
            "usage": self.usage,
            "models": self.models,
            "notes": list(self.notes),
        }


__all__ = ["Answer", "Evidence", "Modality", "asdict"]
