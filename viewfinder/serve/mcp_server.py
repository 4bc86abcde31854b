"""The MCP server: the library's videos as tools for an assistant (official ``mcp`` SDK).

The same :class:`~viewfinder.serve.service.Service` backs it as the HTTP API, so over stdio
(``viewfinder mcp``) or mounted at ``/mcp`` in ``viewfinder serve`` the tools see one library,
one job queue and one set of loaded models. A tool that fails raises; the SDK returns that as
a tool error (``isError``) whose text says what to do, and the server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import MissingDependencyError, ViewfinderError
from .jobs import FINISHED
from .service import Service

try:  # this module is the MCP server: importing it is using the SDK
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as e:
    raise MissingDependencyError("mcp", "serve", "The MCP server") from e

INSTRUCTIONS = """\
viewfinder answers questions about long videos (talks, screen recordings, meetings) from \
their speech, on-screen text and pictures, with timestamped evidence. Start with \
list_videos to get video ids. A video must be indexed once (index_video, minutes for a long \
video, then cached) before ask_video, find_moments or get_transcript can use it."""


def build_mcp(service: Service) -> Any:
    """An ``mcp.server.MCPServer`` whose tools call ``service``."""
    server = MCPServer("viewfinder", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def list_videos() -> list[dict[str, Any]]:
        """List every video in the library.

        Returns one entry per video: `id` (pass it to the other tools), `path` (relative to
        its library folder), `duration` in seconds, `indexed` (true when ask_video,
        find_moments and get_transcript can use it) and `parts` (state of each index part).
        """
        with _as_tool_error():
            videos = service.list_videos()
        return [{k: v[k] for k in ("id", "path", "duration", "indexed", "parts")} for v in videos]

    @server.tool()
    async def index_video(video_id: str, ctx: Context) -> dict[str, Any]:
        """Index a video so it can be questioned and searched; waits until it is done.

        Indexing reads the whole video once (shots, speech recognition, on-screen text,
        picture embeddings) and is cached: an indexed video returns at once. A long video can
        take minutes; progress notifications report each stage. Returns the finished job
        (`state` is "done", with counts of clips, speech segments and text spans in `result`).
        """
        with _as_tool_error():
            job = service.queue_index(video_id)
        reported = 0.0
        while True:
            state = service.jobs.get(job["id"]).as_dict()
            stages = state["stages"]
            # Sum of per-stage fractions: never decreases, as the protocol requires.
            progress = sum(min(s["done"] / s["total"], 1.0) for s in stages.values() if s["total"])
            if progress > reported:
                reported = progress
                message = f"{state['stage']}: {state['done']:.0f}/{state['total']:.0f}"
                await ctx.report_progress(progress, total=5.0, message=message)
            if state["state"] in FINISHED:
                break
            await asyncio.sleep(0.2)
        if state["state"] != "done":
            raise ToolError(
                f"Indexing {video_id} ended {state['state']}: {state['error'] or 'cancelled'}"
            )
        return state

    @server.tool()
    def ask_video(video_id: str, question: str, options: list[str] | None = None) -> dict[str, Any]:
        """Answer a question about an indexed video, with evidence.

        Give `options` (2-6 strings) for a multiple-choice question; the answer's `choice` is
        then a letter A-F. Returns `answer` (text), `confidence` (0-1; below about 0.5 the
        answer is a guess), and `evidence`: moments as {start, end (seconds), modality
        ("speech", "text" = on-screen text, "visual"), text}. Quote evidence times to the user
        so they can check the moment. Takes seconds to a minute.
        """
        with _as_tool_error():
            out = service.ask(video_id, question, options)
        return {
            k: out[k]
            for k in ("id", "answer", "choice", "confidence", "evidence", "notes", "explain")
        }

    @server.tool()
    def find_moments(
        query: str, video_id: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Find the moments matching words or a description, across all indexed videos.

        Searches what was said, what was written on screen and (when picture embeddings are
        installed) what was shown, fused into one ranking. Pass `video_id` to search one
        video. Returns hits as {video, path, start, end (seconds), modality, text, score},
        best first. Use short, specific queries ("docker compose up", "red error dialog").
        """
        with _as_tool_error():
            return service.search(query, video_id, limit)

    @server.tool()
    def get_transcript(
        video_id: str, start: float = 0.0, end: float | None = None
    ) -> dict[str, Any]:
        """Read what was said and what was written on screen between `start` and `end`
        seconds of an indexed video (the whole video when both are left out).

        Returns `speech` and `screen_text` lists of {start, end, text}, in time order. Use it
        to read around a moment that find_moments or ask_video pointed to.
        """
        with _as_tool_error():
            return service.transcript(video_id, start, end)

    return server


@contextlib.contextmanager
def _as_tool_error() -> Iterator[None]:
    """A ViewfinderError becomes a tool error carrying its message (the fix) to the caller;
    anything else stays a crash the SDK reports generically and logs."""
    try:
        yield
    except ViewfinderError as e:
        raise ToolError(str(e)) from e
