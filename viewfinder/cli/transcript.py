"""The ``viewfinder transcript`` sub-command: print or export what the index heard and read.

``viewfinder/cli/main.py`` wires it with ``add_parser(subparsers)`` and calls ``run(args)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``transcript`` on an argparse sub-parser collection."""
    parser = subparsers.add_parser(
        "transcript",
        help="print or export the indexed speech (and screen text) with timestamps",
        description="Print what the index of VIDEO heard (and, with --text, read), with "
        "timestamps; indexes the video first if needed. SRT / WebVTT output works as subtitles "
        "(and as `ask --subtitles`).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("video", help="path of the video file")
    parser.add_argument("--text", action="store_true", help="include on-screen text")
    parser.add_argument(
        "--format",
        choices=["txt", "srt", "vtt", "json"],
        default=None,
        help="output format (default: from the suffix of -o, else txt)",
    )
    parser.add_argument(
        "-o", "--output", default=None, metavar="FILE", help="write to FILE instead of stdout"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="debug logs and full tracebacks")
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute the sub-command; returns the exit code."""
    from ..indexes.store import atomic_write_bytes
    from ..qa import VideoQA
    from ..transcript import format_for, render
    from .progress import ProgressBars

    fmt = format_for(args.output, args.format)  # a bad suffix fails before indexing
    qa = VideoQA()
    bars = ProgressBars(enabled=not args.quiet and sys.stderr.isatty())
    try:
        transcript = qa.transcript(args.video, text=args.text, progress=bars)
    finally:
        bars.close()
    if not transcript.lines and not transcript.notes:
        print("note: the index holds no speech or screen text for this video", file=sys.stderr)
    for note in transcript.notes:
        print(f"note: {note}", file=sys.stderr)
    body = render(transcript, fmt)
    if args.output:
        atomic_write_bytes(Path(args.output).expanduser(), body.encode("utf-8"))
        print(f"wrote {len(transcript.lines)} lines to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(body)
    return 0
