"""Check each answer option against everything the video says and shows.

Fused retrieval answers one query for the whole question, so with many similar moments in a
long video (twenty on-screen codes, a dozen spoken prompts) it often lands on a moment that
shares words with the options but belongs to another one. Looking up every option on its own,
by how closely its exact wording occurs in the transcript or the screen text, finds the one
passage that settles it, when there is one.

Matching is on lower-case letters and digits with spaces removed, because OCR runs words
together ("AMBERORCHID283") and Whisper splits and joins them differently from the option; a
character-trigram filter picks candidate passages and a best-aligned-substring ratio scores
them, so one misread character ("MEAD0W") or a misheard word costs a little, not everything.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..answer import Evidence

if TYPE_CHECKING:
    from .context import AgentContext
    from .state import QAState

# A passage must reach this score to be shown as the closest match of an option: below it,
# matches are mostly shared letters of unrelated words.
MIN_SCORE = 0.65
# Options shorter than this (after compaction) are words like "yes" or "3": they match
# everywhere, so they are not checked.
MIN_CHARS = 6
# Consecutive speech segments are joined until they are this many times longer than the
# option (a sentence Whisper split in two), within this many seconds.
SPEECH_WINDOW_LENGTH = 1.2
SPEECH_WINDOW_SECONDS = 30.0
# Candidate passages per option scored exactly (the trigram filter ranks the rest).
CANDIDATES = 12

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class OptionMatch:
    """The passage of the video closest to one option's wording."""

    # 0-based index of the option.
    option: int
    # Best-aligned-substring similarity, 0..1 (1 = the option's words occur exactly).
    score: float
    # The passage (speech window or screen-text line), None when nothing reached MIN_SCORE.
    evidence: Evidence | None


@dataclass(frozen=True)
class _Passage:
    start: float
    end: float
    modality: str
    text: str
    compact: str
    grams: frozenset[str]


def compact(text: str) -> str:
    """Lower-case letters and digits only: ``"Olive MEAD0W-918"`` -> ``"olivemead0w918"``."""
    return _NOT_ALNUM.sub("", text.lower())


def _trigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 3] for i in range(max(1, len(text) - 2)))


def partial_ratio(needle: str, passage: str) -> float:
    """Similarity of ``needle`` to its best-aligned substring of ``passage`` (0..1).

    A passage shorter than the needle scores the fraction of the needle it covers.
    """
    if not needle or not passage:
        return 0.0
    if len(passage) <= len(needle):
        blocks = difflib.SequenceMatcher(None, passage, needle, autojunk=False)
        return sum(b.size for b in blocks.get_matching_blocks()) / len(needle)
    best = 0.0
    blocks = difflib.SequenceMatcher(None, needle, passage, autojunk=False)
    starts = {
        max(0, min(b.b - b.a, len(passage) - len(needle))) for b in blocks.get_matching_blocks()
    }
    for start in starts:
        window = passage[start : start + len(needle)]
        best = max(best, difflib.SequenceMatcher(None, needle, window, autojunk=False).ratio())
    return best


def _passages(speech: Sequence[Any], text: Sequence[Any], longest: int) -> list[_Passage]:
    """Every screen-text line, and runs of consecutive speech segments up to ``longest``."""
    out: list[tuple[float, float, str, str]] = [(s.start, s.end, "text", s.text) for s in text]
    segments = sorted(speech, key=lambda s: s.start)
    for i, first in enumerate(segments):
        joined = ""
        for seg in segments[i:]:
            if seg.start - first.start > SPEECH_WINDOW_SECONDS:
                break
            joined = f"{joined} {seg.text.strip()}".strip()
            out.append((first.start, seg.end, "speech", joined))
            if len(compact(joined)) >= longest:
                break
    passages = []
    for start, end, modality, line in out:
        squashed = compact(line)
        if squashed:
            passages.append(
                _Passage(start, end, modality, line.strip(), squashed, _trigrams(squashed))
            )
    return passages


def match_options(
    options: Sequence[str], speech: Sequence[Any], text: Sequence[Any]
) -> list[OptionMatch]:
    """The closest passage in the transcript or screen text to each option.

    Args:
        options: The answer options.
        speech: Speech segments (``start``, ``end``, ``text``).
        text: Screen-text spans (``start``, ``end``, ``text``).

    Returns:
        One :class:`OptionMatch` per option, in option order.
    """
    targets = [compact(o) for o in options]
    longest = int(SPEECH_WINDOW_LENGTH * max((len(t) for t in targets), default=0))
    passages = _passages(speech, text, longest) if any(targets) else []
    matches = []
    for i, target in enumerate(targets):
        if len(target) < MIN_CHARS or not passages:
            matches.append(OptionMatch(i, 0.0, None))
            continue
        grams = _trigrams(target)
        # Among passages sharing as many trigrams, the shortest first: a window of speech
        # that also holds the sentences around the match is the same match, less precisely.
        ranked = sorted(passages, key=lambda p: (-len(grams & p.grams), len(p.compact)))
        best_score, best = 0.0, None
        for passage in ranked[:CANDIDATES]:
            score = partial_ratio(target, passage.compact)
            if score > best_score + 1e-6 or (
                best is not None
                and abs(score - best_score) <= 1e-6
                and len(passage.compact) < len(best.compact)
            ):
                best_score, best = score, passage
        evidence = None
        if best is not None and best_score >= MIN_SCORE:
            evidence = Evidence(best.start, best.end, best.modality, best.text, best_score)
        matches.append(OptionMatch(i, round(best_score, 3), evidence))
    return matches


def verify_options(state: QAState, ctx: AgentContext) -> list[OptionMatch]:
    """Each option's closest passage in the transcript and screen text ([] when off)."""
    if not state.options or not ctx.options.verify:
        return []
    return match_options(state.options, ctx.index.speech_segments, ctx.index.text_spans)
