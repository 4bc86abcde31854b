"""``viewfinder eval ...``: score viewfinder on a benchmark, or on built needle-in-a-haystack videos.

    viewfinder eval longvideobench --annotations lvb_val.json --videos DIR --out runs/lvb
    viewfinder eval mlvu --annotations MLVU/json --videos MLVU --out runs/mlvu --budget 256 1024
    viewfinder eval niah --media shared/media --minutes 30 --needles 40 --strategy uniform agent

The lead's ``viewfinder/cli.py`` registers this with :func:`add_parser` and calls :func:`run`.
Results go to ``OUT/results_<strategy>_b<budget>.jsonl`` (resumable) and ``OUT/report.{md,json}``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..settings import Settings
from .datasets import LOADERS, Dataset, load_mlvu
from .metrics import SPECS
from .report import build_report, load_run
from .runner import EXECUTORS, AnswererFactory, RunConfig, VideoQAFactory
from .runner import run as run_items

logger = logging.getLogger(__name__)

STRATEGIES = ("uniform", "retrieve", "agent")
# Benchmarks whose subtitles can stand in for speech recognition: (--subtitles help, default dir)
SUBTITLE_HELP = {
    "longvideobench": (
        "use each item's subtitle file as its speech (skip items without one)",
        "VIDEOS/subtitles",
    ),
    "videomme": (
        "use subtitle/<videoID>.srt as the speech (a video without one has none, as in the "
        "official with-subtitles setting)",
        "VIDEOS/subtitle",
    ),
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``eval`` and its benchmark subcommands on ``subparsers``."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = subparsers.add_parser(
        "eval",
        help="score viewfinder on a benchmark or on needle-in-a-haystack videos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        from .niah import NiahConfig, build

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
    if args.limit is not None and args.limit < 1:
        args.eval_parser.error("--limit must be at least 1")
    if args.workers < 1:
        args.eval_parser.error("--workers must be at least 1")
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
    runs, attempted, failed = [], 0, 0
    for strategy in args.strategy:
        for budget in args.budget:
            settings = Settings.from_env(strategy=strategy, budget=budget)
            path = args.out / f"results_{strategy}_b{budget}.jsonl"
            config = RunConfig(
                dataset.name, path, args.executor, args.workers, args.retry_failed, args.ray_address
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
    headline = "M-avg" if SPECS[dataset.name].headline == "m_avg" else "accuracy"
    for r in report["runs"]:
        # The headline score (MLVU's M-avg is a mean of per-task accuracies) is not the
        # fraction right, so both are printed, each named.
        overall = r["overall"]
        _say(
            out,
            f"{r['label']}: {headline} {100 * r['score']:.1f}%, overall "
            f"{100 * overall['accuracy']:.1f}% ({overall['correct']}/{overall['total']})",
        )
    _say(out, f"report: {args.out / 'report.md'}")
    return 1 if attempted and failed == attempted else 0


def _say(out: TextIO, line: str) -> None:
    print(line, file=out)  # noqa: T201 - this module is command-line output
