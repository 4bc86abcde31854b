"""CLIP and visual-index speed on this machine (random weights: same compute as real ones).

Prints a markdown table: image embedding ms/img (with and without open_clip's PIL
preprocessing), text embedding, patch relevance, and FAISS build/search at the sizes a 1-hour
and a 10-hour video give at 1 fps.

    /work/venv/bin/python bench/clip_bench.py [--arch ViT-B-32] [--threads 2] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _timed(fn, repeat: int = 3) -> tuple[float, float]:  # noqa: ANN001
    """Best wall time and best process CPU time of ``repeat`` runs.

    On a shared, oversubscribed machine the wall time is inflated (OpenMP threads wait for
    cores); CPU seconds / threads approximates the wall time on idle cores.
    """
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32", help="open_clip architecture")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch", type=int, default=32, help="images per forward pass")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (best is kept)")
    args = parser.parse_args()

    import open_clip
    import torch

    from viewfinder.indexes.visual import DECODE_OVERSAMPLE, VisualIndex, VisualIndexOptions
    from viewfinder.tools.clip import ClipEmbedder, ClipIdentity

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(args.arch)  # random weights
    model.eval()
    dim = int(model.visual.output_dim)
    clip = ClipEmbedder(
        model,
        preprocess,
        open_clip.get_tokenizer(args.arch),
        ClipIdentity(f"random {args.arch}", args.arch, "0" * 64, dim),
    )
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(args.batch)]
    texts = [f"a person holding object number {i} in a kitchen" for i in range(args.batch)]
    pixels = torch.randn(args.batch, 3, *clip.image_size)

    rows: list[tuple[str, str, str]] = []

    def row(name: str, timing: tuple[float, float], per: int, unit: str) -> float:
        wall, cpu = (1000 * x / per for x in timing)
        rows.append((name, f"{wall:.1f} {unit}", f"{cpu:.1f} {unit}"))
        return wall

    clip.embed_images(frames[:2])  # warm-up
    per_img = row(
        f"embed_images, 640x360 RGB, batch {args.batch}",
        _timed(lambda: clip.embed_images(frames, batch_size=args.batch), args.repeat),
        args.batch,
        "ms/img",
    )

    # The index decodes at DECODE_OVERSAMPLE x the input side and finishes the resize in torch.
    side = DECODE_OVERSAMPLE * clip.image_size[0]
    decoded = [
        rng.integers(0, 256, (side, round(side * 16 / 9), 3), dtype=np.uint8)
        for _ in range(args.batch)
    ]
    row(
        f"preprocessing only, {decoded[0].shape[1]}x{side} as the index decodes, batch "
        f"{args.batch}",
        _timed(lambda: clip._crop_normalise(decoded), args.repeat),
        args.batch,
        "ms/img",
    )
    image_mod = __import__("PIL.Image", fromlist=["Image"])
    row(
        "preprocessing only, same frames through open_clip's PIL preprocess",
        _timed(lambda: [preprocess(image_mod.fromarray(f)) for f in decoded], args.repeat),
        args.batch,
        "ms/img",
    )

    def model_only() -> None:
        with torch.inference_mode():
            model.encode_image(pixels)

    row(
        f"encode_image only (no preprocessing), batch {args.batch}",
        _timed(model_only, args.repeat),
        args.batch,
        "ms/img",
    )
    row(
        f"embed_texts, batch {args.batch}",
        _timed(lambda: clip.embed_texts(texts), args.repeat),
        args.batch,
        "ms/text",
    )
    grid = "x".join(map(str, model.visual.grid_size))
    row(
        f"patch_relevance ({grid} map), one frame",
        _timed(lambda: clip.patch_relevance(frames[0], np.ones(dim, np.float32)), args.repeat),
        1,
        "ms",
    )
    hour = 3600
    rows.append(
        ("=> 1 h of video at 1 fps (embedding only, wall)", f"{hour * per_img / 1000:.0f} s", "")
    )

    identity = {"name": "bench", "sha256": "0" * 64}
    for count, label in ((hour, "1 h @ 1 fps"), (10 * hour, "10 h @ 1 fps")):
        vectors = rng.normal(size=(count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        times = np.arange(count) + 0.5
        opts = VisualIndexOptions(hnsw_threshold=20_000)
        t0 = time.perf_counter()
        index = VisualIndex(times, vectors, duration=float(count), identity=identity, options=opts)
        build = time.perf_counter() - t0
        queries = vectors[rng.integers(0, count, 100)]
        t0 = time.perf_counter()
        recall = sum(
            index.search(q, k=10)[0].start == t - 0.5
            for q, t in zip(queries, times[np.argmax(queries @ vectors.T, axis=1)], strict=True)
        )
        search = (time.perf_counter() - t0) / 100
        rows.append(
            (
                f"VisualIndex {count} x {dim} ({label}, {index.kind()})",
                f"build {build:.2f} s, search {1000 * search:.2f} ms/query, top-1 recall {recall}%",
                "",
            )
        )

    print(
        f"CLIP bench: {args.arch}, random weights, {args.threads} threads, "
        f"torch {torch.__version__}, load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print()
    print(f"| measurement | wall | CPU time / {args.threads} threads |")
    print("|---|---|---|")
    for name, wall, cpu in rows:
        if cpu:
            cpu = f"{float(cpu.split()[0]) / args.threads:.1f} {cpu.split()[1]}"
        print(f"| {name} | {wall} | {cpu} |")


if __name__ == "__main__":
    main()
