"""Fit the confidence calibrator on the dev set's fit split and report it on held-out videos.

Usage: python bench/fit_calibration.py --out DIR [--strategy agent retrieve uniform]
       [--l2 1.0] [--write]

Reads the answers ``bench/devset_bench.py`` recorded in DIR/results_<strategy>.jsonl (each
with the signals of ``viewfinder/agent/confidence.py``), fits one logistic calibrator on the
fit split's rows of all strategies, and prints side by side, per strategy, on the *test* split
(whole videos the fit never saw): ECE and wrong-at->=0.8 with the rule's confidence and with
the calibrated one, their reliability tables, and the same figures leaving one video out at a
time over every row. ``--write`` stores the fit-split calibrator as
viewfinder/agent/calibration.json, which ``VideoQA.ask`` then applies.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from viewfinder.agent.confidence import CALIBRATION_FILE, FEATURES, Calibrator, fit_logistic
from viewfinder.eval.calibration import confidently_wrong, expected_calibration_error, reliability
from viewfinder.eval.devset import QUESTIONS

REPO = Path(__file__).resolve().parents[1]


def load(out: Path, strategy: str) -> list[dict[str, Any]]:
    """Scored rows with signals, each tagged with its split and video from the recipe."""
    path = out / f"results_{strategy}.jsonl"
    if not path.is_file():
        return []
    recipe = {q.id: q for q in QUESTIONS}
    rows = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        q = recipe.get(rec.get("id"))
        if q is None or not rec.get("signals") or rec.get("correct") is None:
            continue
        rec["split"] = rec.get("split") or q.split
        rec["video"] = rec.get("video") or q.video
        rec["strategy"] = strategy
        rows.append(rec)
    return rows


def with_confidence(rows: Iterable[dict[str, Any]], calibrator: Calibrator | None) -> list[dict]:
    """Rows whose ``confidence`` is the rule's (None) or the calibrator's."""
    out = []
    for r in rows:
        conf = r["signals"]["raw"] if calibrator is None else calibrator.probability(r["signals"])
        out.append({"confidence": conf, "correct": r["correct"]})
    return out


def fit(rows: list[dict[str, Any]], l2: float, fitted_on: str, used: tuple[str, ...]) -> Calibrator:
    weights, bias = fit_logistic(rows, l2=l2, used=used)
    return Calibrator(weights, bias, fitted_on, used)


def figures(rows: list[dict[str, Any]]) -> str:
    return (
        f"{expected_calibration_error(rows):.3f} | {100 * confidently_wrong(rows):.1f}% | "
        f"{sum(bool(r['correct']) for r in rows)}/{len(rows)}"
    )


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| confidence | answers | mean conf | accuracy |", "|---|---|---|---|"]
    for b in reliability(rows, bins=5):
        lines.append(
            f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {b.confidence:.2f} | {b.accuracy:.2f} |"
        )
    return lines


def leave_one_video_out(
    rows: list[dict[str, Any]], l2: float, used: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Each row's calibrated confidence from a calibrator fitted without its video."""
    out = []
    for video in sorted({r["video"] for r in rows}):
        rest = [r for r in rows if r["video"] != video]
        held = [r for r in rows if r["video"] == video]
        if len({bool(r["correct"]) for r in rest}) < 2:
            continue
        calibrator = fit(rest, l2, f"all but {video}", used)
        for r in held:
            out.append({**r, "calibrated": calibrator.probability(r["signals"])})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="devset_bench.py's --out")
    parser.add_argument("--strategy", nargs="+", default=["agent", "retrieve", "uniform"])
    parser.add_argument("--l2", type=float, default=1.0, help="ridge penalty on the weights")
    parser.add_argument(
        "--features",
        nargs="+",
        default=["raw_logit"],
        choices=FEATURES,
        help="signals the calibrator reads (default: the rule's confidence only, Platt scaling)",
    )
    parser.add_argument("--write", action="store_true", help=f"write {CALIBRATION_FILE.name}")
    args = parser.parse_args()

    rows = {s: load(args.out, s) for s in args.strategy}
    fit_rows = [r for s in args.strategy for r in rows[s] if r["split"] == "fit"]
    if not fit_rows:
        raise SystemExit(f"no scored rows with signals in {args.out}/results_*.jsonl")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    fitted_on = (
        f"dev set fit split ({len(fit_rows)} answers of {', '.join(args.strategy)}; "
        f"features {', '.join(args.features)}; l2 {args.l2}; commit {commit or 'unknown'})"
    )
    used = tuple(args.features)
    calibrator = fit(fit_rows, args.l2, fitted_on, used)
    print(f"fitted on {fitted_on}")
    print(f"  {'bias':>13} {calibrator.bias:+.3f}")
    for name, w in zip(calibrator.used, calibrator.weights, strict=True):
        print(f"  {name:>13} {w:+.3f}")
    print()
    print("Test split (videos the fit never saw): ECE | wrong at >= 0.8 | right")
    print("| strategy | rule | calibrated |")
    print("|---|---|---|")
    for s in args.strategy:
        test = [r for r in rows[s] if r["split"] == "test"]
        if test:
            rule, cal = with_confidence(test, None), with_confidence(test, calibrator)
            print(f"| {s} | {figures(rule)} | {figures(cal)} |")
    print()
    print("Leave one video out, every row (pooled over strategies): ECE | wrong at >= 0.8 | right")
    pooled = [r for s in args.strategy for r in rows[s]]
    lovo = leave_one_video_out(pooled, args.l2, used)
    print("| strategy | rule | calibrated |")
    print("|---|---|---|")
    for s in args.strategy:
        mine = [r for r in lovo if r["strategy"] == s]
        if mine:
            rule = [{"confidence": r["signals"]["raw"], "correct": r["correct"]} for r in mine]
            cal = [{"confidence": r["calibrated"], "correct": r["correct"]} for r in mine]
            print(f"| {s} | {figures(rule)} | {figures(cal)} |")
    for s in args.strategy:
        test = [r for r in rows[s] if r["split"] == "test"]
        if not test:
            continue
        print(f"\nReliability, test split, {s}, rule -> calibrated:")
        for a, b in zip(
            table(with_confidence(test, None)),
            table(with_confidence(test, calibrator)),
            strict=True,
        ):
            print(f"{a}   {b}")
    if args.write:
        CALIBRATION_FILE.write_text(json.dumps(calibrator.as_dict(), indent=1) + "\n")
        print(f"\nwrote {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
