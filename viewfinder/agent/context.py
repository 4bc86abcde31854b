"""Runtime context of one agent run: the video's indexes, loaded models, limits, switches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..runtime import Models
from ..settings import Settings

if TYPE_CHECKING:
    from ..indexes.fusion import Hit
    from ..indexes.screen_text import TextSpan
    from ..indexes.transcript import SpeechSegment
    from ..tools.shots import Clip
    from ..tools.video import VideoInfo

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
    # The best single speech / screen-text hits of the search, shown whatever clips are
    # chosen: a look never reads less than one pass of retrieval would. On the dev set the
    # agent lost to the retrieve strategy where its clips missed a line the search ranked high
    # (the web address at the end, the manual's URL).
    direct_passages: int = 8
    # Hits asked of each index per sub-query on the first look (times reach on later looks):
    # enough candidates for fusion to agree on, few enough to keep search fast.
    hits_per_query: int = 6
    # Fused spans kept per wanted key clip (times reach): clip growing skips overlapping ones,
    # so it needs several candidates for each clip it keeps.
    spans_per_clip: int = 4
    # Hits closer than this many seconds fuse into one span (a sentence and the frame it names).
    fusion_gap: float = 1.0
    # A passage matching an option's wording at least this closely leads clip selection, ahead
    # of spans many sub-queries agree on: those share the question's words, it holds the option's.
    strong_option_match: float = 0.8
    # Seconds of context kept around a key clip when collecting its speech and screen text.
    evidence_margin: float = 2.0
    # A neighbouring shot added on a wider look scores this fraction of the clip it borders
    # (the answer may sit next door, but less likely than in the clip itself).
    neighbour_score: float = 0.5
    # Sub-queries the text LLM may write: three short lines fit; a longer reply is rambling.
    plan_max_tokens: int = 60
    # Zoom boxes widen per zoom depth by this fraction of their width / multiple of their
    # height: a line's neighbours (above and below) often hold the answer.
    zoom_pad_width: float = 0.15
    zoom_pad_height: float = 1.5
    # Deepest zoom a reflection reaches (wider boxes beyond it read whole screens again).
    max_zoom_depth: int = 2
    # Zoom crops are at least this many pixels each way (a tiny box still gives OCR a line).
    crop_min_side: int = 8

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentOptions:
        flags = set(settings.flags)
        unknown = flags - set(ABLATIONS)
        if unknown:
            from ..errors import SettingsError

            raise SettingsError(
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


@runtime_checkable
class AgentIndex(Protocol):
    """What the agent reads from a video's indexes; ``indexes.build.IndexHandle`` is one.

    The agent depends on this, not on the handle, so a test can hand it a scripted index
    (tests/fakes.py) and another store could serve it.
    """

    @property
    def info(self) -> VideoInfo:
        """The video's probe (duration and frame size bound clips and crops)."""
        ...

    @property
    def clips(self) -> Sequence[Clip]:
        """Shot-bounded clips in time order (key clips snap to them)."""
        ...

    @property
    def available(self) -> dict[str, str]:
        """Modality ("speech", "text", "visual") -> "ok" or why it is missing."""
        ...

    @property
    def speech_segments(self) -> Sequence[SpeechSegment]:
        """Every transcript segment ([] without speech): options are checked against them."""
        ...

    @property
    def text_spans(self) -> Sequence[TextSpan]:
        """Every on-screen text span ([] without OCR)."""
        ...

    def search_speech(self, query: str, k: int = 10) -> list[Hit]:
        """Transcript segments matching ``query``, best first."""
        ...

    def search_text(self, query: str, k: int = 10) -> list[Hit]:
        """On-screen text spans matching ``query``, best first."""
        ...

    def search_visual(self, query: str, k: int = 10) -> list[Hit]:
        """Frames whose picture matches ``query``, best first ([] without CLIP)."""
        ...


@dataclass(frozen=True)
class AgentContext:
    """Everything a node needs besides the state."""

    video: Path
    # The video's indexes (an ``indexes.build.IndexHandle``).
    index: AgentIndex
    models: Models
    settings: Settings
    options: AgentOptions
    # ``progress(stage, done, total)`` for the CLI's bars (never printing here).
    progress: Callable[[str, float, float], None] | None = None

    def report(self, stage: str, done: float, total: float) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)
