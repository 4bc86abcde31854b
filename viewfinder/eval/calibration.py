"""Is the confidence a probability? Reliability table, ECE and confidently-wrong rate.

A row is any mapping with ``confidence`` (0..1) and ``correct`` (bool); rows whose
``correct`` is None (no gold answer) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bin:
    """Answers whose confidence fell in ``[low, high)`` (the last bin includes 1.0)."""

    low: float
    high: float
    # Answers in the bin.
    count: int
    # Their mean confidence (0 when empty).
    confidence: float
    # Share of them that were right (0 when empty).
    accuracy: float


def _scored(rows: Iterable[Mapping[str, Any]]) -> list[tuple[float, bool]]:
    return [
        (min(1.0, max(0.0, float(r["confidence"]))), bool(r["correct"]))
        for r in rows
        if r.get("correct") is not None and r.get("confidence") is not None
    ]


def reliability(rows: Iterable[Mapping[str, Any]], bins: int = 5) -> list[Bin]:
    """Equal-width confidence bins with their mean confidence and accuracy."""
    scored = _scored(rows)
    out = []
    for i in range(bins):
        low, high = i / bins, (i + 1) / bins
        inside = [(c, ok) for c, ok in scored if low <= c < high or (i == bins - 1 and c == 1.0)]
        n = len(inside)
        out.append(
            Bin(
                round(low, 3),
                round(high, 3),
                n,
                sum(c for c, _ in inside) / n if n else 0.0,
                sum(ok for _, ok in inside) / n if n else 0.0,
            )
        )
    return out


def expected_calibration_error(rows: Iterable[Mapping[str, Any]], bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over the bins."""
    table = reliability(rows, bins)
    total = sum(b.count for b in table)
    if not total:
        return 0.0
    return sum(b.count * abs(b.confidence - b.accuracy) for b in table) / total


def confidently_wrong(rows: Iterable[Mapping[str, Any]], threshold: float = 0.8) -> float:
    """Share of all answers that are wrong with confidence >= ``threshold``."""
    scored = _scored(rows)
    if not scored:
        return 0.0
    return sum(1 for c, ok in scored if c >= threshold and not ok) / len(scored)
