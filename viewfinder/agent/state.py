"""The agent's state: what each node reads and writes. Plain dataclasses, JSON-friendly."""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

# Real imports, not TYPE_CHECKING ones: LangGraph reads QAState's hints at run time
# (typing.get_type_hints) to build its channels. Both modules are light and import no agent code.
from ..answer import Answer, Evidence
from ..indexes.fusion import Span
from .verify import OptionMatch

QueryModality = Literal["speech", "text", "visual"]


@dataclass(frozen=True)
class Plan:
    """Sub-queries per modality and what kind of answer is wanted."""

    # Modality -> things to search for: what may be said / written / seen.
    queries: dict[str, list[str]]
    answer_type: Literal["choice", "open"]
    # "llm" when a model wrote the sub-queries, "rules" for the deterministic fallback.
    source: str


@dataclass(frozen=True)
class KeyClip:
    """A short coherent segment chosen as evidence."""

    start: float
    end: float
    # Fused relevance (higher is better).
    score: float
    # Time of the strongest hit inside the clip.
    peak: float
    modality_scores: dict[str, float] = field(default_factory=dict)
    # Why it was chosen ("retrieved", "neighbour of ...").
    reason: str = "retrieved"


@dataclass(frozen=True)
class FramePlan:
    """Frames to take from one key clip, and at what size."""

    clip_index: int
    times: list[float]
    # Longest side of each frame, pixels.
    side: int
    # Visual tokens these frames cost.
    tokens: int


@dataclass(frozen=True)
class Crop:
    """A zoomed region: box in 0..1 coordinates of the frame at ``time``."""

    time: float
    box: tuple[float, float, float, float]
    side: int
    tokens: int
    reason: str


@dataclass(frozen=True)
class Allocation:
    """How the visual-token budget was spent."""

    frames: list[FramePlan]
    crops: list[Crop]
    # Tokens spent (never more than ``budget``).
    tokens: int
    budget: int
    # Indexes of key clips that could not afford a frame.
    dropped: list[int] = field(default_factory=list)


@dataclass
class QAState:
    """Graph state. Nodes return partial updates; ``trace`` accumulates across steps."""

    question: str
    options: list[str] | None = None
    # Look-again round, starting at 0.
    step: int = 0
    plan: Plan | None = None
    # Sub-queries added by reflection (new wording, option texts, ...).
    extra_queries: list[str] = field(default_factory=list)
    # How far retrieval reaches: more spans and neighbouring clips on each look-again.
    reach: int = 1
    # Fused retrieval spans, best first.
    spans: list[Span] = field(default_factory=list)
    # Per option, its closest passage in the transcript / screen text.
    option_matches: list[OptionMatch] = field(default_factory=list)
    clips: list[KeyClip] = field(default_factory=list)
    allocation: Allocation | None = None
    # Zoom depth: 0 = none, 1 = text boxes, 2 = tighter crops on more regions.
    zoom_depth: int = 1
    evidence: list[Evidence] = field(default_factory=list)
    # The search's best single speech / screen-text hits (AgentOptions.direct_passages).
    direct: list[Evidence] = field(default_factory=list)
    answer: Answer | None = None
    # Whether a passage backs ``answer`` (agent/grounding.py): then looking again cannot help.
    answer_backed: bool = False
    # Every passage that backed some option or answer so far, as [start, modality, text].
    backing: list[list[Any]] = field(default_factory=list)
    # Whether the last look found a backing passage no earlier look had (the first look: True).
    found_new: bool = True
    trace: Annotated[list[dict[str, Any]], operator.add] = field(default_factory=list)


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples and floats made JSON-friendly for traces."""
    if hasattr(value, "__dataclass_fields__"):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value
