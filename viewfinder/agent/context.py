"""Runtime context of one agent run: the video's indexes, loaded models, limits, switches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime import Models
from ..settings import Settings

ABLATIONS = ("no-plan", "no-reflect", "frames-not-clips", "no-zoom", "no-verify")


@dataclass(frozen=True)
class AgentOptions:
    """What the agent may do; the switches turn parts off so evaluation can price them."""

    # Decompose the question into sub-queries per modality (off: search the question as is).
    plan: bool = True
    # Look again when confidence is low (off: answer once).
    reflect: bool = True
    # Spread frames over key clips (off: lone frames at span peaks, the frame-selection way).
    clips: bool = True
    # Zoom into text boxes / CLIP hot spots at full resolution.
    zoom: bool = True
    # Look up each option's own wording in the transcript and screen text (agent/verify.py).
    verify: bool = True
    # Total answer attempts, the first included.
    max_steps: int = 3
    # Below this confidence, look again (if steps remain).
    confidence_threshold: float = 0.6
    # Key clips chosen on the first look (reach widens it on later looks).
    clips_per_step: int = 4
    # A key clip is grown around its peak to at least / at most this many seconds.
    min_clip_seconds: float = 4.0
    max_clip_seconds: float = 20.0
    # Evidence lines shown to the answering model on the first look (more on later looks).
    max_evidence_lines: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentOptions:
        flags = set(settings.flags)
        unknown = flags - set(ABLATIONS)
        if unknown:
            from ..errors import InvalidQuestionError

            raise InvalidQuestionError(
                f"Unknown agent switches {sorted(unknown)}; valid: {list(ABLATIONS)}"
            )
        return cls(
            plan="no-plan" not in flags,
            reflect="no-reflect" not in flags,
            clips="frames-not-clips" not in flags,
            zoom="no-zoom" not in flags,
            verify="no-verify" not in flags,
            max_steps=max(1, settings.max_steps),
        )


@dataclass(frozen=True)
class AgentContext:
    """Everything a node needs besides the state."""

    video: Path
    # ``indexes.build.IndexHandle`` of the video.
    index: Any
    models: Models
    settings: Settings
    options: AgentOptions
    # ``progress(stage, done, total)`` for the CLI's bars (never printing here).
    progress: Callable[[str, float, float], None] | None = None

    def report(self, stage: str, done: float, total: float) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)
