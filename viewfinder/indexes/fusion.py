"""Reciprocal-rank fusion of search hits from several indexes into scored time spans.

Every index (speech, screen text, visual) answers a query with a ranked list of :class:`Hit`.
Scores from different indexes are not comparable (BM25 vs cosine), so fusion uses ranks only:
reciprocal-rank fusion (Cormack et al., 2009) gives each hit ``weight / (k + rank)``. Hits whose
time ranges overlap or nearly touch are merged into one :class:`Span`, which keeps the score
each modality contributed so an answer can explain *why* a moment was chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Modality = Literal["speech", "text", "visual"]
MODALITIES: tuple[Modality, ...] = ("speech", "text", "visual")

# The usual RRF constant: damps the advantage of the very first ranks.
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """One search result from one index: a time range with the text that matched."""

    # Start of the matching range, seconds from the start of the video.
    start: float
    # End of the matching range, seconds.
    end: float
    # Which index produced it.
    modality: Modality
    # The matching transcript segment / on-screen text / caption ("" for visual hits).
    text: str
    # Index-specific score (BM25, cosine, fused); only comparable within one list.
    score: float
    # 0-based rank within the list it came from.
    rank: int
    # Where it came from, e.g. "speech:bm25", "speech:hybrid", "text:embed", "visual:frame".
    source: str


@dataclass(frozen=True)
class Span:
    """A fused, scored time span: the unit retrieval hands to clip selection."""

    # Start, seconds.
    start: float
    # End, seconds.
    end: float
    # Fused reciprocal-rank score (higher is better).
    score: float
    # Fused score contributed by each modality, for explanations.
    modality_scores: Mapping[str, float] = field(default_factory=dict)
    # The hits merged into this span, best first.
    hits: tuple[Hit, ...] = ()

    @property
    def center(self) -> float:
        """Middle of the span, seconds."""
        return (self.start + self.end) / 2

    def contains(self, t: float, tolerance: float = 0.0) -> bool:
        """Whether time ``t`` lies within the span (widened by ``tolerance`` seconds)."""
        return self.start - tolerance <= t <= self.end + tolerance


def rrf_scores(
    ranked_lists: Iterable[Sequence[Hit]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[Hit, float]]:
    """Reciprocal-rank score of every hit in every list (lists may come from sub-queries).

    Args:
        ranked_lists: Each list ordered best first (its own order is used, not ``Hit.rank``).
        k: RRF damping constant.
        weights: Optional per-list weight (default 1.0 each).

    Returns:
        ``(hit, score)`` pairs, one per input hit, in input order.
    """
    out: list[tuple[Hit, float]] = []
    for i, hits in enumerate(ranked_lists):
        w = 1.0 if weights is None else float(weights[i])
        for rank, hit in enumerate(hits):
            out.append((hit, w / (k + rank + 1)))
    return out


def fuse(
    ranked_lists: Iterable[Sequence[Hit]],
    *,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
    gap: float = 1.0,
    limit: int | None = None,
) -> list[Span]:
    """Fuse ranked hit lists into time spans, best first.

    Hits whose ranges overlap or are separated by at most ``gap`` seconds merge into one
    span; the span's score is the sum of its hits' RRF scores, except that one list can only
    contribute its best hit to a span (so a list that returns five neighbouring segments does
    not outvote two lists that agree).

    Args:
        ranked_lists: Ranked hit lists (one per index and per sub-query).
        k: RRF damping constant.
        weights: Optional weight per list.
        gap: Largest gap, in seconds, between hits that still merge.
        limit: Keep at most this many spans.

    Returns:
        Spans sorted by descending score.
    """
    scored = [
        (hit, score, li)
        for li, hits in enumerate(ranked_lists)
        for hit, score in rrf_scores([hits], k, None if weights is None else [weights[li]])
    ]
    scored.sort(key=lambda item: (item[0].start, item[0].end))
    groups: list[list[tuple[Hit, float, int]]] = []
    group_end = float("-inf")
    for item in scored:
        hit = item[0]
        if groups and hit.start <= group_end + gap:
            groups[-1].append(item)
            group_end = max(group_end, hit.end)
        else:
            groups.append([item])
            group_end = hit.end
    spans = [_span_of(group) for group in groups]
    spans.sort(key=lambda s: (-s.score, s.start))
    return spans[:limit] if limit is not None else spans


def _span_of(group: list[tuple[Hit, float, int]]) -> Span:
    best_per_list: dict[int, tuple[Hit, float]] = {}
    for hit, score, li in group:
        if li not in best_per_list or score > best_per_list[li][1]:
            best_per_list[li] = (hit, score)
    per_modality: dict[str, float] = {}
    for hit, score in best_per_list.values():
        per_modality[hit.modality] = per_modality.get(hit.modality, 0.0) + score
    ordered = sorted(group, key=lambda item: -item[1])
    return Span(
        start=min(h.start for h, _, _ in group),
        end=max(h.end for h, _, _ in group),
        score=sum(per_modality.values()),
        modality_scores=per_modality,
        hits=tuple(h for h, _, _ in ordered),
    )

