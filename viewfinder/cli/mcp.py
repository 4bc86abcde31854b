"""The ``viewfinder mcp`` sub-command: the MCP server over stdio, for assistants that launch
it as a subprocess. stdout carries the protocol, so nothing else is printed there.
"""

from __future__ import annotations

import argparse
from typing import Any

from .serve import add_library_arguments, build_service, quiet_other_loggers


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``mcp`` on an argparse sub-parser collection."""
    p = subparsers.add_parser(
        "mcp",
        help="MCP server over stdio (tools: list_videos, index_video, ask_video, ...)",
        description="Run the MCP server on stdin/stdout over the videos under --root.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_library_arguments(p)
    p.add_argument("--debug", action="store_true", help="debug logs (on stderr)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..serve.mcp_server import build_mcp

    quiet_other_loggers()
    service = build_service(args)
    try:
        build_mcp(service).run("stdio")
    finally:
        service.close()
    return 0
