"""``viewfinder eval ...``: score viewfinder on a benchmark, or on built needle-in-a-haystack videos.

    viewfinder eval longvideobench --annotations lvb_val.json --videos DIR --out runs/lvb
    viewfinder eval mlvu --annotations MLVU/json --videos MLVU --out runs/mlvu --budget 256 1024
    viewfinder eval niah --media shared/media --minutes 30 --needles 40 --strategy uniform agent
    viewfinder eval score videomme --annotations test.parquet --predictions preds.jsonl --out DIR

Every report scores in two modes: official (the benchmark's published scorer, quirks kept, so
numbers compare with published tables) and strict (same parsing; an unparsable response is
wrong and every item stays in the denominator). `eval score` scores any system's raw
responses ({"id", "response"} per line, or a results_*.jsonl) into DIR/score.json.

``viewfinder/cli/main.py`` registers this with :func:`add_parser` and calls :func:`run`.
Results go to ``OUT/results_<strategy>_b<budget>.jsonl`` (resumable) and ``OUT/report.{md,json}``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..eval.datasets import LOADERS, Dataset, load_mlvu
from ..eval.metrics import SPECS, ScoringOptions, headline, headline_name
from ..eval.report import build_report, load_run
from ..eval.runner import EXECUTORS, AnswererFactory, RunConfig, VideoQAFactory
from ..eval.runner import run as run_items
from ..eval.score import BENCHMARKS as SCORABLE
from ..eval.score import ID_HELP, load_questions, read_predictions, score_predictions, write_score
from ..settings import Settings, check_model_names
from .help import DefaultsHelpFormatter

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Score viewfinder on a benchmark, or on built needle-in-a-haystack videos.

examples:
  viewfinder eval longvideobench --annotations lvb_val.json --videos DIR --out runs/lvb
  viewfinder eval mlvu --annotations MLVU/json --videos MLVU --out runs/mlvu --budget 256 1024
  viewfinder eval niah --media shared/media --minutes 30 --needles 40 --strategy uniform agent

Results go to OUT/results_<strategy>_b<budget>.jsonl (resumable) and OUT/report.{md,json}.
"""
STRATEGIES = ("uniform", "retrieve", "agent")
# Benchmarks whose subtitles can stand in for speech recognition: (--subtitles help, default dir)
SUBTITLE_HELP = {
    "longvideobench": (
        "use each item's subtitle file as its speech (skip items without one)",
        "subtitles/ beside VIDEOS or the annotations, as released; else VIDEOS/subtitles",
    ),
    "videomme": (
        "use subtitle/<videoID>.srt as the speech (a video without one has none, as in the "
        "official with-subtitles setting)",
        "subtitle/ as released: VIDEOS/subtitle, VIDEOS/../subtitle or beside the parquet's "
        "videomme/ folder",
    ),
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``eval`` and its benchmark subcommands on ``subparsers``."""
    fmt = DefaultsHelpFormatter
    parser = subparsers.add_parser(
        "eval",
        help="score viewfinder on a benchmark or on needle-in-a-haystack videos",
        description=DESCRIPTION,
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name in LOADERS:
        b = sub.add_parser(name, help=f"{name} annotations", formatter_class=fmt)
        b.add_argument(
            "--annotations",
            type=Path,
            required=True,
            help="annotation file (MLVU: a task file or the json/ directory)",
        )
        b.add_argument("--videos", type=Path, required=True, help="root holding the videos")
        if name in SUBTITLE_HELP:
            b.add_argument("--subtitles", action="store_true", help=SUBTITLE_HELP[name][0])
            b.add_argument(
                "--subtitle-dir",
                type=Path,
                default=None,
                help=f"where subtitle files are (default: {SUBTITLE_HELP[name][1]})",
            )
        _common(b)
    n = sub.add_parser(
        "niah",
        help="build needle-in-a-haystack videos from real footage and score them",
        formatter_class=fmt,
    )
    n.add_argument(
        "--media",
        type=Path,
        required=True,
        help="real media folder (clips + speech/ with transcripts.json)",
    )
    n.add_argument("--minutes", type=float, default=30.0, help="length of each haystack")
    n.add_argument("--needles", type=int, default=20, help="needles (questions) in total")
    n.add_argument("--per-video", type=int, default=10, help="needles per haystack video")
    n.add_argument("--seed", type=int, default=0, help="needle positions and phrases")
    _common(n)
    s = sub.add_parser(
        "score",
        help="score raw responses (a predictions JSONL) in official and strict modes",
        description=f"Score raw responses without running anything; {ID_HELP}.",
        formatter_class=fmt,
    )
    s.add_argument("score_benchmark", choices=SCORABLE, metavar="{" + ",".join(SCORABLE) + "}")
    s.add_argument("--annotations", type=Path, required=True, help="the benchmark's annotations")
    s.add_argument(
        "--predictions",
        type=Path,
        required=True,
        help='JSONL of {"id": ..., "response": "raw model text"} (or a results_*.jsonl)',
    )
    s.add_argument("--out", type=Path, required=True, help="writes OUT/score.json, items.jsonl")
    s.add_argument(
        "--seed",
        type=int,
        default=ScoringOptions().seed,
        help="seed of LongVideoBench's random option for unparsable responses",
    )
    s.add_argument("--debug", action="store_true", help="full tracebacks and debug logging")
    parser.set_defaults(eval_parser=parser)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="output directory (results, report)")
    p.add_argument("--limit", type=int, default=None, help="run only the first N runnable items")
    p.add_argument(
        "--strategy",
        nargs="+",
        choices=STRATEGIES,
        default=["uniform"],
        help="answering strategies to compare",
    )
    p.add_argument(
        "--budget",
        nargs="+",
        type=int,
        default=[Settings().budget],
        help="visual-token budgets to run (several -> accuracy-vs-budget plot)",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="inline (this process), local (process pool) or ray",
    )
    p.add_argument("--workers", type=int, default=1, help="parallel workers / Ray actors")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")
    p.add_argument("--retry-failed", action="store_true", help="re-run items that errored")
    p.add_argument("--debug", action="store_true", help="full tracebacks and debug logging")


def load_dataset(args: argparse.Namespace) -> Dataset:
    """The dataset named by ``args.benchmark`` (building the niah videos if needed)."""
    if args.benchmark == "niah":
        from ..eval.niah import NiahConfig, build

        config = NiahConfig(
            minutes=args.minutes, needles=args.needles, per_video=args.per_video, seed=args.seed
        )
        ann = build(args.media, args.out / "niah", config)
        ds = load_mlvu(ann, ann.parent / "videos")
        return Dataset("niah", ds.items, ds.skipped)
    if args.benchmark in SUBTITLE_HELP:
        return LOADERS[args.benchmark](
            args.annotations, args.videos, subtitles=args.subtitles, subtitle_dir=args.subtitle_dir
        )
    return LOADERS[args.benchmark](args.annotations, args.videos)


def run(
    args: argparse.Namespace,
    make_factory: Callable[[Settings], AnswererFactory] = VideoQAFactory,
    out: TextIO | None = None,
) -> int:
    """Run ``viewfinder eval``; returns the exit code (1 when every attempted item failed).

    ``make_factory`` turns settings into an answerer factory (tests pass a scripted one).
    """
    out = out or sys.stdout
    if args.benchmark == "score":
        return run_score(args, out)
    if args.limit is not None and args.limit < 1:
        args.eval_parser.error("--limit must be at least 1")
    if args.workers < 1:
        args.eval_parser.error("--workers must be at least 1")
    for strategy in args.strategy:  # bad settings fail now, not after the videos are built
        for budget in args.budget:
            check_model_names(Settings.from_env(strategy=strategy, budget=budget))
    dataset = load_dataset(args).limited(args.limit)
    _say(
        out,
        f"{dataset.name}: {len(dataset)} items, {len(dataset.items)} runnable, "
        f"{len(dataset.skipped)} skipped",
    )
    for key in SPECS[dataset.name].group_keys:
        counts = dataset.skipped_counts(key)
        if dataset.skipped and counts != {"None": len(dataset.skipped)}:
            _say(out, f"  skipped by {key}: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if dataset.skipped:
        _say(out, f"  e.g. {dataset.skipped[0].id}: {dataset.skipped[0].reason}")
    # Annotations may name any path; only videos inside this folder are opened.
    videos_root = args.out / "niah" / "videos" if args.benchmark == "niah" else args.videos
    runs, attempted, failed = [], 0, 0
    for strategy in args.strategy:
        for budget in args.budget:
            settings = Settings.from_env(strategy=strategy, budget=budget)
            path = args.out / f"results_{strategy}_b{budget}.jsonl"
            config = RunConfig(
                dataset.name,
                path,
                args.executor,
                args.workers,
                args.retry_failed,
                args.ray_address,
                videos_root=videos_root,
            )
            summary = run_items(dataset, make_factory(settings), config)
            attempted += summary.answered + summary.failed
            failed += summary.failed
            _say(
                out,
                f"{strategy}@{budget}: answered {summary.answered}, failed "
                f"{summary.failed}, already done {summary.already_done} "
                f"({summary.seconds:.1f} s) -> {path}",
            )
            runs.append(load_run(path, strategy, budget))
    report = build_report(dataset.name, dataset, runs, args.out)
    for gid, reason in dataset.gold_errors()[:5]:
        _say(out, f"  gold error, scored wrong: {gid}: {reason}")
    for r in report["runs"]:
        for mode in ("official", "strict"):
            _say(out, f"{r['label']} {_mode_line(dataset.name, mode, r[mode])}")
    _say(out, f"report: {args.out / 'report.md'}")
    return 1 if attempted and failed == attempted else 0


def _mode_line(benchmark: str, mode: str, m: dict) -> str:
    # The headline (MLVU's M-avg is a mean of per-task accuracies) is not the fraction
    # right, so both are printed, each named.
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}%"

    return (
        f"{mode}: {headline_name(benchmark)} {pct(m['headline'])}, overall {pct(m['overall'])} "
        f"({m['correct']}/{m['scored']}), unparsed {m['unparsed']}"
    )


def run_score(args: argparse.Namespace, out: TextIO) -> int:
    """``viewfinder eval score``: score a predictions file, write OUT/score.json."""
    bench = args.score_benchmark
    questions = load_questions(bench, args.annotations)
    responses = read_predictions(args.predictions)
    result = score_predictions(bench, questions, responses, ScoringOptions(seed=args.seed))
    path = write_score(result, args.out)
    _say(out, f"{bench}: {len(result.items)} predictions scored of {len(questions)} questions")
    if result.not_scorable:
        reasons = sorted(set(result.not_scorable.values()))
        _say(out, f"  not scorable offline: {len(result.not_scorable)} ({'; '.join(reasons)})")
    for gid, reason in list(result.gold_errors.items())[:5]:
        _say(out, f"  gold error, scored wrong: {gid}: {reason}")
    if result.missing:
        _say(out, f"  no prediction for {len(result.missing)} questions (e.g. {result.missing[0]})")
    if result.unknown:
        _say(out, f"  {len(result.unknown)} prediction ids unknown (e.g. {result.unknown[0]})")
    for mode, m in result.modes.items():
        d = {**m.as_dict(), "correct": m.correct, "headline": headline(bench, m)}
        _say(out, _mode_line(bench, mode, d))
    _say(out, f"score: {path}")
    return 0


def _say(out: TextIO, line: str) -> None:
    print(line, file=out)  # noqa: T201 - this module is command-line output
