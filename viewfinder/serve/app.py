"""The HTTP API (FastAPI) over a :class:`~viewfinder.serve.service.Service`.

Every route speaks JSON except the media stream, the explanations and the web page. Auth and
the request-size limit are plain ASGI middleware around the whole app, so they also guard
the MCP endpoint mounted at ``/mcp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import InvalidQuestionError, MissingDependencyError, VideoError, ViewfinderError
from .jobs import FINISHED, JobNotFoundError, QueueFullError
from .library import NotInLibraryError
from .service import AnswerNotFoundError, BusyError, NotIndexedError, Service

try:  # this module is the HTTP app: importing it is using FastAPI
    import fastapi
    from fastapi import Query, Request
    from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from pydantic import BaseModel, Field
except ImportError as e:
    raise MissingDependencyError("fastapi", "serve", "viewfinder serve") from e

# Paths reachable without the token: liveness, and the page itself (it holds no data and asks
# for the token before calling the API).
OPEN_PATHS = frozenset({"/healthz", "/", "/favicon.ico"})
OPEN_PREFIXES = ("/static/",)


class AskRequest(BaseModel):
    """Body of POST /ask."""

    video: str = Field(description="library id of the video (GET /videos)")
    question: str = Field(description="the question, in words")
    options: list[str] | None = Field(None, description="2-6 answer options, or none")
    budget: int | None = Field(None, description="visual-token budget (default: the server's)")
    strategy: str | None = Field(None, description="agent or uniform")


@dataclass(frozen=True)
class AppOptions:
    """How the app guards itself."""

    # Bearer token every API call must carry; None only when bound to loopback.
    token: str | None = None
    # Largest request body accepted, in bytes (413 beyond).
    max_body_bytes: int = 64 * 1024
    # Mount the MCP server (streamable HTTP) at /mcp.
    mcp: bool = True


def create_app(service: Service, options: AppOptions | None = None) -> Any:
    """The ASGI app: FastAPI routes, the web page and (optionally) MCP at ``/mcp``."""
    options = options or AppOptions()
    mcp = None
    mcp_app = None
    if options.mcp:
        from mcp.server.transport_security import TransportSecuritySettings

        from .mcp_server import build_mcp

        mcp = build_mcp(service)
        # Loopback: the SDK's own DNS-rebinding guard (localhost Host headers only). Bound
        # elsewhere, the Host is whatever name the server is reached by; the token guards it.
        security = (
            None
            if options.token is None
            else TransportSecuritySettings(enable_dns_rebinding_protection=False)
        )
        mcp_app = mcp.streamable_http_app(streamable_http_path="/", transport_security=security)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if mcp is not None:
                await stack.enter_async_context(mcp.session_manager.run())
            try:
                yield
            finally:
                await asyncio.to_thread(service.close)

    app = fastapi.FastAPI(
        title="viewfinder",
        description="Questions, search and index jobs over a library of videos.",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.exception_handler(ViewfinderError)
    async def _typed_error(_request: Request, error: ViewfinderError) -> JSONResponse:
        status, headers = _status_of(error)
        return JSONResponse(
            {"error": str(error), "type": type(error).__name__}, status_code=status, headers=headers
        )

    # ------------------------------------------------------------------ library

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "ok": True,
            "videos": len(service.library.videos()),
            "roots": len(service.library.roots),
        }

    @app.get("/models")
    def models() -> dict[str, Any]:
        return service.models()

    @app.get("/videos")
    def list_videos() -> list[dict[str, Any]]:
        return service.list_videos()

    @app.get("/videos/{video_id}")
    def get_video(video_id: str) -> dict[str, Any]:
        return service.video(video_id)

    @app.get("/videos/{video_id}/media")
    def media(video_id: str) -> FileResponse:
        path = service.library.get(video_id).path
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=kind)

    # ------------------------------------------------------------------ jobs

    @app.post("/videos/{video_id}/index", status_code=202)
    def queue_index(video_id: str) -> dict[str, Any]:
        return service.queue_index(video_id)

    @app.get("/jobs")
    def list_jobs() -> list[dict[str, Any]]:
        return [j.as_dict() for j in service.jobs.jobs()]

    @app.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return service.jobs.get(job_id).as_dict()

    @app.delete("/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return service.jobs.cancel(job_id).as_dict()

    @app.post("/jobs/{job_id}/cancel")
    def cancel_job_post(job_id: str) -> dict[str, Any]:
        return service.jobs.cancel(job_id).as_dict()

    @app.get("/jobs/{job_id}/events")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        service.jobs.get(job_id)  # 404 before the stream starts

        async def stream() -> AsyncIterator[bytes]:
            seen = -1
            while True:
                version, state = service.jobs.snapshot(job_id)
                if version != seen:
                    seen = version
                    yield f"event: progress\ndata: {json.dumps(state)}\n\n".encode()
                    if state["state"] in FINISHED:
                        yield f"event: end\ndata: {json.dumps(state)}\n\n".encode()
                        return
                if await request.is_disconnected():
                    return  # the job goes on; only this stream ends
                await asyncio.sleep(0.1)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    # ------------------------------------------------------------------ questions

    @app.post("/ask")
    def ask(request: AskRequest) -> dict[str, Any]:
        """The `ask --json` object, plus `id` and links to its explanation."""
        return service.ask(
            request.video, request.question, request.options, request.budget, request.strategy
        )

    @app.get("/answers/{answer_id}/explain.png")
    def explain_png(answer_id: str) -> Response:
        return Response(service.explanation(answer_id, "png"), media_type="image/png")

    @app.get("/answers/{answer_id}/explain.html")
    def explain_html(answer_id: str) -> Response:
        return Response(service.explanation(answer_id, "html"), media_type="text/html")

    @app.get("/search")
    def search(
        q: str = Query(..., description="words or a description of the moment"),
        video: str | None = Query(None, description="one video's id; all videos when left out"),
        k: int = Query(10, ge=1, le=service.limits.max_search_hits),
    ) -> dict[str, Any]:
        return {"query": q, "hits": service.search(q, video, k)}

    @app.get("/videos/{video_id}/transcript")
    def transcript(
        video_id: str, start: float = Query(0.0, ge=0.0), end: float | None = Query(None)
    ) -> dict[str, Any]:
        return service.transcript(video_id, start, end)

    # ------------------------------------------------------------------ page

    static = resources.files("viewfinder.serve") / "static"

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return Response((static / "index.html").read_bytes(), media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        files = {p.name: p for p in static.iterdir() if p.is_file()}  # never a path from the URL
        if name not in files:
            raise NotInLibraryError(f"No static file {name!r}.")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(files[name].read_bytes(), media_type=kind)

    if mcp_app is not None:
        app.mount("/mcp", mcp_app)
    return _Guard(app, options)


def _status_of(error: ViewfinderError) -> tuple[int, dict[str, str]]:
    if isinstance(error, BusyError):
        return 429, {"Retry-After": str(error.retry_after)}
    if isinstance(error, QueueFullError):
        return 429, {"Retry-After": "30"}
    if isinstance(error, NotInLibraryError | JobNotFoundError | AnswerNotFoundError):
        return 404, {}
    if isinstance(error, NotIndexedError):
        return 409, {}
    if isinstance(error, InvalidQuestionError | VideoError):
        return 422, {}
    return 400, {}


class _Guard:
    """ASGI middleware: bearer token (constant-time compare) and a request-body size cap."""

    def __init__(self, app: Any, options: AppOptions) -> None:
        self.app = app
        self.options = options
        self._token = options.token.encode() if options.token else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            self._token is not None
            and not self._open(scope["path"])
            and not self._authorized(scope)
        ):
            await _reply(
                send,
                401,
                {"error": "missing or wrong bearer token"},
                {"www-authenticate": "Bearer"},
            )
            return
        limit = self.options.max_body_bytes
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _reply(send, 413, {"error": f"request body over {limit} bytes"})
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Read the (small) body up front, so a chunked upload cannot exceed the cap either.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _reply(send, 413, {"error": f"request body over {limit} bytes"})
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    def _authorized(self, scope: dict[str, Any]) -> bool:
        assert self._token is not None
        for key, value in scope.get("headers") or []:
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), self._token)
        # The <video> element cannot send headers: the media stream also takes ?token=.
        if scope["path"].endswith("/media"):
            from urllib.parse import parse_qs

            given = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
            return hmac.compare_digest(given.encode(), self._token)
        return False


async def _reply(
    send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
