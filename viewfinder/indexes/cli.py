"""The ``viewfinder index`` sub-command: build, list and clear per-video indexes.

``viewfinder/cli.py`` wires it with ``add_parser(subparsers)`` and calls ``run(args)``; this
module prints (it is CLI code) and draws one tqdm bar per stage with an ETA.
"""

# ruff: noqa: T201 - this module is CLI code: printing is its job.
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..cli_help import DefaultsHelpFormatter
from ..errors import ViewfinderError
from ..settings import Settings

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
    parser.add_argument("--list", action="store_true", help="list indexed videos and exit")
    parser.add_argument(
        "--clear",
        metavar="VIDEO",
        action="append",
        default=[],
        help="remove the index of VIDEO (a path or a fingerprint); repeatable",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Execute the sub-command; returns the exit code."""
    from ..cli import ProgressBars
    from ..runtime import Models
    from . import clear, index_video, list_indexes

    settings = settings or Settings.from_env()
    if not (args.videos or args.list or args.clear):
        print("nothing to do: pass VIDEO..., --list or --clear VIDEO")
        return 2
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
    failed = 0
    models = Models(settings)  # one Whisper, OCR, CLIP and text embedder for every video
    for video in args.videos:
        bars = ProgressBars(keep=True)
        try:
            handle = index_video(Path(video), settings, bars, models=models)
        except ViewfinderError as e:  # one bad video does not stop the batch
            bars.close()
            print(f"{video}: {e}")
            failed += 1
            continue
        bars.close()
        missing = {m: why for m, why in handle.available.items() if why != "ok"}
        print(
            f"{video}: {len(handle.clips)} clips, {len(handle.speech_segments)} speech "
            f"segments, {len(handle.text_spans)} text spans"
            + (f"; missing: {missing}" if missing else "")
        )
    models.close()
    return 1 if failed else 0
