"""Compare the video backends: 1 frame per second over a 10-minute 1280x720 video.

Builds the video once from /work/shared/media clips (looped, H.264 with a 2 s keyframe
interval, as ``viewfinder.eval.compose`` encodes), then for each installed backend decodes
600 frames at full size and resized to 448 px on the long side. Each measurement runs in its
own subprocess so peak RSS is that backend's alone. Prints a markdown table.

    python bench/decode_bench.py [--cache DIR] [--minutes 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
# Times per frames_at() call.
CHUNK = 32
CLIPS = ("hello_terminal.mp4", "cockatoo.mp4", "display_settings.webm", "city_timelapse.mpg")


def build_video(cache: Path, minutes: float) -> Path:
    """The looped 1280x720 test video, built once and kept in ``cache``."""
    from viewfinder.eval.compose import loop_to_length, normalize_clip

    seconds = minutes * 60
    out = cache / f"decode_bench_{seconds:.0f}s_1280x720.mp4"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    clips = []
    for name in CLIPS:
        clip = cache / f"bench_clip_{Path(name).stem}_1280x720.mp4"
        if not clip.exists():
            normalize_clip(MEDIA / name, clip, width=1280, height=720, fps=25)
        clips.append(clip)
    partial = out.with_suffix(".partial.mp4")
    loop_to_length(clips, seconds, partial)
    partial.rename(out)
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a
    child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(backend: str, video: str, max_side: int | None, threads: int) -> dict:
    """Decode 1 frame/s with ``backend`` (runs inside the child process)."""
    from viewfinder.tools import video as vt

    # Load only the measured backend: discovering all of them imports torch (torchcodec),
    # which would add ~400 MB to every backend's peak RSS.
    factories = {"pyav": lambda: vt.PyAVReader, "torchcodec": vt._torchcodec_reader,
                 "decord": vt._decord_reader}  # fmt: skip
    reader_class = factories[backend]()
    start = time.perf_counter()
    cpu_start = time.process_time()
    frames, shape = 0, None
    with reader_class(video, threads=threads) as reader:
        times = [float(t) for t in range(int(reader.info.duration))]
        # Callers batch: 600 full-size 720p RGB frames alone would be 1.6 GB.
        for i in range(0, len(times), CHUNK):
            batch = reader.frames_at(times[i : i + CHUNK], max_side=max_side)
            frames, shape = frames + len(batch), batch[0].shape
            del batch  # as a caller that processes each batch would
    return {
        "frames": frames,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "shape": list(shape),
        "peak_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "vf_bench")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "VIDEO", "MAX_SIDE"))
    args = parser.parse_args()

    if args.child:
        backend, video, side = args.child
        print(json.dumps(measure(backend, video, int(side) or None, args.threads)))
        return

    from viewfinder.tools import video as vt

    video = build_video(args.cache, args.minutes)
    info = vt.probe(video)
    print(
        f"video: {info.duration:.0f} s {info.width}x{info.height} {info.fps:.0f} fps "
        f"{info.video_codec}, {video.stat().st_size / 1e6:.0f} MB; threads={args.threads}"
    )
    unavailable = [n for n in vt.SPEED_ORDER if n not in vt.AVAILABLE_BACKENDS]
    if unavailable:
        print(f"not available here: {', '.join(unavailable)}")
    print()
    print(
        "| backend | size | frames | wall s | CPU s | frames/s (wall) | frames/CPU-s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for backend in vt.AVAILABLE_BACKENDS:
        for side in (0, 448):
            cmd = [
                sys.executable,
                __file__,
                "--threads",
                str(args.threads),
                "--child",
                backend,
                str(video),
                str(side),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                tail = done.stderr.strip().splitlines()[-1:]
                print(f"| {backend} | {side or 'full'} | failed: {' '.join(tail)} | | | | | |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            h, w = r["shape"][:2]
            print(
                f"| {backend} | {w}x{h} | {r['frames']} | {r['seconds']:.1f} | "
                f"{r['cpu_seconds']:.1f} | {r['frames'] / r['seconds']:.1f} | "
                f"{r['frames'] / r['cpu_seconds']:.1f} | {r['peak_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
