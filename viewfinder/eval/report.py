"""Markdown + JSON reports and plots for one or more runs over the same dataset.

A run is one (strategy, budget) results log. The report gives the benchmark's headline score
and per-group accuracy (task / duration group / category / needle depth) in both scoring modes
(official and strict, see :mod:`viewfinder.eval.metrics`), how many responses could not be
parsed, skipped, failed and gold-error counts, and the cost per question (seconds, index
seconds per video, visual and text tokens). Plots (official mode): per-group bars for every
run, and score vs budget when several budgets were run.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import require
from .datasets import Dataset
from .metrics import MODES, SPECS, headline, headline_name, not_scorable, response_of, score_item
from .metrics import summarize as summarize_scores
from .runner import ResultsLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """The records of one (strategy, budget) run."""

    strategy: str  # "uniform", "agent", ...
    budget: int  # visual-token budget of the run
    records: tuple[dict[str, Any], ...]  # last record per item id, from the results log

    @property
    def label(self) -> str:
        return f"{self.strategy}@{self.budget}"


def load_run(results_path: Path, strategy: str, budget: int) -> RunResult:
    """Read a results log into a :class:`RunResult`."""
    return RunResult(strategy, budget, tuple(ResultsLog(results_path).load().values()))


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def run_summary(benchmark: str, dataset: Dataset, run: RunResult) -> dict[str, Any]:
    """Scores and costs of one run, restricted to the dataset's runnable items."""
    wanted = {it.id: it for it in dataset.items}
    rows = [r for r in run.records if r["id"] in wanted]
    scorable = [r for r in rows if not not_scorable(benchmark, wanted[r["id"]])]
    scores = [score_item(benchmark, wanted[r["id"]], response_of(r)) for r in scorable]
    modes = {
        mode: {**m.as_dict(), "correct": m.correct, "headline": headline(benchmark, m)}
        for mode, m in summarize_scores(benchmark, scores).items()
    }
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "error"]
    usage = [r.get("usage") or {} for r in ok]
    index_by_video: dict[str, float] = {}
    for r in ok:
        if r.get("index_seconds"):
            index_by_video[r["video"]] = r["index_seconds"]
    return {
        "strategy": run.strategy,
        "budget": run.budget,
        "label": run.label,
        **modes,
        "answered": len(ok),
        "not_scorable": len(rows) - len(scorable),
        "failed": len(failed),
        "not_run": len(wanted) - len(rows),
        "failures": dict(Counter(r["error"]["type"] for r in failed)),
        "failure_examples": [{"id": r["id"], **r["error"]} for r in failed[:5]],
        "seconds_per_question": _mean([r["seconds"] for r in ok]),
        "index_seconds_per_video": _mean(list(index_by_video.values())),
        "visual_tokens_per_question": _mean(
            [float(u["visual_tokens"]) for u in usage if "visual_tokens" in u]
        ),
        "text_tokens_per_question": _mean(
            [float(u["text_tokens"]) for u in usage if "text_tokens" in u]
        ),
    }


def build_report(
    benchmark: str, dataset: Dataset, runs: list[RunResult], out_dir: Path
) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and plots into ``out_dir``; return the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = SPECS[benchmark]
    skipped_by = {k: dataset.skipped_counts(k) for k in spec.group_keys}
    report = {
        "benchmark": benchmark,
        "items": len(dataset),
        "runnable": len(dataset.items),
        "skipped": len(dataset.skipped),
        "skipped_by": {k: v for k, v in skipped_by.items() if len(dataset.skipped)},
        "skipped_examples": [{"id": s.id, "reason": s.reason} for s in dataset.skipped[:5]],
        "gold_errors": [{"id": i, "reason": r} for i, r in dataset.gold_errors()],
        "runs": [run_summary(benchmark, dataset, r) for r in runs],
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    report["plots"] = _plots(report, out_dir)
    (out_dir / "report.md").write_text(render_markdown(report))
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables (accuracies in percent, both scoring modes)."""
    bench = report["benchmark"]
    spec = SPECS[bench]
    name = headline_name(bench)
    lines = [
        f"# {bench} evaluation",
        "",
        f"{report['items']} items: {report['runnable']} runnable, {report['skipped']} skipped "
        "(missing video or subtitles, or not scorable offline).",
        "",
        "Scores in two modes: **official** follows the benchmark's published scorer, quirks "
        "included, so it compares with published tables; **strict** uses the same parsing "
        "but counts an unparsable response wrong and keeps every item in the denominator.",
        "",
        f"| run | official {name} % | strict {name} % | official overall % | strict overall % "
        "| unparsed | answered | failed | not run | s / question | index s / video "
        "| visual tok / q | text tok / q |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        o, st = r["official"], r["strict"]
        lines.append(
            f"| {r['label']} | {_pct(o['headline'])} | {_pct(st['headline'])} | "
            f"{_pct(o['overall'])} ({o['correct']}/{o['scored']}) | "
            f"{_pct(st['overall'])} ({st['correct']}/{st['scored']}) | {o['unparsed']} | "
            f"{r['answered']} | {r['failed']} | {r['not_run']} | "
            f"{_fmt(r['seconds_per_question'], 2)} | {_fmt(r['index_seconds_per_video'], 1)} | "
            f"{_fmt(r['visual_tokens_per_question'], 0)} | {_fmt(r['text_tokens_per_question'], 0)} |"
        )
    for r in report["runs"]:
        if r["not_scorable"]:
            lines += [
                "",
                f"{r['label']}: {r['not_scorable']} answered items have no gold answer "
                "(a test split) and are not scored.",
            ]
    for key in spec.group_keys:
        values: list[str] = []
        for r in report["runs"]:
            values += [v for v in r["official"]["groups"].get(key, {}) if v not in values]
        if not values:
            continue
        columns = [(r, mode) for r in report["runs"] for mode in MODES]
        lines += [
            "",
            f"## Accuracy % by {key}",
            "",
            f"| {key} | " + " | ".join(f"{r['label']} {mode}" for r, mode in columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        for v in values:
            cells = [_pct(r[mode]["groups"].get(key, {}).get(v)) for r, mode in columns]
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    if report.get("gold_errors"):
        lines += [
            "",
            "## Records without a usable gold answer",
            "",
            f"{len(report['gold_errors'])} records are scored wrong in both modes, as the "
            "official scorer does:",
            "",
        ]
        lines += [f"- `{g['id']}`: {g['reason']}" for g in report["gold_errors"]]
    if report["skipped"]:
        lines += ["", "## Skipped", ""]
        for key, counts in report["skipped_by"].items():
            if counts:
                lines.append(f"- by {key}: " + ", ".join(f"{k}: {n}" for k, n in counts.items()))
        for s in report["skipped_examples"]:
            lines.append(f"- e.g. `{s['id']}`: {s['reason']}")
    failed = [r for r in report["runs"] if r["failed"]]
    if failed:
        lines += ["", "## Failures (scored wrong in both modes)", ""]
        for r in failed:
            kinds = ", ".join(f"{k}: {n}" for k, n in r["failures"].items())
            lines.append(f"- {r['label']}: {kinds}")
            for ex in r["failure_examples"]:
                lines.append(f"  - `{ex['id']}` ({ex['stage']}): {ex['type']}: {ex['message']}")
    if report.get("plots"):
        lines += ["", "## Plots (official mode)", ""] + [f"![{p}]({p})" for p in report["plots"]]
    return "\n".join(lines) + "\n"


def _plots(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Per-group bars (first group key) and accuracy vs budget; names of the files written."""
    if not report["runs"]:
        return []
    try:
        figure = require("matplotlib.figure", "plot", "Report plots")
    except ImportError as e:
        logger.warning("No plots: %s", e)
        return []
    written: list[str] = []
    key = SPECS[report["benchmark"]].group_keys[0]
    values: list[str] = []
    for r in report["runs"]:
        values += [v for v in r["official"]["groups"].get(key, {}) if v not in values]
    if values:
        fig = figure.Figure(figsize=(max(5.0, 0.9 * len(values) + 2), 3.6), layout="constrained")
        ax = fig.add_subplot()
        width = 0.8 / len(report["runs"])
        for n, r in enumerate(report["runs"]):
            accs = [r["official"]["groups"].get(key, {}).get(v) or 0.0 for v in values]
            ax.bar([i + n * width for i in range(len(values))], accs, width, label=r["label"])
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(values))], values, rotation=30)
        ax.set_ylabel("accuracy %")
        ax.set_ylim(0, 100)
        ax.set_title(f"{report['benchmark']}: accuracy by {key}")
        ax.legend(fontsize="small")
        fig.savefig(out_dir / f"accuracy_by_{key}.png", dpi=100)
        written.append(f"accuracy_by_{key}.png")
    budgets = {r["budget"] for r in report["runs"]}
    if len(budgets) > 1:
        fig = figure.Figure(figsize=(5, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for strategy in sorted({r["strategy"] for r in report["runs"]}):
            pts = sorted(
                (r["budget"], r["official"]["headline"] or 0.0)
                for r in report["runs"]
                if r["strategy"] == strategy
            )
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=strategy)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("visual-token budget")
        ax.set_ylabel(f"official {headline_name(report['benchmark'])} %")
        ax.set_title(f"{report['benchmark']}: score vs budget")
        ax.legend(fontsize="small")
        fig.savefig(out_dir / "accuracy_vs_budget.png", dpi=100)
        written.append("accuracy_vs_budget.png")
    return written
