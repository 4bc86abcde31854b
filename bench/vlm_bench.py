"""Where the time goes when a VLM answers from frames: encoder, compressor, prefill, memory.

Builds a full-size, randomly initialised SmolVLM2-256M-class checkpoint (SigLIP-B/16 at 512 px
+ pixel shuffle x4 -> 64 tokens per frame; SmolLM2-135M-class language model), saves it to a
temp dir and loads it through ``load_vlm`` like a real checkpoint. Random weights have the
same compute as the real model; the answers are meaningless and not reported.

(a) 64 frames at 512 px are encoded once (4096 tokens), then every compressor reduces them to
    64 / 256 / 1024 / 4096 tokens; the table shows compressor time and prefill (time to first
    token of a multiple-choice answer) per budget. End-to-end = encoder + compressor + prefill.
(b) The same budgets reached by spending before the encoder (fewer frames, lower resolution)
    with diversity pruning of the remaining 2x after it, as the agent's allocator does.

Usage: python bench/vlm_bench.py [--threads 2] [--frames 64]
Runs in about 5-10 minutes on 2 idle cores; prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from viewfinder.tools.compress import COMPRESSORS
from viewfinder.tools.vlm import VisualClip, load_vlm

SPECIALS = [
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
    "<end_of_utterance>",
    "<|im_start|>",
]


class PeakRSS:
    """Samples this process's resident memory every 10 ms; ``peak_mb`` since ``reset``."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.01)

    def reset(self) -> None:
        self.peak = self._rss()

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def build_checkpoint(root: Path) -> Path:
    """SmolVLM2-256M-class config (random weights) + a tokenizer trained here."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>", *SPECIALS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(
        [
            "Question: what happens in the video? Options: (A) (B) (C) (D) "
            "Best Option: Frame from Clip speech text User Assistant"
        ]
        * 50,
        trainer,
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", additional_special_tokens=SPECIALS
    )
    cfg = transformers.SmolVLMConfig(
        vision_config=dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            image_size=512,
            patch_size=16,
        ),
        text_config=dict(
            model_type="llama",
            vocab_size=49280,
            hidden_size=576,
            intermediate_size=1536,
            num_hidden_layers=30,
            num_attention_heads=9,
            num_key_value_heads=3,
            max_position_embeddings=8192,
            rope_theta=100000.0,
            tie_word_embeddings=True,
        ),
        scale_factor=4,
        image_token_id=fast.convert_tokens_to_ids("<image>"),
    )
    model = transformers.SmolVLMForConditionalGeneration(cfg)
    path = root / "smolvlm2-256m-class-random"
    model.save_pretrained(path)
    fast.save_pretrained(path)
    from viewfinder.tools.vlm.smolvlm import PixelShuffleFamily

    # A SmolVLM2 processor with its real chat template, one 512 px view per frame.
    transformers.SmolVLMProcessor(
        image_processor=transformers.SmolVLMImageProcessor(
            size={"longest_edge": 512},
            max_image_size={"longest_edge": 512},
            do_image_splitting=False,
        ),
        tokenizer=fast,
        video_processor=transformers.SmolVLMVideoProcessor(),
        chat_template=PixelShuffleFamily.stored_chat_template(),
        image_seq_len=64,
    ).save_pretrained(path)
    return path


def frames(n: int, seed: int = 0) -> VisualClip:
    """A 360p shot: a textured scene drifting slowly, like consecutive video frames."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (360 + 64, 640 + 64, 3), dtype=np.uint8)
    shots = [base[i % 64 : i % 64 + 360, (2 * i) % 64 : (2 * i) % 64 + 640] for i in range(n)]
    return VisualClip(shots, [float(i) for i in range(n)])


def set_resolution(vlm, px: int) -> None:  # noqa: ANN001
    vlm.family.image_processor.size = {"longest_edge": px}
    vlm.family.image_processor.max_image_size = {"longest_edge": px}


QUESTION = (
    "What happens in the video?",
    ["a man cooks", "a dog runs", "a car parks", "nothing moves"],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64)
    args = parser.parse_args()
    rss = PeakRSS()
    with tempfile.TemporaryDirectory() as tmp:
        path = build_checkpoint(Path(tmp))
        vlm = load_vlm(str(path), compressor="attention", threads=args.threads)
    print(
        f"# VLM bench: SmolVLM2-256M-class random init, fp32, {args.threads} threads, "
        f"load average at start {os.getloadavg()[0]:.1f}\n"
    )

    # (a) one encoding of 64 full-resolution frames, every compressor and budget after it.
    clip = frames(args.frames)
    rss.reset()
    t0 = time.perf_counter()
    encoded = vlm.encode([clip])  # compressor "attention": includes the attention probe
    vision = time.perf_counter() - t0
    vision_rss = rss.peak_mb
    total = encoded.tokens.total
    print(
        f"## (a) {args.frames} frames x 512 px -> {total} tokens, vision encoder "
        f"{vision:.1f} s (peak RSS {vision_rss:.0f} MB)\n"
    )
    print(
        "| compressor | kept tokens | compressor s | prefill s | end-to-end TTFT s | "
        "compressor share | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|")
    baseline = None
    for method in COMPRESSORS:
        vlm.compressor = method
        for budget in (64, 256, 1024, 4096):
            if budget >= total and baseline is not None:
                continue
            rss.reset()
            ans = vlm.answer_encoded([clip], encoded, *QUESTION, budget=budget)
            s = ans.seconds
            e2e = vision + s["compress"] + s["prefill"]
            name = method if budget < total else "none (all tokens)"
            print(
                f"| {name} | {ans.visual_tokens} | {s['compress']:.3f} | {s['prefill']:.2f} | "
                f"{e2e:.1f} | {100 * s['compress'] / e2e:.2f}% | {rss.peak_mb:.0f} |",
                flush=True,
            )
            if budget >= total:
                baseline = e2e
    print(
        f"\nUncompressed baseline ({total} tokens from {args.frames} full-res frames): "
        f"end-to-end TTFT {baseline:.1f} s\n"
    )

    # (b) spend the budget before the encoder, then prune 2x after it.
    vlm.compressor = "diversity"
    print("## (b) budget spent before the encoder (frames x resolution), diversity after\n")
    print(
        "| budget | frames x px | tokens encoded | vision s | compressor s | prefill s | "
        "end-to-end TTFT s | speed-up vs baseline | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for budget, n, px in ((64, 8, 256), (256, 8, 512), (1024, 32, 384)):
        set_resolution(vlm, px)
        small = frames(n, seed=1)
        rss.reset()
        ans = vlm.answer([small], *QUESTION, budget=budget)
        s = ans.seconds
        e2e = s["vision"] + s["compress"] + s["prefill"]
        print(
            f"| {budget} | {n} x {px} | {ans.visual_tokens_before} | {s['vision']:.1f} | "
            f"{s['compress']:.3f} | {s['prefill']:.2f} | {e2e:.1f} | {baseline / e2e:.1f}x | "
            f"{rss.peak_mb:.0f} |",
            flush=True,
        )
    print(f"\nload average at end {os.getloadavg()[0]:.1f} (2 cores shared; >2 means contention)")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
