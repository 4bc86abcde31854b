"""Is the visual half ready for a GPU? One run on a CUDA machine answers it in minutes.

On a machine where torch sees a CUDA GPU it

1. makes a 10-minute 720p test video (ffmpeg ``testsrc2``),
2. indexes its frames (0.5 fps, as the index does) with a full-size ViT-B-32 of random weights
   saved and loaded like a user's checkpoint, on the GPU in half precision, with the frame
   index in faiss (on the GPU when faiss has GPU support),
3. answers a question from 64 frames with a full-size SmolVLM2-256M-class VLM of random
   weights at visual-token budgets 256 and 4096,

and prints frames/s, time to first token and peak GPU memory. Random weights cost the same
compute as real ones; answers are meaningless and not printed. On a CPU-only machine it says
so and exits 0 (nothing to check).

Usage: python bench/gpu_check.py [--device cuda] [--minutes 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))


def _make_video(path: Path, minutes: float) -> None:
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=1280x720:rate=25:duration={minutes * 60}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-y",
        str(path),
    ]
    subprocess.run(cmd, check=True)


def _reset_peak(on_gpu: bool) -> None:
    import torch

    if on_gpu:
        torch.cuda.reset_peak_memory_stats()


def _peak(on_gpu: bool) -> str:
    import torch

    return f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MB" if on_gpu else "n/a on CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda", help="cuda or cuda:N (cpu: a dry run of the script itself)"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="test video length")
    parser.add_argument("--frames", type=int, default=64, help="frames the VLM answers from")
    args = parser.parse_args()

    import torch

    on_gpu = args.device.startswith("cuda")
    if on_gpu and not torch.cuda.is_available():
        print(
            f"gpu_check: torch {torch.__version__} sees no CUDA GPU on this machine; nothing "
            "to check (CLIP and the VLM run on the CPU in float32 here)."
        )
        return 0

    from tiny_clip import save_random_clip
    from vlm_bench import build_checkpoint

    from viewfinder.indexes.visual import VisualIndex, decode_side, sample_times
    from viewfinder.tools.clip import load_clip
    from viewfinder.tools.video import open_video
    from viewfinder.tools.vlm import VisualClip, load_vlm

    rows: list[tuple[str, str]] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video = root / "test.mp4"
        t0 = time.perf_counter()
        _make_video(video, args.minutes)
        rows.append(
            (f"make a {args.minutes:g}-min 720p test video", f"{time.perf_counter() - t0:.1f} s")
        )

        clip = load_clip(str(save_random_clip(root / "clip", "ViT-B-32")), device=args.device)
        _reset_peak(on_gpu)
        with open_video(video) as reader:
            info = reader.info
            times = sample_times(info.duration, 0.5)
            t0 = time.perf_counter()
            frames = reader.frames_at(list(times), decode_side(info, clip))
            decoded = time.perf_counter() - t0
            t0 = time.perf_counter()
            vectors = clip.embed_images(frames, source_size=(info.width, info.height))
            if on_gpu:
                torch.cuda.synchronize()
            embedded = time.perf_counter() - t0
        index = VisualIndex(
            times, vectors, duration=info.duration, identity=clip.identity.as_dict()
        )
        hits = index.search("a test pattern", k=5, embedder=clip)
        rows += [
            (f"decode {len(times)} frames (0.5 fps)", f"{len(times) / decoded:.1f} frames/s"),
            (
                f"CLIP ViT-B-32 {clip.placement.dtype} embed",
                f"{len(times) / embedded:.1f} frames/s",
            ),
            ("CLIP peak GPU memory", _peak(on_gpu)),
            ("frame index search", f"{len(hits)} hits ({index.kind()})"),
        ]
        del clip

        vlm = load_vlm(str(build_checkpoint(root)), compressor="diversity", device=args.device)
        with open_video(video) as reader:
            picked = [info.duration * (i + 0.5) / args.frames for i in range(args.frames)]
            shots = reader.frames_at(picked, 512)
        clips = [VisualClip(shots[i : i + 8], picked[i : i + 8]) for i in range(0, len(shots), 8)]
        options = ["a red square", "a moving bar", "a clock", "nothing"]
        for budget in (256, 4096):
            _reset_peak(on_gpu)
            ans = vlm.answer(clips, "What is shown?", options=options, budget=budget)
            ttft = sum(ans.seconds[k] for k in ("vision", "compress", "prefill"))
            rows.append(
                (
                    f"VLM budget {budget} ({ans.visual_tokens}/{ans.visual_tokens_before} "
                    f"tokens, {args.frames} frames)",
                    f"TTFT {ttft:.2f} s (vision {ans.seconds['vision']:.2f} s), peak "
                    + _peak(on_gpu),
                )
            )
    name = torch.cuda.get_device_name(args.device) if on_gpu else "CPU (dry run)"
    print(f"# gpu_check: {name}, torch {torch.__version__}")
    print("| step | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
