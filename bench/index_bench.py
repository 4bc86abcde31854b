"""Index-building benchmark: seconds per stage, total, real-time factor and peak RSS.

Builds (or takes) a long video with speech: real clips from ../shared/media normalised to
the requested size and looped, with the recorded speech prompts laid every ``--speech-every``
seconds. Then indexes it into a fresh cache and prints a table.

    python bench/index_bench.py --minutes 60 --height 720          # the issue's target
    python bench/index_bench.py --minutes 10 --height 720          # a quicker run
    python bench/index_bench.py --video my.mp4                     # any video

Goal on 2 cores: a 60-minute 720p video fully indexed in <= 8 minutes, peak RSS <= 3 GB.
The frames stage uses a randomly initialised ViT-B-32 (``--random-clip``): no CLIP weights can
be downloaded on the reference machine, and random weights cost the same compute.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"
FOOTAGE = [
    "wanna_work_together.mp4",
    "channel_ident_slides.mp4",
    "display_settings.webm",
    "hello_terminal.mp4",
    "message_board.ogv",
    "cockatoo.mp4",
    "city_timelapse.mpg",
]


def build_video(minutes: float, height: int, fps: int, speech_every: float, out: Path) -> Path:
    """Loop real clips to ``minutes`` at ``height``p and lay speech prompts on top."""
    from viewfinder.eval.compose import lay_speech, loop_to_length, normalize_clip, speech_prompts

    width = height * 16 // 9
    parts = [
        normalize_clip(MEDIA / n, out.parent / f"clip{i}_{height}.mp4", width, height, fps)
        for i, n in enumerate(FOOTAGE)
    ]
    footage = loop_to_length(parts, minutes * 60, out.parent / f"footage_{minutes}_{height}.mp4")
    prompts = speech_prompts(MEDIA)
    placements, t, i = [], 10.0, 0
    while t < minutes * 60 - 20:
        placements.append((prompts[i % len(prompts)].wav, t))
        t += speech_every
        i += 1
    return lay_speech(footage, placements, out, keep_original=True)


def random_clip(directory: Path, arch: str) -> Path:
    """Save a randomly initialised open_clip ``arch`` in open_clip's hub layout.

    No CLIP weights can be downloaded here; random weights cost exactly the compute of real
    ones, so the "frames" stage is timed truthfully (its search results mean nothing).
    """
    import open_clip
    import safetensors.torch
    from open_clip.push_to_hf_hub import save_config_for_hf

    target = directory / f"random-{arch}"
    if (target / "open_clip_model.safetensors").exists():
        return target
    model = open_clip.create_model(arch, pretrained=None)
    target.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(model.state_dict(), str(target / "open_clip_model.safetensors"))
    config = open_clip.get_model_config(arch)
    save_config_for_hf(model, target / "open_clip_config.json", config)
    return target


def peak_rss_mb() -> float:
    """Peak resident set size of this process (and waited-for children), MB."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return me / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="index this video instead of building one")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--speech-every", type=float, default=30.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vf_bench")
    parser.add_argument("--no-overlap", action="store_true", help="run stages one after another")
    parser.add_argument(
        "--random-clip",
        metavar="ARCH",
        default="ViT-B-32",
        help="time the frames stage with a randomly initialised open_clip ARCH (same compute "
        "as real weights, which cannot be downloaded here); 'none' skips the stage",
    )
    parser.add_argument("--clip-fps", type=float, default=0.5, help="frames embedded per second")
    args = parser.parse_args()

    from viewfinder.indexes import IndexOptions, index_video
    from viewfinder.indexes.visual import VisualIndexOptions
    from viewfinder.settings import Settings
    from viewfinder.tools.video import probe

    args.workdir.mkdir(parents=True, exist_ok=True)
    video = args.video
    if video is None:
        video = args.workdir / f"bench_{args.minutes:g}min_{args.height}p.mp4"
        if not video.exists():
            t0 = time.perf_counter()
            build_video(args.minutes, args.height, args.fps, args.speech_every, video)
            print(f"built {video} in {time.perf_counter() - t0:.0f} s")
    info = probe(video)
    cache = Path(tempfile.mkdtemp(prefix="cache_", dir=args.workdir))
    clip = None
    if args.random_clip.lower() != "none":
        clip = str(random_clip(args.workdir, args.random_clip))
    settings = Settings(cache_dir=cache, clip=clip)
    first_seen: dict[str, float] = {}
    last_seen: dict[str, float] = {}
    lock = threading.Lock()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()

    def progress(stage: str, done: float, total: float) -> None:
        now = time.perf_counter() - started
        with lock:
            first_seen.setdefault(stage, now)
            last_seen[stage] = now

    handle = index_video(
        video,
        settings,
        progress,
        options=IndexOptions(
            overlap=not args.no_overlap, visual=VisualIndexOptions(fps=args.clip_fps)
        ),
    )
    total = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    t0 = time.perf_counter()
    reload_options = IndexOptions(visual=VisualIndexOptions(fps=args.clip_fps))
    index_video(video, settings, options=reload_options)
    reload = time.perf_counter() - t0

    print(
        f"\nvideo: {video.name}  {info.duration / 60:.1f} min  {info.width}x{info.height} "
        f"@ {info.fps:.0f} fps  audio={info.has_audio}"
    )
    print(f"{'stage':<12} {'seconds':>8} {'wall from':>10} {'wall to':>8}")
    for stage in ("decode", "shots", "speech", "screen text", "frames"):
        secs = handle.seconds.get(stage)
        if secs is None and stage not in first_seen:
            print(f"{stage:<12} {'skipped':>8}   {handle.available.get('visual', '')[:60]}")
            continue
        print(
            f"{stage:<12} {secs or 0.0:8.1f} {first_seen.get(stage, 0):10.1f} "
            f"{last_seen.get(stage, 0):8.1f}"
        )
    print(f"{'total':<12} {total:8.1f}")
    print(
        f"real-time factor: {total / info.duration:.3f}  "
        f"(60-min projection: {total / info.duration * 3600 / 60:.1f} min)"
    )
    print(
        f"CPU seconds (all threads): {cpu:.0f}  -> CPU-time factor {cpu / info.duration:.3f}; "
        f"on 2 idle cores the wall time is at least {cpu / 2:.0f} s "
        f"(60-min projection >= {cpu / 2 / info.duration * 60:.1f} min)"
    )
    with open("/proc/loadavg") as f:
        print(
            f"load average at the end: {f.read().split()[:3]} (wall times are only "
            "meaningful on an idle machine)"
        )
    print(f"peak RSS: {peak_rss_mb():.0f} MB   reload: {reload:.2f} s")
    print(
        f"clips {len(handle.clips)}, speech segments {len(handle.speech_segments)}, "
        f"text spans {len(handle.text_spans)}, CLIP frames "
        f"{len(handle.visual.frame_times) if handle.visual is not None else 0} "
        f"({'random ' + args.random_clip if clip else 'none'}); "
        f"frames read by OCR {handle.store.manifest('screen_text')['summary']}"
    )


if __name__ == "__main__":
    main()
