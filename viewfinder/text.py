"""Words, times and option letters, written one way for search, prompts and evaluation.

Text search, evidence ranking, the text LLM's and the VLM's prompts, the explanation page and
the dataset loaders all cut text into words, write video times and letter options; they share
these definitions so the models and the user see the same ``01:15`` and the same ``(C)``.
"""

from __future__ import annotations

import re

# Option letters: a multiple-choice question has 2 to len(LETTERS) options.
LETTERS = "ABCDEF"

# Function words that say nothing about what a text is about (dropped by text search).
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "you",
        "your",
    ]
)
# Evidence ranking also drops the words questions are made of ("what did the speaker say
# after ...") and the names of the modalities, which every line would otherwise match.
QUESTION_STOP_WORDS = STOP_WORDS | frozenset(
    [
        "did",
        "do",
        "does",
        "he",
        "her",
        "his",
        "our",
        "she",
        "so",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "how",
        "after",
        "before",
        "video",
        "speaker",
        "says",
        "said",
        "shown",
        "screen",
        "text",
        "speech",
    ]
)

_SEARCH_TOKEN = re.compile(r"[a-z0-9]+")
# Keeps tokens such as "/usr" (as "usr"), "v1.2" and "don't" whole: options quote them.
_CONTENT_WORD = re.compile(r"[a-z0-9]+(?:['/.][a-z0-9]+)*")
_SUFFIXES = ("ing", "es", "s", "ed")


def tokenize(text: str) -> list[str]:
    """Search tokens (BM25): lower-case alphanumeric runs without :data:`STOP_WORDS`, with a
    light plural/verb suffix strip so "meetings" finds "meeting"."""
    out = []
    for tok in _SEARCH_TOKEN.findall(text.lower()):
        if tok in STOP_WORDS:
            continue
        for suffix in _SUFFIXES:
            if len(tok) > len(suffix) + 3 and tok.endswith(suffix):
                tok = tok[: -len(suffix)]
                break
        out.append(tok)
    return out


def words(text: str) -> list[str]:
    """Lower-case content words of ``text`` without :data:`QUESTION_STOP_WORDS`, unstemmed
    (keeps tokens like ``/usr`` and ``v1.2``): what evidence lines and options are matched on."""
    return [w for w in _CONTENT_WORD.findall(text.lower()) if w not in QUESTION_STOP_WORDS]


def clock(seconds: float, precise: bool = False) -> str:
    """``75.3`` -> ``"01:15"`` (``"01:15.3"`` when precise; ``"1:02:03"`` past an hour).

    Every prompt (text LLM and VLM) writes times this way; ``precise`` is for the explanation
    page's zoom labels and evidence table.
    """
    tenths = max(0, round(seconds * 10)) if precise else max(0, int(seconds)) * 10
    whole = tenths // 10
    h, m, s = whole // 3600, whole % 3600 // 60, whole % 60
    frac = f".{tenths % 10}" if precise else ""
    return (f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}") + frac


def stamp(start: float, end: float | None = None) -> str:
    """``01:23`` or ``01:23-01:31`` (one time when both fall in the same second)."""
    if end is None or int(end) == int(start):
        return clock(start)
    return f"{clock(start)}-{clock(end)}"
