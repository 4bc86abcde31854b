"""Scoring in two modes, so numbers compare with published tables and with each other.

- **official**: each benchmark's published scorer, quirks included (parsers in
  :mod:`viewfinder.eval.parsers`). MLVU: an unparsable response is wrong, M-avg is the mean of
  per-task accuracies. LongVideoBench: an unparsable response gets a random option (seeded per
  item id, as lmms-eval does with its global seed). Video-MME: an unparsable response is left
  out of the denominator.
- **strict**: the same parsing, but an unparsable response counts wrong and every scored item
  stays in the denominator.

Both modes report how many responses could not be parsed. A record whose gold answer is
unusable (``Item.meta["gold_error"]``, e.g. MLVU answers that are not among the candidates)
is scored wrong in both modes, as MLVU's ``choice_bench.py`` does. A failed item (indexing or
answering raised, so there is no response) counts wrong in both modes: the references have
no notion of a failure, and leaving it out would flatter the score.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .datasets import LETTERS, Item, _natural
from .parsers import parse_generic, parse_longvideobench, parse_mlvu, parse_videomme

MODES = ("official", "strict")


@dataclass(frozen=True)
class BenchmarkSpec:
    """How a benchmark's results are grouped, which number is its headline, how it parses."""

    group_keys: tuple[str, ...]  # meta keys reported as per-group accuracy tables
    headline: str  # "m_avg" (mean of per-task accuracies) or "overall" (sample accuracy)
    rule: str  # "mlvu", "longvideobench", "videomme" or "generic" (no published scorer)


SPECS: dict[str, BenchmarkSpec] = {
    "mlvu": BenchmarkSpec(("task",), "m_avg", "mlvu"),
    "longvideobench": BenchmarkSpec(
        ("duration_group", "question_category"), "overall", "longvideobench"
    ),
    "videomme": BenchmarkSpec(("duration", "domain", "task_type"), "overall", "videomme"),
    "jsonl": BenchmarkSpec(("task",), "overall", "generic"),
    "niah": BenchmarkSpec(("task", "depth_bucket", "minutes"), "m_avg", "mlvu"),
}


@dataclass(frozen=True)
class ScoringOptions:
    """Knobs of the official rules that the references leave to the run."""

    seed: int = 0  # LongVideoBench's random option for an unparsable response (lmms-eval: 0)


def parse_response(benchmark: str, response: str, n_options: int) -> str | None:
    """The option letter the benchmark's rule reads in ``response`` (None = unparsable)."""
    rule = SPECS[benchmark].rule
    if rule == "mlvu":
        return parse_mlvu(response)
    if rule == "longvideobench":
        return parse_longvideobench(response)
    if rule == "videomme":
        return parse_videomme(response)
    return parse_generic(response, n_options)


def is_correct(prediction: str | None, gold: str, options: Sequence[str] | None) -> bool | None:
    """Strict verdict of one prediction; None when the item has no gold answer (test splits)."""
    if not gold:
        return None
    if prediction is None:
        return False
    if options:
        return prediction == gold
    return _norm(prediction) == _norm(gold)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def not_scorable(benchmark: str, item: Item) -> str:
    """Why ``item`` cannot be scored offline ("" when it can)."""
    if item.options is None and SPECS[benchmark].rule == "mlvu":
        return (
            f"open-ended MLVU task {item.meta.get('task')!r}: MLVU scores it with an LLM "
            "judge (G-Avg), which cannot run offline"
        )
    if not item.answer and not item.meta.get("gold_error"):
        return "no gold answer (a test split without answers)"
    return ""


@dataclass(frozen=True)
class ItemScore:
    """One item's verdict in both modes."""

    id: str  # the item id
    groups: dict[str, str]  # grouping values (task, duration_group, ...) as strings
    response: str | None  # the raw response scored; None = the item failed (no response)
    parsed: str | None  # the letter the benchmark's rule read; None = unparsable
    official: bool | None  # official verdict; None = left out of the official denominator
    strict: bool  # strict verdict (always counted)
    gold: str | None  # the gold letter (or free-text answer); None = no usable gold
    note: str = ""  # what happened when it was not plain: random option, gold error, failure

    @property
    def unparsed(self) -> bool:
        """A response was given and the rule found no answer in it."""
        return self.response is not None and self.parsed is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "response": self.response,
            "parsed": self.parsed,
            "gold": self.gold,
            "official": self.official,
            "strict": self.strict,
            "note": self.note,
            **self.groups,
        }


def score_item(
    benchmark: str,
    item: Item,
    response: str | None,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, shared default is safe
) -> ItemScore:
    """Score ``response`` (None = the item failed) to a scorable ``item`` in both modes."""
    spec = SPECS[benchmark]
    groups = {k: str(item.meta[k]) for k in spec.group_keys if item.meta.get(k) is not None}
    gold_error = str(item.meta.get("gold_error") or "")
    gold = None if gold_error else item.answer
    note = f"gold error: {gold_error}" if gold_error else ""
    if response is None:
        note = note or "failed: no response"
        return ItemScore(item.id, groups, None, None, False, False, gold, note)
    if item.options is None:  # free-text gold (jsonl): normalised exact match
        right = gold is not None and _norm(response) == _norm(gold)
        return ItemScore(item.id, groups, response, response, right, right, gold, note)
    parsed = parse_response(benchmark, response, len(item.options))
    strict = parsed is not None and parsed == gold
    official: bool | None = strict
    if parsed is None and spec.rule == "longvideobench":
        # lmms-eval: "if parsing failed, it will assign a random choice". Seeded per item
        # (str seeds are hashed with SHA-512, so the draw is the same in every process).
        drawn = random.Random(f"{options.seed}:{item.id}").choice(LETTERS[: len(item.options)])
        official = drawn == gold
        note = note or f"unparsable: random option {drawn} assigned"
    elif parsed is None and spec.rule == "videomme":
        official = None
        note = note or "unparsable: left out of the official denominator"
    elif parsed is None:
        note = note or "unparsable: wrong"
    return ItemScore(item.id, groups, response, parsed, official, strict, gold, note)


@dataclass(frozen=True)
class ModeScore:
    """One mode's aggregate, in the ``score.json`` schema (percentages)."""

    overall: float | None  # sample accuracy %; None when nothing was scored
    m_avg: float | None  # mean of per-task accuracy % (MLVU, niah); None elsewhere
    groups: dict[str, dict[str, float | None]] = field(default_factory=dict)  # key -> value -> %
    scored: int = 0  # the denominator
    unparsed: int = 0  # responses the rule could not parse
    correct: int = 0  # the numerator

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "m_avg": self.m_avg,
            "groups": self.groups,
            "scored": self.scored,
            "unparsed": self.unparsed,
        }


def _fraction(verdicts: list[bool]) -> float | None:
    return sum(verdicts) / len(verdicts) if verdicts else None


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * fraction, 4)


def aggregate(benchmark: str, scores: Iterable[ItemScore], mode: str) -> ModeScore:
    """Overall, M-avg and per-group accuracy of ``scores`` in ``mode`` ("official"/"strict").

    A group whose every response was left out (Video-MME official) reports None, where the
    reference prints 0.0 for lack of a denominator.
    """
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {MODES}")
    spec = SPECS[benchmark]
    scores = list(scores)
    by: dict[str, dict[str, list[bool]]] = {k: {} for k in spec.group_keys}
    verdicts: list[bool] = []
    for s in scores:
        verdict = getattr(s, mode)
        for k, value in s.groups.items():
            # Every group value appears, even one whose responses were all left out.
            votes = by[k].setdefault(value, [])
            if verdict is not None:
                votes.append(bool(verdict))
        if verdict is not None:
            verdicts.append(bool(verdict))
    fractions = {
        k: {v: _fraction(vs) for v, vs in sorted(d.items(), key=lambda kv: _natural(kv[0]))}
        for k, d in by.items()
        if d
    }
    m_avg = None
    if spec.headline == "m_avg" and fractions.get("task"):
        tasks = [f for f in fractions["task"].values() if f is not None]
        m_avg = _percent(sum(tasks) / len(tasks)) if tasks else None
    return ModeScore(
        overall=_percent(_fraction(verdicts)),
        m_avg=m_avg,
        groups={k: {v: _percent(f) for v, f in d.items()} for k, d in fractions.items()},
        scored=len(verdicts),
        unparsed=sum(s.unparsed for s in scores),
        correct=sum(verdicts),
    )


def summarize(benchmark: str, scores: Sequence[ItemScore]) -> dict[str, ModeScore]:
    """Both modes of one set of item scores."""
    return {mode: aggregate(benchmark, scores, mode) for mode in MODES}


def headline(benchmark: str, mode_score: ModeScore) -> float | None:
    """The benchmark's headline number: M-avg for MLVU / niah, overall accuracy elsewhere."""
    return mode_score.m_avg if SPECS[benchmark].headline == "m_avg" else mode_score.overall


def headline_name(benchmark: str) -> str:
    return "M-avg" if SPECS[benchmark].headline == "m_avg" else "accuracy"


def response_of(record: Mapping[str, Any]) -> str | None:
    """The raw response a runner results record holds (None = the item failed).

    viewfinder answers multiple choice by scoring the option letters, so its response is the
    chosen letter (``choice``); open answers are the text. Records written before ``choice``
    was logged fall back to their ``prediction``, then to the text.
    """
    if record.get("status") == "error":
        return None
    if record.get("choice"):
        return str(record["choice"])
    if "choice" not in record and record.get("prediction") in tuple(LETTERS):
        return str(record["prediction"])
    return str(record.get("response") or "")
