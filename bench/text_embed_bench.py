"""Text embedders side by side: agreement with a reference, paraphrase retrieval, speed.

Compares registered text embedders (default: the torch ``minilm`` as reference and the
onnxruntime ``minilm-int8``) on real sentences from ../shared: the speech prompts'
transcripts, the paraphrased queries of tests/test_indexes.py, and questions and answer
options of the LongVideoBench / MLVU dev annotations. Prints a markdown table:

- cosine between each sentence's vector and the reference's (min / median);
- top-5 neighbour overlap with the reference on the whole sentence set (retrieval agreement);
- paraphrase -> transcript retrieval: how many of the 20 paraphrases rank their own prompt
  first / in the top 3 among the 24 transcripts;
- encode throughput (sentences/s, best of 3) and CPU seconds.

    python bench/text_embed_bench.py [--names minilm,minilm-int8] [--sentences 400]
        [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _paraphrases() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from tests.test_indexes import PARAPHRASES

    return PARAPHRASES


def _sentences(shared: Path, limit: int) -> tuple[list[str], list[dict]]:
    """Real sentences: transcripts, paraphrases, then annotation questions and options."""
    transcripts = json.loads((shared / "media" / "speech" / "transcripts.json").read_text())
    texts = [t["text"] for t in transcripts] + list(_paraphrases().values())
    extra: list[str] = []
    lvb = json.loads((shared / "data" / "lvb_val.json").read_text())
    for item in lvb:
        extra.append(item["question"])
        extra.extend(str(c) for c in item.get("candidates", []))
    for path in sorted((shared / "data" / "mlvu_dev" / "json").glob("*.json")):
        extra.extend(str(q.get("question", "")) for q in json.loads(path.read_text()))
    seen = set(texts)
    for text in extra:
        if len(texts) >= limit:
            break
        if text.strip() and text not in seen:
            seen.add(text)
            texts.append(text)
    return texts, transcripts


def _timed_encode(embedder, texts: list[str], repeat: int = 3) -> tuple[np.ndarray, float, float]:  # noqa: ANN001
    wall = cpu = float("inf")
    vectors = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        vectors = embedder.encode(texts)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return vectors, wall, cpu


def _retrieval(vectors: np.ndarray, transcripts: list[dict], paraphrases: dict[str, str]):  # noqa: ANN202
    """(top-1, top-3) hits of paraphrase -> own transcript among all transcripts."""
    n = len(transcripts)
    files = [t["file"] for t in transcripts]
    docs = vectors[:n]
    queries = vectors[n : n + len(paraphrases)]
    top1 = top3 = 0
    for q, wav in zip(queries, paraphrases, strict=True):
        order = list(np.argsort(-(docs @ q)))
        rank = order.index(files.index(wav))
        top1 += rank == 0
        top3 += rank < 3
    return top1, top3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default="minilm,minilm-int8", help="first one = reference")
    parser.add_argument("--sentences", type=int, default=400, help="real sentences to embed")
    parser.add_argument("--threads", type=int, default=2, help="embedder threads")
    parser.add_argument(
        "--shared", type=Path, default=ROOT.parent / "shared", help="the shared/ folder"
    )
    args = parser.parse_args()

    from viewfinder.tools.text_embed import TextEmbedOptions, text_embedder

    texts, transcripts = _sentences(args.shared, args.sentences)
    paraphrases = _paraphrases()
    names = args.names.split(",")
    rows = []
    reference = None
    for name in names:
        embedder = text_embedder(name, TextEmbedOptions(threads=args.threads))
        t0 = time.perf_counter()
        embedder.load()
        load_s = time.perf_counter() - t0
        vectors, wall, cpu = _timed_encode(embedder, texts)
        if reference is None:
            reference = vectors
        cos = (vectors * reference).sum(axis=1)
        ref_nn = np.argsort(-(reference @ reference.T), axis=1)[:, 1:6]
        own_nn = np.argsort(-(vectors @ vectors.T), axis=1)[:, 1:6]
        overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ref_nn, own_nn, strict=True)])
        top1, top3 = _retrieval(vectors, transcripts, paraphrases)
        rows.append(
            f"| {name} | {type(embedder).__name__} | {cos.min():.4f} / {np.median(cos):.4f} "
            f"| {overlap:.3f} | {top1}/{len(paraphrases)} | {top3}/{len(paraphrases)} "
            f"| {len(texts) / wall:.0f} | {cpu:.2f} | {load_s:.2f} |"
        )
    print(f"\n{len(texts)} sentences, {args.threads} threads, reference = {names[0]}\n")
    print(
        "| embedder | backend | cosine to reference (min / median) | top-5 neighbour overlap "
        "| paraphrase top-1 | top-3 | sentences/s | CPU s | load s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
