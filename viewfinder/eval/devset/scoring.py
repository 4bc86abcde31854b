"""Scoring a dev-set answer, and the splits a calibration is fitted and measured on.

A row is one line of ``annotations.jsonl`` (or of a bench results file, which carries the same
``id``, ``video`` and ``split``); an answer is anything with ``choice``, ``text`` and
``evidence`` (items with ``start`` / ``end`` seconds), as :class:`viewfinder.Answer` has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

LETTERS = "ABCDEF"
SPLIT_NAMES = ("fit", "test", "all")


def normalize(text: str) -> str:
    """Lower case, punctuation to single spaces: "WebKitGTK+" and "webkitgtk" compare equal."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def score(row: Mapping[str, Any], answer: Any) -> bool:
    """Right or wrong: the gold option, every keyword of an open answer, or "not found"."""
    if row.get("options"):
        return answer.choice == LETTERS[list(row["options"]).index(row["answer"])]
    said = normalize(answer.text or "")
    if row.get("window") is None:
        return "not found" in said
    # Substrings, so "backup" matches "nightly backups".
    return all(normalize(k) in said for k in row.get("keywords") or [row["answer"]])


def in_window(row: Mapping[str, Any], answer: Any) -> bool | None:
    """Whether the first cited evidence overlaps the answer's window (None: no window)."""
    if row.get("window") is None:
        return None
    lo, hi = row["window"]
    return any(e.end >= lo and e.start <= hi for e in list(answer.evidence)[:1])


def split_rows(rows: Iterable[Mapping[str, Any]], split: str) -> list[Mapping[str, Any]]:
    """The rows of one split ("fit" or "test"); "all" keeps every row."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"Unknown split {split!r}; use one of {SPLIT_NAMES}")
    return [r for r in rows if split == "all" or r.get("split") == split]


def leave_one_video_out(
    rows: Iterable[Mapping[str, Any]],
) -> Iterator[tuple[str, list[Mapping[str, Any]], list[Mapping[str, Any]]]]:
    """For each video: (video, the other videos' rows to fit on, this video's rows to test).

    Whole videos are held out, so a calibration never sees the video it is measured on.
    """
    rows = list(rows)
    for video in sorted({r["video"] for r in rows}):
        yield (
            video,
            [r for r in rows if r["video"] != video],
            [r for r in rows if r["video"] == video],
        )
