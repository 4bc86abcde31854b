"""Text LLM speed: load time, prompt evaluation, generation and choose() latency.

Usage: python bench/llm_bench.py [--models qwen2.5-0.5b smollm2-135m] [--tokens 1500]
       [--repeats 3] [--backend llama.cpp|transformers]

The long prompt is a timestamped transcript built from the real speech prompts in
../shared/media/speech/transcripts.json (repeated until it reaches --tokens). Numbers are
medians over --repeats; the machine should be otherwise idle (see MODELS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from viewfinder.errors import ModelNotInstalledError
from viewfinder.models import resolve
from viewfinder.tools.llm import ALL_BACKENDS, LLMOptions

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SYSTEM = "You answer questions about a video from its transcript. Answer in plain words, no code."
OPTIONS = "(A) a login prompt\n(B) a weather report\n(C) a cooking show\n(D) a football match"


def transcript_lines() -> list[str]:
    items = json.loads((MEDIA / "speech" / "transcripts.json").read_text())
    return [item["text"] for item in items]


def long_context(llm, target_tokens: int, tag: str) -> str:
    """A transcript of about ``target_tokens`` tokens; ``tag`` makes the prompt unique."""
    lines, texts, second = [f"Recording {tag}."], transcript_lines(), 0
    while llm.count_tokens("\n".join(lines)) < target_tokens:
        text = texts[len(lines) % len(texts)]
        lines.append(f"[{second // 60:02d}:{second % 60:02d}] speech: {text}")
        second += 7
    return "\n".join(lines)


def bench(
    name: str, backend: str, tokens: int, repeats: int, threads: int
) -> dict[str, float] | None:
    try:
        path = resolve("llm", name).path
    except ModelNotInstalledError as e:
        print(f"skip {name}: {e}")
        return None
    options = LLMOptions(n_ctx=max(4096, tokens + 512), threads=threads)
    loads, prompt_rates, gen_rates, cold, warm = [], [], [], [], []
    for run in range(repeats):
        llm = ALL_BACKENDS[backend](path, options, name)
        start = time.perf_counter()
        llm.load()
        loads.append(time.perf_counter() - start)
        context = long_context(llm, tokens, f"{run}")
        question = f"{context}\n\nQuestion: What is the recording mostly about?\n{OPTIONS}"
        start = time.perf_counter()
        llm.choose(SYSTEM, question, "ABCD")
        cold.append(time.perf_counter() - start)
        # Same transcript, another question: only the tail is evaluated (KV-cache reuse).
        start = time.perf_counter()
        llm.choose(SYSTEM, question.replace("mostly", "chiefly"), "ABCD")
        warm.append(time.perf_counter() - start)
        out = llm.generate(
            SYSTEM,
            f"Recording {run}b.\n{context}\n\nSummarise every line above "
            "in detail, one sentence per line.",
            max_tokens=64,
        )
        prompt_rates.append(out.tokens_in / out.prompt_seconds)
        gen_rates.append(out.tokens_out / max(out.seconds - out.prompt_seconds, 1e-9))
        n_prompt = llm.count_prompt_tokens(SYSTEM, question, "Best Option: (")
        llm.close()
    return {
        "load_s": statistics.median(loads),
        "prompt_tokens": n_prompt,
        "prompt_tok_s": statistics.median(prompt_rates),
        "gen_tok_s": statistics.median(gen_rates),
        "choose_cold_s": statistics.median(cold),
        "choose_warm_s": statistics.median(warm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["qwen2.5-0.5b", "smollm2-135m"])
    parser.add_argument("--backend", default="llama.cpp", choices=sorted(ALL_BACKENDS))
    parser.add_argument("--tokens", type=int, default=1500, help="length of the long prompt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per model")
    args = parser.parse_args()
    header = (
        "model",
        "backend",
        "threads",
        "load s",
        "prompt tok",
        "prompt tok/s",
        "gen tok/s",
        "choose cold s",
        "choose warm s",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in args.models:
        row = bench(name, args.backend, args.tokens, args.repeats, args.threads)
        if row is None:
            continue
        print(
            f"| {name} | {args.backend} | {args.threads} | {row['load_s']:.2f} | {row['prompt_tokens']} | "
            f"{row['prompt_tok_s']:.0f} | {row['gen_tok_s']:.1f} | {row['choose_cold_s']:.2f} | "
            f"{row['choose_warm_s']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
