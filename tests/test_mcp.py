"""The MCP server through the SDK's own client: over stdio (a subprocess) and over
streamable HTTP (mounted at /mcp in the real uvicorn app). Every tool is called; failures
come back as tool errors and the server keeps serving."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

mcp = pytest.importorskip("mcp")
pytest.importorskip("fastapi")
anyio = pytest.importorskip("anyio")

from serve_fixtures import FakeWhisper, fast_qa, make_video, running_server  # noqa: E402

from viewfinder.serve.app import create_app  # noqa: E402
from viewfinder.serve.library import Library  # noqa: E402
from viewfinder.serve.service import Service  # noqa: E402

HERE = Path(__file__).parent
TEXTS = {3: "the tunnel boring machine starts digging", 4: "rocket launch countdown begins"}
TOOLS = {"list_videos", "index_video", "ask_video", "find_moments", "get_transcript"}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_video(root / "tunnel.mp4", 3)
    make_video(root / "talks" / "rocket.mp4", 4, tone=880.0)
    return root


def _data(result) -> object:
    """A tool result's structured value (the SDK wraps non-object returns in "result")."""
    assert not result.is_error, result.content
    value = result.structured_content
    return value["result"] if isinstance(value, dict) and set(value) == {"result"} else value


async def _exercise(client) -> None:
    """Call every tool the way an assistant would, and one that fails."""
    tools = await client.list_tools()
    assert {t.name for t in tools.tools} == TOOLS
    assert all(len(t.description or "") > 80 for t in tools.tools)  # written for an LLM

    videos = _data(await client.call_tool("list_videos", {}))
    ids = {v["path"]: v["id"] for v in videos}
    assert set(ids) == {"tunnel.mp4", "talks/rocket.mp4"} and not any(v["indexed"] for v in videos)

    early = await client.call_tool("ask_video", {"video_id": ids["tunnel.mp4"], "question": "?"})
    assert early.is_error and "index" in early.content[0].text  # says how to fix it

    for vid in ids.values():
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))  # noqa: B023 - used within this call

        job = _data(
            await client.call_tool("index_video", {"video_id": vid}, progress_callback=on_progress)
        )
        assert job["state"] == "done" and job["result"]["speech_segments"] == 1
        await anyio.sleep(0.1)  # over a real transport, notifications may trail the result
        assert progress and all(b[0] > a[0] for a, b in zip(progress, progress[1:], strict=False))
        assert progress[-1][1] == 5.0 and ":" in progress[-1][2]

    answer = _data(
        await client.call_tool(
            "ask_video",
            {
                "video_id": ids["tunnel.mp4"],
                "question": "What starts digging?",
                "options": ["the boring machine", "a rocket"],
            },
        )
    )
    assert answer["choice"] == "A" and 0.5 < answer["confidence"] <= 1.0
    assert any("tunnel boring" in e["text"] and e["start"] == 0.5 for e in answer["evidence"])

    hits = _data(await client.call_tool("find_moments", {"query": "rocket countdown"}))
    assert hits[0]["path"] == "talks/rocket.mp4" and hits[0]["modality"] == "speech"

    text = _data(
        await client.call_tool(
            "get_transcript", {"video_id": ids["talks/rocket.mp4"], "start": 0, "end": 2}
        )
    )
    assert [s["text"] for s in text["speech"]] == [TEXTS[4]] and text["screen_text"] == []
    none = _data(
        await client.call_tool(
            "get_transcript", {"video_id": ids["talks/rocket.mp4"], "start": 3.0, "end": 4.0}
        )
    )
    assert none["speech"] == []

    bad = await client.call_tool("get_transcript", {"video_id": "../../etc/passwd"})
    assert bad.is_error and "No video with id" in bad.content[0].text
    again = _data(await client.call_tool("list_videos", {}))  # still serving after errors
    assert len(again) == 2


def test_every_tool_over_stdio(tmp_path: Path, library: Path):
    """An assistant launching the server as a subprocess (stdio) can use every tool."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=[str(HERE / "mcp_fake_server.py"), str(library), str(tmp_path / "cache")],
        env={"PYTHONPATH": os.pathsep.join(sys.path)},
    )

    async def main() -> None:
        async with Client(params) as client:
            await _exercise(client)

    anyio.run(main)


def test_every_tool_over_streamable_http(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same tools at /mcp inside `viewfinder serve` (streamable HTTP)."""
    from mcp import Client

    whisper = FakeWhisper(TEXTS)
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: whisper)
    service = Service(Library([library]), fast_qa(tmp_path / "cache"))

    async def main(url: str) -> None:
        async with Client(f"{url}/mcp/") as client:
            await _exercise(client)

    with running_server(create_app(service)) as url:
        anyio.run(main, url)


def test_viewfinder_mcp_command_over_stdio(tmp_path: Path, library: Path):
    """The real `viewfinder mcp --root DIR` command: lists the library and turns a bad id into
    a tool error, without loading any model."""
    from mcp import Client, StdioServerParameters

    env = {
        "PYTHONPATH": os.pathsep.join(sys.path),
        "VIEWFINDER_CACHE": str(tmp_path / "cache"),
        "VIEWFINDER_ASR": "none",
        "VIEWFINDER_OCR": "none",
        "VIEWFINDER_CLIP": "none",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "viewfinder", "mcp", "--root", str(library)], env=env
    )

    async def main() -> None:
        async with Client(params) as client:
            videos = _data(await client.call_tool("list_videos", {}))
            assert sorted(v["path"] for v in videos) == ["talks/rocket.mp4", "tunnel.mp4"]
            bad = await client.call_tool("ask_video", {"video_id": "nope", "question": "x"})
            assert bad.is_error and "GET /videos" in bad.content[0].text

    anyio.run(main)
