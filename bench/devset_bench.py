"""Dev-set bench: accuracy per question type for each strategy, calibration, seconds.

Usage: python bench/devset_bench.py --out /tmp/devset [--media ../shared/media]
       [--strategy agent retrieve uniform] [--limit N] [--report docs/results/devset.md]

Builds the dev set of ``viewfinder/eval/devset.py`` once (espeak-ng needed), asks every
question with each strategy (results appended to OUT/results_<strategy>.jsonl, so a stopped
run resumes), then prints per-type accuracy side by side, the reliability table, ECE, the share
of answers wrong at confidence >= 0.8, whether the evidence falls in the answer's window, and
median / p90 seconds per question (index time excluded: it is paid once per video).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

from viewfinder import VideoQA
from viewfinder.errors import ViewfinderError
from viewfinder.eval.calibration import confidently_wrong, expected_calibration_error, reliability
from viewfinder.eval.devset import build
from viewfinder.settings import Settings

LETTERS = "ABCDEF"
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def score(row: dict[str, Any], answer: Any) -> bool:
    """Right or wrong: the gold option, every keyword of an open answer, or "not found"."""
    if row.get("options"):
        return answer.choice == LETTERS[row["options"].index(row["answer"])]
    said = _norm(answer.text)
    if row.get("window") is None:
        return "not found" in said
    return all(_norm(k) in said for k in row.get("keywords") or [row["answer"]])


def in_window(row: dict[str, Any], answer: Any) -> bool | None:
    """Whether the first cited evidence overlaps the answer's window (None: no window)."""
    if row.get("window") is None:
        return None
    lo, hi = row["window"]
    return any(e.end >= lo and e.start <= hi for e in answer.evidence[:1])


def run(strategy: str, rows: list[dict[str, Any]], videos: Path, log: Path) -> list[dict]:
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            done[rec["id"]] = rec
    qa = VideoQA(Settings.from_env(strategy=strategy))
    out = []
    for row in rows:
        if row["id"] in done:
            out.append(done[row["id"]])
            continue
        video = videos / row["video"]
        if strategy != "uniform":
            qa.index(video)  # paid once per video, not charged to the question
        started = time.perf_counter()
        try:
            answer = qa.ask(video, row["question"], row.get("options"))
        except ViewfinderError as e:  # a failed item is recorded, the run goes on
            rec = {"id": row["id"], "task": row["task"], "error": str(e)}
        else:
            rec = {
                "id": row["id"],
                "task": row["task"],
                "correct": score(row, answer),
                "confidence": round(float(answer.confidence), 4),
                "answer": answer.text,
                "in_window": in_window(row, answer),
                "seconds": round(time.perf_counter() - started, 2),
                "notes": answer.notes,
            }
        with open(log, "a") as f:  # append-only: one line per answered question
            f.write(json.dumps(rec) + "\n")
        out.append(rec)
        print(f"{strategy} {row['id']}: {rec.get('answer', rec.get('error'))!r} "
              f"{'right' if rec.get('correct') else 'wrong'} {rec.get('confidence')} "
              f"{rec.get('seconds')} s", flush=True)  # fmt: skip
    return out


def report(results: dict[str, list[dict]]) -> str:
    tasks = sorted({r["task"] for rows in results.values() for r in rows})
    names = list(results)
    lines = ["| type | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for task in [*tasks, "all"]:
        cells = []
        for name in names:
            rows = [r for r in results[name] if task in ("all", r["task"])]
            right = sum(1 for r in rows if r.get("correct"))
            cells.append(f"{right}/{len(rows)}" if rows else "-")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines += ["", "| strategy | ECE | wrong at >= 0.8 | evidence in window | median s | p90 s |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        rows = [r for r in results[name] if "correct" in r]
        secs = sorted(r["seconds"] for r in rows) or [0.0]
        windows = [r["in_window"] for r in rows if r.get("in_window") is not None]
        p90 = secs[min(len(secs) - 1, int(0.9 * len(secs)))]
        lines.append(
            f"| {name} | {expected_calibration_error(rows):.3f} | "
            f"{100 * confidently_wrong(rows):.1f}% | {sum(windows)}/{len(windows)} | "
            f"{statistics.median(secs):.1f} | {p90:.1f} |"
        )
    for name in names:
        lines += ["", f"Reliability ({name}):", "", "| confidence | answers | mean conf | accuracy |",
                  "|---|---|---|---|"]  # fmt: skip
        for b in reliability([r for r in results[name] if "correct" in r], bins=5):
            lines.append(
                f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {b.confidence:.2f} | {b.accuracy:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--media", type=Path, default=MEDIA)
    p.add_argument("--strategy", nargs="+", default=["agent", "retrieve", "uniform"])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--report", type=Path, default=None, help="also write the tables here")
    args = p.parse_args()
    annotations = build(args.out, args.media)
    rows = [json.loads(x) for x in annotations.read_text().splitlines()][: args.limit]
    results = {s: run(s, rows, args.out, args.out / f"results_{s}.jsonl") for s in args.strategy}
    text = report(results)
    load = os.getloadavg()
    text += (
        f"\n\nLoad average at the end (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    print(text)
    if args.report:
        args.report.write_text(text + "\n")


if __name__ == "__main__":
    main()
