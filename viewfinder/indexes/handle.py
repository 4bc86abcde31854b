"""The loaded indexes of one video and their search API (one modality at a time, or fused)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runtime import Models
from ..settings import Settings
from ..tools.shots import Clip
from .fusion import Hit, Span, fuse, rrf_scores
from .screen_text import ScreenTextIndex, TextSpan
from .store import VideoStore
from .transcript import SpeechIndex, SpeechSegment


class IndexHandle:
    """All indexes of one video, loaded; search them one by one or fused.

    Attributes:
        info: ``tools.video.VideoInfo`` of the video.
        store: Its :class:`VideoStore`.
        clips: Shot-bounded clips.
        available: Modality -> ``"ok"`` or the reason it is missing.
        work: Part -> what this call did: ``"loaded"``, ``"built"`` or ``"resumed"``.
        seconds: Stage -> seconds spent in this call.
        models: The ``runtime.Models`` that encodes queries (text embedder, CLIP text tower):
            the one it was built with, so searching loads nothing a second time.
    """

    def __init__(
        self,
        info: Any,
        store: VideoStore,
        clips: list[Clip],
        speech: SpeechIndex | None,
        screen_text: ScreenTextIndex | None,
        visual: Any,
        available: dict[str, str],
        work: dict[str, str],
        seconds: dict[str, float],
        settings: Settings,
        models: Models | None = None,
    ) -> None:
        self.info = info
        self.store = store
        self.clips = clips
        self.speech = speech
        self.screen_text = screen_text
        self.visual = visual
        self.available = available
        self.work = work
        self.seconds = seconds
        self.settings = settings
        # Serves the query-side models (CLIP text encoder, text embedder) at search time.
        self.models = models if models is not None else Models(settings)

    def __repr__(self) -> str:
        return (
            f"IndexHandle({self.info.path.name}, {len(self.clips)} clips, "
            f"available={self.available})"
        )

    @property
    def speech_segments(self) -> list[SpeechSegment]:
        """Transcript segments ([] without speech)."""
        return self.speech.segments if self.speech is not None else []

    @property
    def text_spans(self) -> list[TextSpan]:
        """On-screen text spans ([] without OCR)."""
        return self.screen_text.spans if self.screen_text is not None else []

    def search_speech(self, query: str, k: int = 10) -> list[Hit]:
        """Transcript segments matching ``query`` (BM25 + embeddings)."""
        return self.speech.search(query, k) if self.speech is not None else []

    def search_text(self, query: str, k: int = 10) -> list[Hit]:
        """On-screen text spans matching ``query``."""
        return self.screen_text.search(query, k) if self.screen_text is not None else []

    def search_visual(self, query: str, k: int = 10, level: str = "frame") -> list[Hit]:
        """Frames (or clips) whose CLIP embedding matches ``query`` ([] without CLIP)."""
        if self.visual is None:
            return []
        from .visual import open_embedder

        embedder = open_embedder(self.models)
        if embedder is None:
            return []
        return self.visual.search(query, k, level=level, embedder=embedder)

    def _lists(self, query: str, k: int, modalities: Sequence[str] | None) -> list[list[Hit]]:
        wanted = set(modalities or ("speech", "text", "visual"))
        unknown = wanted - {"speech", "text", "visual"}
        if unknown:
            raise ValueError(f"Unknown modalities {sorted(unknown)}; use speech, text, visual")
        lists = []
        if "speech" in wanted:
            lists.append(self.search_speech(query, k))
        if "text" in wanted:
            lists.append(self.search_text(query, k))
        if "visual" in wanted:
            lists.append(self.search_visual(query, k))
        return [hits for hits in lists if hits]

    def search(self, query: str, k: int = 10, modalities: Sequence[str] | None = None) -> list[Hit]:
        """Hits of all (or the given) modalities, ordered by reciprocal-rank fusion.

        Returns:
            At most ``k`` hits; each keeps its modality and source, ``score`` is its RRF score.
        """
        scored = rrf_scores(self._lists(query, k, modalities))
        scored.sort(key=lambda hs: (-hs[1], hs[0].start))
        return [
            Hit(h.start, h.end, h.modality, h.text, s, r, h.source)
            for r, (h, s) in enumerate(scored[:k])
        ]

    def search_spans(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        modalities: Sequence[str] | None = None,
        gap: float = 1.0,
    ) -> list[Span]:
        """Fused time spans for one query or several sub-queries, best first."""
        queries = [queries] if isinstance(queries, str) else list(queries)
        lists = [hits for q in queries for hits in self._lists(q, k, modalities)]
        return fuse(lists, gap=gap, limit=k)
