"""The ``viewfinder`` and ``ask`` entry points: the parser of every command, logging, and the
one-line ``error: ...`` on stderr (exit 1) for errors the user can fix (``--debug``: traceback)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ViewfinderError
from .ask import add_ask_arguments, run_ask
from .models import run_models

logger = logging.getLogger("viewfinder")


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("viewfinder")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def _optional_command(module: str) -> Any | None:
    """A subcommand module (``add_parser``/``run``) if it is part of this installation."""
    try:
        return importlib.import_module(module, __package__)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("viewfinder"):
            return None
        raise


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    parser = argparse.ArgumentParser(
        prog="viewfinder",
        description="Answer questions about long videos, with evidence.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Callable[..., int]] = {}
    add_ask_arguments(sub.add_parser("ask", help="ask a question about a video"))
    handlers["ask"] = run_ask
    p = sub.add_parser("models", help="list model roles, installed weights, install commands")
    p.add_argument("--json", action="store_true")
    p.add_argument("--debug", action="store_true")
    handlers["models"] = run_models
    for name, module in (
        ("index", ".index"),
        ("eval", ".evaluate"),
        ("serve", ".serve"),
        ("mcp", ".mcp"),
        ("transcript", ".transcript"),
    ):
        mod = _optional_command(module)
        if mod is not None:
            mod.add_parser(sub)
            handlers[name] = mod.run
    return parser, handlers


def _run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    debug = bool(getattr(args, "debug", False))
    _configure_logging(debug)
    try:
        return handler(args)
    except ViewfinderError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """``viewfinder`` entry point."""
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    return _run(handlers[args.command], args)


def ask_main(argv: Sequence[str] | None = None) -> int:
    """``ask`` entry point: ``ask VIDEO QUESTION [--option TEXT]...``."""
    parser = argparse.ArgumentParser(
        prog="ask",
        description="Answer a question about a video, with timestamped evidence.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ask_arguments(parser)
    args = parser.parse_args(argv)
    return _run(run_ask, args)
