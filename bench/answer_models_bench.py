"""Answering models side by side on the same evidence: accuracy, seconds, tokens per CPU-second.

Usage: python bench/answer_models_bench.py --devset /tmp/s6/dev0 --out /tmp/s6/answer_models
       [--models qwen2.5-1.5b qwen2.5-0.5b smollm2-135m PATH.gguf] [--threads 2] [--busy]
       [--backends ik_llama llama.cpp] [--report docs/results/answer_models.md]

1. The evidence is captured once: for every dev-set question (``--devset`` holds the
   ``annotations.jsonl`` and the videos that ``bench/devset_bench.py`` built, their indexes
   cached), the passages the ``retrieve`` strategy hands the answering model: the same query
   (``retrieval_query``) and the same search over speech and screen text. They are written to
   OUT/evidence.jsonl, so every model (and a later run) sees exactly the same passages.
2. Each model then answers every question in its own process (clean RAM figures, no shared
   page cache effects between models) through the production path, ``agent.answering
   .answer_from_text``: the prompt templates, option-letter scoring, grounding and abstention
   of the real answer. Only the model differs.
3. One table is printed: raw option-scoring accuracy (the model's letter probabilities alone),
   final accuracy after grounding (scored like ``devset_bench.score``), calibration, seconds
   per question, prompt and generation tokens per wall second and per CPU-second, load time,
   peak RAM, and whether the GGUF carries its own chat template.

GGUF models on the ik_llama or llama.cpp backend (the cost figures read the KV cache);
``--backends`` runs every model on each backend named (each pair in its own process), so the
backends are compared on the same evidence.
``--busy`` runs one CPU-bound competing process for the whole run (the "another program
shares the cores" case). Results depend on machine load: the load average is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devset_bench import LETTERS, score

from viewfinder.answer import Evidence
from viewfinder.eval.calibration import confidently_wrong, expected_calibration_error

DEFAULT_MODELS = ["qwen2.5-1.5b", "qwen2.5-0.5b", "smollm2-135m"]


# --------------------------------------------------------------------------- evidence


def capture_evidence(devset: Path, target: Path) -> list[dict[str, Any]]:
    """Each question with the passages ``--strategy retrieve`` shows the model (cached)."""
    if target.exists():
        return [json.loads(line) for line in target.read_text().splitlines()]
    from viewfinder import VideoQA
    from viewfinder.agent.retrieve import RetrieveOptions, retrieval_query
    from viewfinder.settings import Settings

    rows = [json.loads(x) for x in (devset / "annotations.jsonl").read_text().splitlines()]
    passages = RetrieveOptions().passages
    out = []
    with VideoQA(Settings.from_env(strategy="retrieve")) as qa:
        for row in rows:
            handle = qa.index(devset / row["video"])
            query = retrieval_query(row["question"], row.get("options"))
            # The same search and filtering as agent/retrieve.py's answer_retrieve.
            hits = handle.search(query, k=passages, modalities=("speech", "text"))
            evidence = [
                {
                    "start": h.start,
                    "end": h.end,
                    "modality": h.modality,
                    "text": h.text.strip(),
                    "score": h.score,
                }  # fmt: skip
                for h in hits
                if h.text.strip()
            ]
            out.append({**row, "evidence": evidence})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in out))
    os.replace(tmp, target)
    return out


def _evidence(items: list[dict[str, Any]]) -> list[Evidence]:
    return [Evidence(e["start"], e["end"], e["modality"], e["text"], e["score"]) for e in items]


# --------------------------------------------------------------------------- one model


class _Recorder:
    """The loaded model, passed to the answering code, noting what each call cost."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)

    def _cached(self, system: str, user: str, prefix: str) -> tuple[int, int]:
        """Prompt tokens, and how many of them llama.cpp's KV cache already holds."""
        tokens = self.llm._encode_prompt(self.llm._chat_text(system, user) + prefix)
        held = self.llm.cached_tokens
        same = 0
        while same < min(len(held), len(tokens)) and held[same] == tokens[same]:
            same += 1
        return len(tokens), min(same, len(tokens) - 1)

    def choose(self, system: str, user: str, letters: Any, assistant_prefix: str = "") -> Any:
        tokens, cached = self._cached(system, user, assistant_prefix)
        wall, cpu = time.perf_counter(), time.process_time()
        probs = self.llm.choose(system, user, letters, assistant_prefix=assistant_prefix)
        self.calls.append(
            {
                "kind": "choose",
                "prompt_tokens": tokens,
                "evaluated_tokens": tokens - cached,
                "prompt_seconds": time.perf_counter() - wall,
                "cpu_seconds": time.process_time() - cpu,
                "out_tokens": 0,
                "gen_seconds": 0.0,
            }
        )
        return probs

    def generate(self, system: str, user: str, **kwargs: Any) -> Any:
        _, cached = self._cached(system, user, kwargs.get("assistant_prefix", ""))
        cpu = time.process_time()
        gen = self.llm.generate(system, user, **kwargs)
        self.calls.append(
            {
                "kind": "generate",
                "prompt_tokens": gen.tokens_in,
                "evaluated_tokens": gen.tokens_in - cached,
                "prompt_seconds": gen.prompt_seconds,
                "cpu_seconds": time.process_time() - cpu,
                "out_tokens": gen.tokens_out,
                "gen_seconds": gen.seconds - gen.prompt_seconds,
            }
        )
        return gen


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(
    model: str, evidence_file: Path, threads: int, out: Path, backend: str | None = None
) -> None:
    """Answer every question with ``model`` on ``backend`` (in this process), write OUT."""
    from viewfinder.agent.answering import answer_from_text
    from viewfinder.models import sha256_file
    from viewfinder.runtime import Models
    from viewfinder.settings import Settings
    from viewfinder.tools.llm import LLMOptions, load_llm

    rows = [json.loads(line) for line in evidence_file.read_text().splitlines()]
    base_rss = _rss_mb()
    started = time.perf_counter()
    # A fixed thread count (no adapting to the load) so every model gets the same cores.
    llm = load_llm(model, LLMOptions(threads=threads, adapt_threads=False), backend=backend)
    llm.load()
    load_seconds = time.perf_counter() - started
    path = Path(llm.model_path)
    # Private, but this is what the model reads: check the chat template really applies.
    chat = llm._chat_text("SYSTEM-TEXT", "USER-TEXT")
    if hasattr(llm, "_meta"):  # ik_llama
        template = llm._meta("tokenizer.chat_template")
    else:
        template = llm._llm.metadata.get("tokenizer.chat_template")
    recorder = _Recorder(llm)
    models = Models(Settings.from_env())
    models.use("llm", recorder)
    answers = []
    for row in rows:
        notes: list[str] = []
        trace: list[dict[str, Any]] = []
        before = len(recorder.calls)
        wall, cpu = time.perf_counter(), time.process_time()
        answer = answer_from_text(
            row["question"], row.get("options"), _evidence(row["evidence"]), models, notes, trace
        )
        calls = recorder.calls[before:]
        rec: dict[str, Any] = {
            "id": row["id"],
            "task": row["task"],
            "mc": bool(row.get("options")),
            "answer": answer.text,
            "correct": score(row, answer),
            "confidence": round(float(answer.confidence), 4),
            "seconds": round(time.perf_counter() - wall, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3),
            "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
            "evaluated_tokens": sum(c["evaluated_tokens"] for c in calls),
            "prompt_seconds": sum(c["prompt_seconds"] for c in calls),
            "out_tokens": sum(c["out_tokens"] for c in calls),
            "gen_seconds": sum(c["gen_seconds"] for c in calls),
        }
        if row.get("options"):
            probs = trace[-1]["probabilities"]
            gold = LETTERS[row["options"].index(row["answer"])]
            rec["raw_choice"] = max(probs, key=probs.__getitem__)
            rec["raw_correct"] = rec["raw_choice"] == gold
        answers.append(rec)
    result = {
        "model": model,
        "backend": llm.BACKEND_NAME,
        "file": path.name,
        "size_mb": round(path.stat().st_size / 2**20),
        "sha256": sha256_file(path),
        "load_seconds": round(load_seconds, 2),
        "rss_mb": round(_rss_mb() - base_rss),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "chat_template": "from GGUF" if template else "none: ChatML fallback",
        "chat_sample": chat,
        "threads": threads,
        "load_average": os.getloadavg(),
        "answers": answers,
    }
    out.write_text(json.dumps(result, indent=1))


# --------------------------------------------------------------------------- report


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _p90(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.9 * len(values)))] if values else 0.0


def _rate(tokens: float, seconds: float) -> str:
    return f"{tokens / seconds:.0f}" if seconds > 0 else "-"


def table(results: list[dict[str, Any]]) -> str:
    """Models as columns, measurements as rows."""
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, cell: Any) -> None:
        rows.append((label, [cell(r, r["answers"]) for r in results]))

    def right(answers: list[dict], key: str, mc: bool | None) -> str:
        chosen = [a for a in answers if mc is None or a["mc"] == mc]
        return f"{sum(1 for a in chosen if a.get(key))}/{len(chosen)}"

    add("file", lambda r, a: f"{r['file']} ({r['size_mb']} MB)")
    add("chat template", lambda r, a: r["chat_template"])
    add(
        "MC, model's letter alone",
        lambda r, a: right([x for x in a if x["mc"]], "raw_correct", True),
    )
    add("MC, final (grounded)", lambda r, a: right(a, "correct", True))
    add("open, final", lambda r, a: right(a, "correct", False))
    add("all, final", lambda r, a: right(a, "correct", None))
    add("ECE", lambda r, a: f"{expected_calibration_error(a):.3f}")
    add("wrong at conf >= 0.8", lambda r, a: f"{100 * confidently_wrong(a):.0f}%")
    add("median s / question", lambda r, a: f"{_median([x['seconds'] for x in a]):.2f}")
    add("p90 s / question", lambda r, a: f"{_p90([x['seconds'] for x in a]):.2f}")
    add("median CPU-s / question", lambda r, a: f"{_median([x['cpu_seconds'] for x in a]):.2f}")
    add("prompt tok / s (wall, uncached part)", lambda r, a: _rate(
        sum(x["evaluated_tokens"] for x in a), sum(x["prompt_seconds"] for x in a)))  # fmt: skip
    add("tokens read + written / CPU-s", lambda r, a: _rate(
        sum(x["evaluated_tokens"] + x["out_tokens"] for x in a),
        sum(x["cpu_seconds"] for x in a)))  # fmt: skip
    add("generation tok / s (wall)", lambda r, a: _rate(
        sum(x["out_tokens"] for x in a), sum(x["gen_seconds"] for x in a)))  # fmt: skip
    add("median prompt tokens", lambda r, a: f"{_median([x['prompt_tokens'] for x in a]):.0f}")
    add("load s", lambda r, a: f"{r['load_seconds']:.1f}")
    add("RSS after run (MB)", lambda r, a: str(r["rss_mb"]))
    add("load average (1 min) at end", lambda r, a: f"{r['load_average'][0]:.1f}")
    head = "| | " + " | ".join(_label(r) for r in results) + " |"
    lines = [head, "|---|" + "---|" * len(results)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    lines += ["", "Per question (final answer; * = right):", ""]
    lines.append("| id | type | " + " | ".join(_label(r) for r in results) + " |")
    lines.append("|---|---|" + "---|" * len(results))
    for i, first in enumerate(results[0]["answers"]):
        cells = []
        for r in results:
            a = r["answers"][i]
            raw = f" (letter {a['raw_choice']})" if a["mc"] else ""
            cells.append(
                f"{'*' if a['correct'] else ''}{a['answer'][:40]}{raw} {a['confidence']:.2f}"
            )
        lines.append(f"| {first['id']} | {first['task']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devset", type=Path, help="dev-set dir (annotations.jsonl + videos)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="names or GGUF paths")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--backends", nargs="+", default=[None], help="LLM backends (default: the preferred one)"
    )
    p.add_argument("--backend", help=argparse.SUPPRESS)  # worker: its backend
    p.add_argument("--busy", action="store_true", help="run one competing CPU-bound process")
    p.add_argument("--report", type=Path, default=None, help="also write the table here")
    p.add_argument("--one", help=argparse.SUPPRESS)  # worker: one model, in its own process
    args = p.parse_args()
    evidence = args.out / "evidence.jsonl"
    tag = f"{'busy' if args.busy else 'idle'}_t{args.threads}"
    if args.one:
        target = args.out / f"{_slug(args.one, args.backend)}_{tag}.json"
        run_one(args.one, evidence, args.threads, target, args.backend)
        return
    if not evidence.exists() and args.devset is None:
        p.error("--devset is needed once, to capture the evidence")
    if not evidence.exists():
        capture_evidence(args.devset, evidence)
    busy = None
    if args.busy:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    results = []
    try:
        for model, backend in [(m, b) for m in args.models for b in args.backends]:
            target = args.out / f"{_slug(model, backend)}_{tag}.json"
            if not target.exists():  # a stopped run resumes with the models not yet done
                cmd = [sys.executable, __file__, "--out", str(args.out), "--one", model,
                       "--threads", str(args.threads)] + (["--busy"] if args.busy else [])  # fmt: skip
                cmd += ["--backend", backend] if backend else []
                done = subprocess.run(cmd, check=False)
                if done.returncode != 0:
                    print(f"{model}: failed (exit {done.returncode}), skipped", file=sys.stderr)
                    continue
            results.append(json.loads(target.read_text()))
            print(f"{model} ({backend or 'preferred backend'}): done", flush=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    text = table(results) if results else "no model ran"
    print(text)
    if args.report:
        args.report.write_text(text + "\n")


def _slug(model: str, backend: str | None = None) -> str:
    name = Path(model).stem if model.endswith(".gguf") else model.replace("/", "_")
    return f"{name}@{backend}" if backend else name


def _label(result: dict[str, Any]) -> str:
    return f"{_slug(result['model'])} ({result.get('backend', 'llama.cpp')})"


if __name__ == "__main__":
    main()
