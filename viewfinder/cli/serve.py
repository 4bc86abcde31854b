"""The ``viewfinder serve`` sub-command: the HTTP API, the web page and MCP at ``/mcp``.

``viewfinder/cli/main.py`` wires it with ``add_parser(subparsers)`` and calls ``run(args)``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from typing import Any

from ..errors import ViewfinderError, require

TOKEN_ENV = "VIEWFINDER_TOKEN"


class InsecureBindError(ViewfinderError):
    """Asked to listen beyond loopback without a token."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on an argparse sub-parser collection."""
    p = subparsers.add_parser(
        "serve",
        help="HTTP API, web page and MCP server over a library of videos",
        description="Serve the videos under --root: JSON API (OpenAPI at /docs), a web page "
        "at /, and MCP (streamable HTTP) at /mcp.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_library_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8765, help="TCP port")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"bearer token required on every API call (default: ${TOKEN_ENV}); "
        "required for any address other than loopback",
    )
    p.add_argument("--workers", type=int, default=1, help="index jobs run at the same time")
    p.add_argument("--max-asks", type=int, default=1, help="questions answered at once")
    p.add_argument("--max-waiting", type=int, default=4, help="questions allowed to wait")
    p.add_argument("--max-queue", type=int, default=16, help="index jobs allowed to wait")
    p.add_argument("--no-mcp", action="store_true", help="do not mount MCP at /mcp")
    p.add_argument("--debug", action="store_true", help="debug logs and full tracebacks")
    return p


def add_library_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        action="append",
        required=True,
        metavar="DIR",
        help="a folder of videos to serve (repeatable); nothing outside the roots is reachable",
    )


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token (before anything loads)."""
    if token:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InsecureBindError(
            f"Listening on {host} would expose the library to the network without a token; "
            f"pass --token SECRET (or set {TOKEN_ENV}), or listen on 127.0.0.1."
        )


def quiet_other_loggers() -> None:
    """Warnings and errors of other libraries on stderr, nothing below.

    The MCP SDK calls ``logging.basicConfig`` when a server is built; with a root handler
    already in place that is a no-op, so libraries that log at DEBUG stay quiet.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        # viewfinder's own records already have the CLI's handler on the "viewfinder" logger.
        handler.addFilter(lambda record: not record.name.startswith("viewfinder"))
        root.addHandler(handler)


def build_service(args: argparse.Namespace) -> Any:
    from ..qa import VideoQA
    from ..serve.library import Library
    from ..serve.service import Service, ServiceLimits

    limits = ServiceLimits(
        max_concurrent_asks=getattr(args, "max_asks", 1),
        max_waiting_asks=getattr(args, "max_waiting", 4),
        max_queued_jobs=getattr(args, "max_queue", 16),
        index_workers=getattr(args, "workers", 1),
    )
    return Service(Library(args.root), VideoQA(), limits)


def run(args: argparse.Namespace) -> int:
    """Execute ``serve``; returns the exit code when the server stops."""
    check_bind(args.host, args.token)
    uvicorn = require("uvicorn", "serve", "viewfinder serve")
    from ..serve.app import AppOptions, create_app

    quiet_other_loggers()
    service = build_service(args)
    app = create_app(service, AppOptions(token=args.token, mcp=not args.no_mcp))
    print(
        f"viewfinder: {len(service.library.videos())} videos under "
        f"{', '.join(map(str, service.library.roots))}; http://{args.host}:{args.port}/",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
