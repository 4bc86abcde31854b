"""Evidence lines: which lines of the key clips the answering model reads (collected, ranked,
deduplicated), and which lines back the final answer."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..answer import Evidence
from ..text import stamp, words  # also imported from here by prompts and the agent modules

if TYPE_CHECKING:
    from .context import AgentContext
    from .state import QAState

MODALITY_LABEL = {"speech": "speech", "text": "screen text", "visual": "visual"}

# Questions whose answer is a whole passage, not one line of it: a list asked for in full
# ("which ... all", "list", "every"), what someone or something says or shows (quoted whole,
# not its last sentence), or a comparison across a list ("which is the largest"), which needs
# every item to compare. Indexes store a screen line by line and speech sentence by sentence,
# so the best-matching line alone holds one item of the list or one sentence of the quote.
_WHOLE = re.compile(
    r"\b(list|lists|listed|all|every|enumerate)\b"
    r"|\bwhat (does|did|do|is|was) .{0,40}?\b(say|says|said|read|reads|show|shows|written)\b"
    r"|\b(largest|smallest|biggest|highest|lowest|cheapest|longest|shortest)\b",
    re.IGNORECASE,
)
# Speech segments closer than this many seconds continue one passage (a sentence or a list
# that Whisper split); screen lines must be on screen together.
WHOLE_SPEECH_GAP = 1.5
# A merged passage spans at most this many seconds: one statement or one screen, not a talk.
WHOLE_MAX_SECONDS = 30.0
# Screen lines of one passage are joined with this (they are separate lines on the screen).
SCREEN_LINE_JOIN = " | "


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


def collect_evidence(state: QAState, ctx: AgentContext) -> list[Evidence]:
    """Speech and screen text inside the key clips, best clip first, then by time."""
    margin = ctx.options.evidence_margin
    out: list[Evidence] = []
    for clip in state.clips:
        lo, hi = clip.start - margin, clip.end + margin
        inside = [
            Evidence(s.start, s.end, "speech", s.text.strip(), clip.score)
            for s in ctx.index.speech_segments
            if s.end >= lo and s.start <= hi
        ]
        inside += [
            Evidence(s.start, s.end, "text", s.text.strip(), clip.score)
            for s in ctx.index.text_spans
            if s.end >= lo and s.start <= hi
        ]
        out.extend(sorted(inside, key=lambda e: e.start))
    return [e for e in out if e.text]


def focus(candidates: list[Evidence], state: QAState, limit: int) -> list[Evidence]:
    """The ``limit`` lines most worth reading, in time order.

    A line ranks by the relevance of its clip plus how many rare words it shares with the
    question and the options: small answering models pick the right option from a dozen
    focused lines far more often than from forty lines of a whole clip.
    """
    if len(candidates) <= limit:
        return sorted(candidates, key=lambda e: e.start)
    query = [state.question, *(state.options or []), *state.extra_queries]
    scored = attribute(
        candidates, " ".join(query), " ".join(state.options or []), k=len(candidates), min_ratio=0.0
    )
    lexical = {(e.start, e.modality, e.text): e.score for e in scored}
    best_clip = max((e.score for e in candidates), default=1.0) or 1.0
    ranked = sorted(
        candidates,
        key=lambda e: (
            -(lexical.get((e.start, e.modality, e.text), 0.0) + 0.5 * e.score / best_clip)
        ),
    )
    return sorted(ranked[:limit], key=lambda e: e.start)


def dedupe(items: list[Evidence]) -> list[Evidence]:
    """``items`` without repeats: one line per modality, second and wording."""
    seen: set[tuple[str, int, str]] = set()
    out = []
    for e in items:
        key = (e.modality, int(e.start), " ".join(words(e.text)) or e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def wants_whole(question: str) -> bool:
    """Whether ``question`` asks for a list in full or for what was said (see ``_WHOLE``)."""
    return bool(_WHOLE.search(question))


def whole_passages(items: Sequence[Evidence], index: Any) -> list[Evidence]:
    """Each line grown into its whole passage, in the order given, without repeats.

    A speech line takes its neighbours of the same shot closer than :data:`WHOLE_SPEECH_GAP`;
    a screen line takes the lines of the same shot on screen with it, in reading order (top
    to bottom, left to right). Passages are never cut to a length: a list is read in full.
    ``index`` is an ``AgentIndex`` (its clips, speech segments and text spans).
    """
    out: list[Evidence] = []
    for item in items:
        out.append(_whole(item, index) if item.modality in ("speech", "text") else item)
    return dedupe(out)


def _shot(time: float, index: Any) -> tuple[float, float]:
    for clip in index.clips:
        if clip.start <= time < clip.end:
            return clip.start, clip.end
    return -math.inf, math.inf


def _whole(item: Evidence, index: Any) -> Evidence:
    lo, hi = _shot((item.start + item.end) / 2, index)
    limit_lo = item.start - WHOLE_MAX_SECONDS
    limit_hi = item.end + WHOLE_MAX_SECONDS
    if item.modality == "speech":
        pool = sorted(
            (
                s
                for s in index.speech_segments
                if lo <= (s.start + s.end) / 2 < hi and s.text.strip()
            ),
            key=lambda s: s.start,
        )
        # Grow from the line both ways while the next segment follows closely.
        start, end = item.start, item.end
        kept = [s for s in pool if s.start < end and s.end > start]
        changed = True
        while changed:
            changed = False
            for s in pool:
                if s in kept or s.start < limit_lo or s.end > limit_hi:
                    continue
                if 0 <= s.start - end <= WHOLE_SPEECH_GAP or 0 <= start - s.end <= WHOLE_SPEECH_GAP:
                    kept.append(s)
                    start, end = min(start, s.start), max(end, s.end)
                    changed = True
        if not kept:
            return item
        kept.sort(key=lambda s: s.start)
        text = " ".join(s.text.strip() for s in kept)
        return Evidence(kept[0].start, kept[-1].end, "speech", text, item.score)
    # Screen text: the lines of the same shot visible at the same time, in reading order.
    together = [
        s
        for s in index.text_spans
        if lo <= (s.start + s.end) / 2 < hi
        and s.start < item.end
        and s.end > item.start
        and s.text.strip()
    ]
    if len(together) <= 1:
        return item
    together.sort(key=lambda s: (s.box[1], s.box[0]))
    text = SCREEN_LINE_JOIN.join(s.text.strip() for s in together)
    start = min(s.start for s in together)
    end = max(s.end for s in together)
    return Evidence(start, end, "text", text, item.score)
