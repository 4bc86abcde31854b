"""Official answer parsing and score aggregation, so numbers compare with published tables.

- MLVU: the model continues ``Best Option: (``; the prediction is the character just before
  the first ``)`` (``choice_bench.py``). **M-avg is the mean of per-task accuracies**, not the
  sample accuracy.
- LongVideoBench: accuracy overall (plain sample accuracy) and per ``duration_group`` and per
  ``question_category``.
- Video-MME: accuracy per ``duration`` (short / medium / long), parsed with the official
  ``extract_characters_regex`` rules.

A result row is a dict with ``correct`` (True / False / None = not scorable, e.g. a test split
without answers) and ``meta`` (the item's grouping keys). Failed items count as wrong, as in
the official scripts, which score every question; skipped items (no video) are not rows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .datasets import LETTERS, _natural

# Prefixes the official Video-MME parser strips before looking for a letter.
_VIDEOMME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
    "Answer:",
    "Option:",
)


def parse_mlvu(response: str) -> str | None:
    """MLVU's official rule: the character just before the first ``)``.

    The model was prompted to continue ``Best Option: (``, so ``"B) a red car"`` -> ``"B"``;
    a full echo ``"Best Option: (C)"`` -> ``"C"``. Without ``)`` the stripped response itself
    is the prediction (the official script compares it to the letter as is).
    """
    s = response.strip()
    pred = s[s.index(")") - 1 : s.index(")")] if ")" in s else s
    return pred if pred and pred in LETTERS else None


def parse_choice(response: str, n_options: int = 4) -> str | None:
    """Video-MME's ``extract_characters_regex`` (also used for LongVideoBench letters).

    Strips the usual answer prefixes, gives up on long free text without an option letter, and
    returns the first capital option letter (among the first ``n_options``) in the response.
    """
    s = response.strip()
    for prefix in _VIDEOMME_PREFIXES:
        s = s.replace(prefix, "")
    letters = LETTERS[:n_options]
    if len(s.split()) > 10 and not re.search(rf"[{letters}]", s):
        return None
    m = re.search(rf"[{letters}]", s)
    return m.group(0) if m else None


def is_correct(prediction: str | None, gold: str, options: Sequence[str] | None) -> bool | None:
    """Score one prediction; None when the item has no gold answer (test splits)."""
    if not gold:
        return None
    if prediction is None:
        return False
    if options:
        return prediction == gold
    return _norm(prediction) == _norm(gold)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@dataclass(frozen=True)
class GroupScore:
    """Correct / total for one group of results."""

    correct: int  # rows scored correct
    total: int  # rows scored (correct is not None)

    @property
    def accuracy(self) -> float:
        """Fraction correct in [0, 1]; 0.0 for an empty group."""
        return self.correct / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "total": self.total, "accuracy": self.accuracy}


def overall(rows: Iterable[Mapping[str, Any]]) -> GroupScore:
    """Plain sample accuracy over scorable rows."""
    scored = [r["correct"] for r in rows if r.get("correct") is not None]
    return GroupScore(sum(bool(c) for c in scored), len(scored))


def accuracy_by(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, GroupScore]:
    """Accuracy per value of ``meta[key]`` (rows without the key are left out)."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        value = r.get("meta", {}).get(key)
        if value is None or r.get("correct") is None:
            continue
        groups[str(value)].append(bool(r["correct"]))
    return {
        k: GroupScore(sum(v), len(v))
        for k, v in sorted(groups.items(), key=lambda kv: _natural(kv[0]))
    }


def mlvu_m_avg(rows: Iterable[Mapping[str, Any]]) -> float:
    """MLVU M-avg: the unweighted mean of per-task accuracies (``meta["task"]``)."""
    per_task = accuracy_by(rows, "task")
    return sum(g.accuracy for g in per_task.values()) / len(per_task) if per_task else 0.0


@dataclass(frozen=True)
class BenchmarkSpec:
    """How a benchmark's results are grouped and which number is its headline."""

    group_keys: tuple[str, ...]  # meta keys reported as per-group accuracy tables
    headline: str  # "m_avg" (mean of per-task accuracies) or "accuracy" (sample accuracy)
    parser: str  # "mlvu" or "choice": how free-text responses become letters


SPECS: dict[str, BenchmarkSpec] = {
    "mlvu": BenchmarkSpec(("task",), "m_avg", "mlvu"),
    "longvideobench": BenchmarkSpec(("duration_group", "question_category"), "accuracy", "choice"),
    "videomme": BenchmarkSpec(("duration", "domain", "task_type"), "accuracy", "choice"),
    "jsonl": BenchmarkSpec(("task",), "accuracy", "choice"),
    "niah": BenchmarkSpec(("task", "depth_bucket", "minutes"), "m_avg", "mlvu"),
}


def parse_response(benchmark: str, response: str, n_options: int) -> str | None:
    """Turn a free-text response into a letter with the benchmark's official parser."""
    if SPECS[benchmark].parser == "mlvu":
        return parse_mlvu(response)
    return parse_choice(response, n_options)


def summarize(benchmark: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Headline score, overall accuracy and per-group accuracies for one run.

    Returns:
        ``{"headline": name, "score": value, "overall": {...}, "m_avg": ..., "groups":
        {key: {value: {"correct", "total", "accuracy"}}}}``
    """
    spec = SPECS[benchmark]
    total = overall(rows)
    groups = {k: {v: g.as_dict() for v, g in accuracy_by(rows, k).items()} for k in spec.group_keys}
    summary: dict[str, Any] = {
        "headline": spec.headline,
        "overall": total.as_dict(),
        "groups": {k: v for k, v in groups.items() if v},
    }
    if "task" in spec.group_keys:
        summary["m_avg"] = mlvu_m_avg(rows)
    summary["score"] = summary["m_avg"] if spec.headline == "m_avg" else total.accuracy
    return summary
