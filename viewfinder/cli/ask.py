"""``ask VIDEO QUESTION`` (and ``viewfinder ask``): the arguments, their checks, the answer as text."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError
from .progress import ProgressBars


def add_ask_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="path of the video file")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=None,
        metavar="TEXT",
        help="an answer option; give 2-6 for a multiple-choice question",
    )
    p.add_argument(
        "--subtitles",
        default=None,
        metavar="FILE",
        help="the video's subtitles (.srt, .vtt or LongVideoBench .json): used as its speech "
        "instead of running speech recognition",
    )
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        metavar="TOKENS",
        help="visual-token budget for the answering model (default: 1024)",
    )
    p.add_argument(
        "--strategy",
        choices=["agent", "retrieve", "uniform"],
        default=None,
        help="answering strategy (default: agent; retrieve: one search, then answer; "
        "uniform: evenly sampled evidence, the baseline)",
    )
    for flag, what in (
        ("no-plan", "search with the question as is"),
        ("no-reflect", "answer once, never look again"),
        ("frames-not-clips", "lone frames at peaks instead of key clips"),
        ("no-zoom", "no full-resolution crops"),
        ("no-verify", "do not look up each option's wording in the transcript and screen text"),
    ):
        p.add_argument(
            f"--{flag}", dest="flags", action="append_const", const=flag, help=f"ablation: {what}"
        )
    p.add_argument("--max-steps", type=int, default=None, help="agent look-again limit (3)")
    p.add_argument(
        "--explain",
        default=None,
        metavar="OUT.png|OUT.html",
        help="draw the timeline: relevance, chosen clips, zoom crops, evidence",
    )
    p.add_argument("--frames", type=int, default=None, help="frames sampled for screen text")
    p.add_argument(
        "--llm", default=None, help="text LLM name or GGUF path (see `viewfinder models`)"
    )
    p.add_argument("--asr", default=None, help="speech model name or path")
    p.add_argument("--ocr", default=None, help="OCR engine name")
    p.add_argument(
        "--vlm",
        default=None,
        help="VLM name or local directory (default: use one only if installed)",
    )
    p.add_argument(
        "--compressor",
        choices=["pool", "diversity", "attention", "temporal"],
        default=None,
        help="VLM visual-token compressor (default: diversity)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="where CLIP and the VLM run: auto (GPU if present), cpu, cuda, cuda:N (auto)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="debug logs and full tracebacks")


def run_ask(args: argparse.Namespace) -> int:
    from ..qa import VideoQA, validate_question
    from ..settings import Settings, check_cache_writable, check_model_names

    models_named = {"llm": args.llm, "asr": args.asr, "ocr": args.ocr, "vlm": args.vlm}
    overrides = {
        k: v
        for k, v in {
            "budget": args.budget,
            "strategy": args.strategy,
            "frames": args.frames,
            "compressor": args.compressor,
            "device": args.device,
            "max_steps": args.max_steps,
            "flags": tuple(args.flags) if args.flags else None,
            **models_named,
        }.items()
        if v is not None
    }
    # Everything that can be checked is checked here, before a model loads or a frame decodes.
    settings = Settings.from_env(**overrides)
    validate_question(args.question, args.option)
    check_distinct_options(args.option)
    check_cache_writable(settings.cache_root)  # weights are assembled there on first use
    # A model named on the command line must be installed, not just known.
    check_model_names(settings, installed=tuple(k for k, v in models_named.items() if v))
    explain_to = check_explain_path(args.explain) if args.explain else None
    if explain_to is not None:
        import os

        # matplotlib keeps a font cache and config in ~/.cache and ~/.config: keep it in ours.
        os.environ.setdefault("MPLCONFIGDIR", str(settings.cache_root / "matplotlib"))
    qa = VideoQA(settings)
    bars = ProgressBars(enabled=not (args.quiet or args.json) and sys.stderr.isatty())
    try:
        answer = qa.ask(
            args.video, args.question, args.option, progress=bars, subtitles=args.subtitles
        )
    finally:
        bars.close()
    # The answer is printed before the explanation is drawn: a failure there must not lose it.
    if args.json:
        print(json.dumps(answer.as_dict(), ensure_ascii=False), flush=True)
    else:
        print(format_answer(answer), flush=True)
    if explain_to is not None:
        from ..agent.explain import explain

        try:
            agent = qa.settings.strategy in ("agent", "retrieve")
            index = qa.index(args.video, subtitles=args.subtitles) if agent else None
            explain(answer, args.video, explain_to, index=index, question=args.question)
        except (OSError, ViewfinderError) as e:
            if args.debug:
                raise
            # Exit 1: the answer is on stdout, but a file the user asked for is missing.
            print(
                f"error: the answer is above, but the explanation was not written: {e}",
                file=sys.stderr,
            )
            return 1
    return 0


def check_distinct_options(options: Sequence[str] | None) -> None:
    """Reject ``--option`` values that repeat one another (the choice between them is a coin toss).

    Only the command line checks this: benchmark annotations do repeat options (24 of
    LongVideoBench's 1337 validation questions), and the library answers them as given.
    """
    seen: dict[str, int] = {}
    for n, option in enumerate(options or [], start=1):
        key = " ".join(option.split()).casefold()
        if key in seen:
            from ..errors import InvalidQuestionError

            raise InvalidQuestionError(
                f"--option {seen[key]} and --option {n} are the same ({option.strip()!r}); "
                "give each option different text."
            )
        seen[key] = n


def check_explain_path(path: str) -> Path:
    """The ``--explain`` path, checked before any work: known suffix, writable folder."""
    import importlib.util
    import os

    from ..agent.explain import check_out_path
    from ..errors import MissingDependencyError, OutputPathError

    out = check_out_path(path)
    if importlib.util.find_spec("matplotlib") is None:
        raise MissingDependencyError("matplotlib", "plot", "Drawing the --explain timeline")
    if out.is_dir():
        raise OutputPathError(
            f"Cannot write the explanation to {out}: it is a folder. Give a file name, e.g. "
            f"--explain {out / 'explain.png'}"
        )
    folder = out.parent
    while not folder.exists():  # the folders explain() would create
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        what = "is not a folder" if not folder.is_dir() else "is not writable"
        raise OutputPathError(
            f"Cannot write the explanation to {out}: {folder} {what}. Pass --explain a path "
            "in a folder you can write to."
        )
    return out


def format_answer(answer: Any) -> str:
    """The human-readable answer block."""
    from ..agent.evidence import MODALITY_LABEL, stamp

    head = f"({answer.choice}) {answer.text}" if answer.choice else answer.text
    lines = [f"Answer: {head}", f"Confidence: {answer.confidence:.2f}"]
    if answer.evidence:
        lines.append("Evidence:")
        for e in answer.evidence:
            lines.append(f'  [{stamp(e.start, e.end)}] {MODALITY_LABEL[e.modality]}: "{e.text}"')
    else:
        lines.append("Evidence: none found")
    for note in answer.notes:
        lines.append(f"Note: {note}")
    seconds = answer.usage.get("seconds", {})
    if "total" in seconds:
        lines.append(f"Took {seconds['total']:.1f} s")
    return "\n".join(lines)
