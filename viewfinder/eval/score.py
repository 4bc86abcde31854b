"""Score any system's raw responses against a benchmark's annotations, in both modes.

A predictions file is JSONL, one ``{"id": ..., "response": "raw model text"}`` per line, or
the runner's own results log (``results_<strategy>_b<budget>.jsonl``). Ids are
LongVideoBench's ``id``, Video-MME's ``question_id``, and for MLVU (whose records have none)
``<task file stem>/<0-based index in that file>``, e.g. ``2_needle/34``. The last line of an
id wins, as in the results log.

``DIR/score.json`` holds ``{"benchmark", "official": {...}, "strict": {...}}`` (see
:class:`~viewfinder.eval.metrics.ModeScore`); ``DIR/items.jsonl`` holds every scored item's
response, parsed letter, gold letter and verdicts, so a number can be traced to its items.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PredictionsError
from .datasets import LOADERS, Item
from .metrics import ItemScore, ModeScore, ScoringOptions, not_scorable, response_of, score_item
from .metrics import summarize as summarize_scores

BENCHMARKS = ("mlvu", "longvideobench", "videomme")

ID_HELP = (
    "ids are LongVideoBench's `id`, Video-MME's `question_id` and, for MLVU, "
    "`<task file stem>/<0-based index>` (e.g. 2_needle/34)"
)


def read_predictions(path: Path) -> dict[str, str | None]:
    """Raw responses by id from a predictions JSONL or a runner results log.

    A results-log record of a failed item maps to None (no response).
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(
            f"Predictions file not found: {path}. Pass a JSONL file with one "
            '{"id": ..., "response": ...} per line (or a results_*.jsonl of `viewfinder eval`).'
        )
    responses: dict[str, str | None] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise PredictionsError(
                f"{path} line {n} is not JSON ({e.msg}). Write one JSON object per line."
            ) from e
        if not isinstance(rec, dict) or "id" not in rec:
            raise PredictionsError(
                f'{path} line {n} has no "id". Each line needs {{"id": ..., "response": ...}}; '
                f"{ID_HELP}."
            )
        if "status" in rec:  # a record of viewfinder's own results log
            responses[str(rec["id"])] = response_of(rec)
            continue
        response = rec.get("response")
        if not isinstance(response, str):
            raise PredictionsError(
                f'{path} line {n} (id {rec["id"]!r}) has no string "response". Put the raw '
                'model text there ("" for no answer).'
            )
        responses[str(rec["id"])] = response
    return responses


@dataclass(frozen=True)
class ScoreResult:
    """Both modes of one predictions file, and what could not be scored."""

    benchmark: str  # "mlvu", "longvideobench" or "videomme"
    modes: dict[str, ModeScore]  # "official" / "strict"
    items: tuple[ItemScore, ...]  # one per scored prediction, in annotation order
    missing: tuple[str, ...]  # scorable question ids without a prediction (not scored)
    unknown: tuple[str, ...]  # prediction ids that are no question of the annotations
    not_scorable: dict[str, str]  # id -> why (open-ended MLVU tasks, no gold answer)
    gold_errors: dict[str, str]  # scored ids whose gold is unusable (scored wrong) -> why

    def as_json(self) -> dict[str, Any]:
        """The ``score.json`` object."""
        return {"benchmark": self.benchmark, **{m: s.as_dict() for m, s in self.modes.items()}}


def load_questions(benchmark: str, annotations: Path) -> tuple[Item, ...]:
    """Every question of ``annotations`` (videos are not needed to score responses)."""
    if benchmark not in BENCHMARKS:
        raise PredictionsError(
            f"Unknown benchmark {benchmark!r} for scoring; choose one of {', '.join(BENCHMARKS)}."
        )
    annotations = Path(annotations)
    return LOADERS[benchmark](annotations, annotations.parent).questions()


def score_predictions(
    benchmark: str,
    questions: Sequence[Item],
    responses: Mapping[str, str | None],
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, shared default is safe
) -> ScoreResult:
    """Score ``responses`` (by id) against ``questions`` in both modes."""
    known = {q.id for q in questions}
    items: list[ItemScore] = []
    missing: list[str] = []
    unscorable: dict[str, str] = {}
    for q in questions:
        reason = not_scorable(benchmark, q)
        if reason:
            if q.id in responses:
                unscorable[q.id] = reason
            continue
        if q.id not in responses:
            missing.append(q.id)
            continue
        items.append(score_item(benchmark, q, responses[q.id], options))
    unknown = tuple(i for i in responses if i not in known)
    if responses and len(unknown) == len(responses):
        raise PredictionsError(
            f"None of the {len(responses)} prediction ids is a question of these "
            f"{benchmark} annotations (first: {unknown[0]!r}). Check --annotations and the "
            f"benchmark; {ID_HELP}."
        )
    gold_errors = {
        q.id: str(q.meta["gold_error"])
        for q in questions
        if q.meta.get("gold_error") and q.id in responses
    }
    return ScoreResult(
        benchmark,
        summarize_scores(benchmark, items),
        tuple(items),
        tuple(missing),
        unknown,
        unscorable,
        gold_errors,
    )


def write_score(result: ScoreResult, out_dir: Path) -> Path:
    """Write ``score.json`` and ``items.jsonl`` into ``out_dir`` atomically; the score's path."""
    out_dir = Path(out_dir)
    items = "".join(json.dumps(s.as_dict(), ensure_ascii=False) + "\n" for s in result.items)
    _atomic_write(out_dir / "items.jsonl", items)
    path = out_dir / "score.json"
    _atomic_write(path, json.dumps(result.as_json(), indent=2) + "\n")
    return path


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
