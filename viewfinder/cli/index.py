"""The ``viewfinder index`` sub-command: build, list and clear per-video indexes.

``viewfinder/cli/main.py`` wires it with ``add_parser(subparsers)`` and calls ``run(args)``; this
module prints (it is CLI code) and draws one tqdm bar per stage with an ETA.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError
from ..settings import Settings
from .help import DefaultsHelpFormatter

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``index`` on an argparse sub-parser collection."""
    parser = subparsers.add_parser(
        "index",
        help="index videos once (shots, speech, screen text, frames)",
        description="Build the persistent indexes of VIDEO(s); interrupted runs resume.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("videos", nargs="*", metavar="VIDEO", help="videos to index")
    parser.add_argument(
        "--list",
        action="store_true",
        help="list indexed videos (every part verified against its checksums) and exit",
    )
    parser.add_argument(
        "--clear",
        metavar="VIDEO",
        action="append",
        default=[],
        help="remove the index of VIDEO (a path or a fingerprint); repeatable",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one after another here; ray: one task per video on a Ray cluster (the "
        "cache, $VIEWFINDER_CACHE, must be storage every node shares); a VIDEO may be a folder",
    )
    parser.add_argument(
        "--ray-address", default=None, help="Ray cluster address (default: start a local one)"
    )
    parser.set_defaults(run=run)
    return parser


def _run_ray(args: argparse.Namespace, settings: Settings) -> int:
    """One task per video on Ray; a line per video as it finishes, then the summary."""
    from ..indexes.batch import run_ray, summary

    def show(r: Any) -> None:
        detail = r.reason if r.status == "failed" else f"{r.seconds:.1f} s"
        print(f"{r.video}: {r.status} ({detail})", flush=True)

    results = run_ray([Path(v) for v in args.videos], settings, show, address=args.ray_address)
    counts = summary(results)
    print(
        f"{len(results)} videos: {counts['built']} built, {counts['cached']} cached, "
        f"{counts['failed']} failed"
    )
    return 1 if counts["failed"] else 0


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Execute the sub-command; returns the exit code."""
    from ..indexes import clear, index_video, list_indexes
    from ..indexes.batch import expand_videos
    from ..runtime import Models
    from .progress import ProgressBars

    settings = settings or Settings.from_env()
    if not (args.videos or args.list or args.clear):
        print("error: nothing to do: pass VIDEO..., --list or --clear VIDEO", file=sys.stderr)
        return 2
    if args.videos:
        from ..settings import check_cache_writable

        check_cache_writable(settings.cache_root)  # one error line, not one per video
    for video in args.clear:
        removed = clear(video, settings.cache_root)
        print(f"{'cleared' if removed else 'no index for'} {video}")
    if args.list:
        entries = list_indexes(settings.cache_root)
        if not entries:
            print(f"no indexed videos in {settings.cache_root / 'index'}")
        for e in entries:
            length = f"{e.duration / 60:.1f} min" if e.duration else "?"
            parts = ", ".join(sorted(e.parts)) or "nothing built"
            print(
                f"{e.fingerprint[:12]}  {length:>9}  {e.size_bytes / 1e6:7.1f} MB  "
                f"{e.video or '?'}  [{parts}]"
            )
            for part, problem in sorted(e.damaged.items()):
                print(f"    damaged: {part}: {problem} (rebuilt when the video is next indexed)")
            if e.unsealed:
                print(
                    f"    unverified: {', '.join(e.unsealed)} (written before checksums; "
                    "checked by loading when the video is next indexed)"
                )
    args.videos = [str(v) for v in expand_videos(args.videos)]  # folders -> their videos
    if args.executor == "ray":
        return _run_ray(args, settings)
    failed = built = cached = 0
    models = Models(settings)  # one Whisper, OCR, CLIP and text embedder for every video
    for video in args.videos:
        bars = ProgressBars(keep=True)
        try:
            handle = index_video(Path(video), settings, bars, models=models)
        except ViewfinderError as e:  # one bad video does not stop the batch
            bars.close()
            print(f"error: {video}: {e}", file=sys.stderr)
            failed += 1
            continue
        bars.close()
        if any(w in ("built", "resumed") for w in handle.work.values()):
            built += 1
        else:
            cached += 1
        missing = {m: why for m, why in handle.available.items() if why != "ok"}
        print(
            f"{video}: {len(handle.clips)} clips, {len(handle.speech_segments)} speech "
            f"segments, {len(handle.text_spans)} text spans"
            + (f"; missing: {missing}" if missing else "")
        )
    models.close()
    if len(args.videos) > 1:  # a batch ends with the same summary as the Ray executor's
        print(f"{len(args.videos)} videos: {built} built, {cached} cached, {failed} failed")
    return 1 if failed else 0
