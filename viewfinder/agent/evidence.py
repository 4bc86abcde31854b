"""Evidence lines: what the answering model reads, and which lines back the final answer."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..answer import Evidence
from ..text import stamp, words  # also imported from here by prompts and nodes

MODALITY_LABEL = {"speech": "speech", "text": "screen text", "visual": "visual"}


@dataclass(frozen=True)
class PromptLine:
    """One evidence line as rendered in a prompt."""

    stamp: str
    modality: str
    text: str


def prompt_lines(items: Sequence[Evidence]) -> list[PromptLine]:
    """Evidence in time order, formatted for the prompt templates."""
    ordered = sorted(items, key=lambda e: (e.start, e.modality))
    return [PromptLine(stamp(e.start, e.end), MODALITY_LABEL[e.modality], e.text) for e in ordered]


def fit_to_budget(
    items: Sequence[Evidence], max_tokens: int, count_tokens: Callable[[str], int]
) -> list[Evidence]:
    """Keep evidence evenly spread over time until ``max_tokens`` of prompt text are used.

    Used by the uniform baseline, which must not prefer any part of the video: when the
    evidence is too long it is thinned evenly rather than truncated at the end.
    """
    ordered = sorted(items, key=lambda e: e.start)
    costs = [count_tokens(f"[00:00-00:00] screen text: {e.text}\n") for e in ordered]
    if sum(costs) <= max_tokens:
        return ordered
    keep_fraction = max_tokens / max(1, sum(costs))
    kept: list[Evidence] = []
    used = 0
    credit = 0.0
    for item, cost in zip(ordered, costs, strict=True):
        credit += keep_fraction
        if credit >= 1.0 and used + cost <= max_tokens:
            kept.append(item)
            used += cost
            credit -= 1.0
    return kept


def attribute(
    items: Sequence[Evidence], question: str, answer: str, k: int = 4, min_ratio: float = 0.35
) -> list[Evidence]:
    """The evidence lines that best support ``answer`` to ``question``.

    Scores each line by IDF-weighted overlap of content words with the answer (weighted
    twice) and with the question, so a line that contains the answer's words outranks one
    that only repeats the question.
    """
    if not items:
        return []
    docs = [Counter(words(e.text)) for e in items]
    n = len(docs)
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())

    def idf(w: str) -> float:
        return math.log(1 + n / (1 + df[w]))

    answer_words = set(words(answer))
    question_words = set(words(question))
    scored = []
    for item, doc in zip(items, docs, strict=True):
        if not doc:
            continue
        # OCR often runs words together ("canopus:~$ls/usr"): an answer word of 3+ characters
        # found inside the line's unspaced text counts as present.
        squashed = "".join(item.text.lower().split())
        score = sum(2 * idf(w) for w in answer_words if w in doc or (len(w) >= 3 and w in squashed))
        score += sum(idf(w) for w in question_words if w in doc)
        if score > 0:
            scored.append((score / math.sqrt(1 + len(doc) / 8), item))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    best = scored[0][0] if scored else 0.0
    picked = [
        Evidence(e.start, e.end, e.modality, e.text, round(s / best, 3))
        for s, e in scored[:k]
        if s >= min_ratio * best
    ]
    return picked
