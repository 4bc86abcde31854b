"""The HTTP API against a real uvicorn server on a loopback port, driven with httpx.

Models are fakes implementing the real interfaces (speech recognition, the LLM); the videos,
the index build, the store, the agent and the HTTP stack are the real ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from serve_fixtures import FakeWhisper, fast_qa, make_video, running_server  # noqa: E402

from viewfinder.cli.serve import InsecureBindError, check_bind  # noqa: E402
from viewfinder.serve.app import AppOptions, create_app  # noqa: E402
from viewfinder.serve.library import Library  # noqa: E402
from viewfinder.serve.service import Service, ServiceLimits  # noqa: E402

TEXTS = {3: "the tunnel boring machine starts digging", 4: "rocket launch countdown begins"}
TOKEN = "s3cret-token"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_video(root / "tunnel.mp4", 3)
    make_video(root / "talks" / "rocket.mp4", 4, tone=880.0)
    return root


@pytest.fixture
def whisper(monkeypatch: pytest.MonkeyPatch) -> FakeWhisper:
    fake = FakeWhisper(TEXTS)
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: fake)
    return fake


def _service(tmp_path: Path, roots: list[Path], **limits) -> Service:
    return Service(Library(roots), fast_qa(tmp_path / "cache"), ServiceLimits(**limits))


def _ids(client: httpx.Client) -> dict[str, str]:
    return {v["path"]: v["id"] for v in client.get("/videos").json()}


def _index(client: httpx.Client, vid: str) -> list[dict]:
    """Queue an index job and follow its event stream to the end; returns the events."""
    job = client.post(f"/videos/{vid}/index").json()
    events = []
    with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append({"event": name, **json.loads(line[6:])})
    return events


def test_index_ask_search_and_media(tmp_path: Path, library: Path, whisper: FakeWhisper):
    """A client lists the library, indexes both videos following progress events, asks a
    question (the `ask --json` object plus explanation links), searches across both videos
    and streams a video with range requests."""
    service = _service(tmp_path, [library])
    with (
        running_server(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.get("/healthz").json()["videos"] == 2
        videos = client.get("/videos").json()
        assert {v["path"] for v in videos} == {"tunnel.mp4", "talks/rocket.mp4"}
        assert all(not v["indexed"] and v["parts"]["speech"] == "missing" for v in videos)
        assert all(str(tmp_path) not in json.dumps(v) for v in videos)  # ids, never paths
        ids = _ids(client)

        events = _index(client, ids["tunnel.mp4"])
        assert events[-1]["event"] == "end" and events[-1]["state"] == "done"
        assert events[0]["state"] in ("queued", "running") and len(events) >= 2
        stages = events[-1]["stages"]
        assert {"decode", "shots", "speech"} <= set(stages)
        assert stages["speech"]["done"] == pytest.approx(stages["speech"]["total"], abs=0.05)
        assert events[-1]["result"]["speech_segments"] == 1
        # A client that goes away mid-stream does not stop the job.
        job = client.post(f"/videos/{ids['talks/rocket.mp4']}/index").json()
        with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
            assert next(stream.iter_lines()).startswith("event: progress")
        deadline = time.monotonic() + 60
        while client.get(f"/jobs/{job['id']}").json()["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        video = client.get(f"/videos/{ids['tunnel.mp4']}").json()
        assert video["indexed"] and video["parts"]["speech"] == "current"

        r = client.post(
            "/ask",
            json={
                "video": ids["tunnel.mp4"],
                "question": "What starts digging?",
                "options": ["the boring machine", "a rocket"],
            },
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["choice"] == "A" and answer["answer"] == "the boring machine"
        assert {"confidence", "evidence", "usage", "models", "notes"} <= set(answer)
        assert any("tunnel boring" in e["text"] for e in answer["evidence"])
        assert answer["usage"]["video"]["path"] == "tunnel.mp4"
        png = client.get(answer["explain"]["png"])
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        html = client.get(answer["explain"]["html"])
        assert html.status_code == 200 and "<img" in html.text

        hits = client.get("/search", params={"q": "rocket launch"}).json()["hits"]
        assert hits[0]["path"] == "talks/rocket.mp4" and "countdown" in hits[0]["text"]
        hits = client.get("/search", params={"q": "tunnel machine"}).json()["hits"]
        assert hits[0]["video"] == ids["tunnel.mp4"] and hits[0]["start"] == 0.5
        one = client.get("/search", params={"q": "rocket", "video": ids["tunnel.mp4"]})
        assert one.json()["hits"] == []

        size = (library / "tunnel.mp4").stat().st_size
        head = client.get(f"/videos/{ids['tunnel.mp4']}/media", headers={"Range": "bytes=0-99"})
        assert head.status_code == 206 and len(head.content) == 100
        assert head.headers["content-range"] == f"bytes 0-99/{size}"
        assert head.content == (library / "tunnel.mp4").read_bytes()[:100]
        tail = client.get(f"/videos/{ids['tunnel.mp4']}/media", headers={"Range": "bytes=-10"})
        assert (
            tail.status_code == 206 and tail.content == (library / "tunnel.mp4").read_bytes()[-10:]
        )
        bad = client.get(
            f"/videos/{ids['tunnel.mp4']}/media", headers={"Range": f"bytes={size + 5}-"}
        )
        assert bad.status_code == 416
        assert (
            client.get(f"/videos/{ids['tunnel.mp4']}/media").content
            == (library / "tunnel.mp4").read_bytes()
        )

        schema = client.get("/openapi.json").json()
        assert {"/ask", "/search", "/videos/{video_id}/index"} <= set(schema["paths"])
        assert client.get("/docs").status_code == 200
        models = client.get("/models").json()
        assert models["configured"]["ocr"] is None and "llm" in models["configured"]


def test_cancel_running_and_queued_jobs(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
):
    """A job held mid-speech is cancelled at its next progress report (its finished chunks
    stay checkpointed); a job waiting behind it is cancelled at once and never runs."""
    make_video(library / "long.mp4", 250, fps=1, size=32)
    gate = threading.Event()
    fake = FakeWhisper({120: "first chunk words"}, gate=gate)
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: fake)
    service = _service(tmp_path, [library])
    with (
        running_server(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        ids = _ids(client)
        running = client.post(f"/videos/{ids['long.mp4']}/index").json()
        waiting = client.post(f"/videos/{ids['tunnel.mp4']}/index").json()
        assert client.get(f"/jobs/{waiting['id']}").json()["state"] == "queued"
        deadline = time.monotonic() + 60
        while client.get(f"/jobs/{running['id']}").json()["stages"].get("speech") is None:
            assert time.monotonic() < deadline, "no speech progress"
            time.sleep(0.05)
        assert client.delete(f"/jobs/{waiting['id']}").json()["state"] == "cancelled"
        assert client.post(f"/jobs/{running['id']}/cancel").json()["cancel_requested"]
        gate.set()
        while (state := client.get(f"/jobs/{running['id']}").json())["state"] == "running":
            assert time.monotonic() < deadline, "cancel not honoured"
            time.sleep(0.05)
        assert state["state"] == "cancelled"
        long = client.get(f"/videos/{ids['long.mp4']}").json()
        assert not long["indexed"] and long["parts"]["speech"] == "partial"
        tunnel = client.get(f"/videos/{ids['tunnel.mp4']}").json()
        assert tunnel["parts"]["shots"] == "missing"  # the cancelled queued job never ran
        assert client.get("/jobs/nope").status_code == 404


def test_token_required_when_set_and_for_other_hosts(tmp_path: Path, library: Path):
    """With a token every API call needs it (401 without, constant-time compare); the
    liveness check stays open; a non-loopback address without a token refuses to start."""
    service = _service(tmp_path, [library])
    app = create_app(service, AppOptions(token=TOKEN))
    with running_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/healthz").status_code == 200
        for path in ("/videos", "/models", "/search?q=x", "/mcp/"):
            r = client.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        assert client.get("/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/videos", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and len(ok.json()) == 2
        vid = ok.json()[0]["id"]
        media = client.get(f"/videos/{vid}/media", params={"token": TOKEN})
        assert media.status_code == 200
    with pytest.raises(InsecureBindError, match="--token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", TOKEN)
    check_bind("127.0.0.1", None)
    check_bind("::1", None)


def test_ids_outside_the_library_and_symlinks_out_of_a_root(tmp_path: Path, library: Path):
    """Unknown ids are 404; a symlink inside a root that points outside it is never listed,
    and one swapped in after listing is refused (404), as is every path-like id."""
    outside = tmp_path / "outside"
    make_video(outside / "secret.mp4", 2)
    os.symlink(outside / "secret.mp4", library / "link.mp4")
    os.symlink(outside, library / "linked_dir")
    service = _service(tmp_path, [library])
    with (
        running_server(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        paths = {v["path"] for v in client.get("/videos").json()}
        assert paths == {"tunnel.mp4", "talks/rocket.mp4"}
        for vid in ("0123456789abcdef", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
            assert client.get(f"/videos/{vid}").status_code == 404, vid
            assert client.get(f"/videos/{vid}/media").status_code == 404, vid
        ids = _ids(client)
        victim = library / "talks" / "rocket.mp4"
        victim.unlink()
        os.symlink(outside / "secret.mp4", victim)  # swapped for a link out of the root
        r = client.get(f"/videos/{ids['talks/rocket.mp4']}/media")
        assert r.status_code == 404 and "outside" in r.json()["error"]
        assert client.get("/answers/nope/explain.png").status_code == 404
        assert client.get("/static/..%2F..%2Fapp.py").status_code == 404


def test_limits_give_429_with_retry_after_and_413(
    tmp_path: Path, library: Path, whisper: FakeWhisper, monkeypatch: pytest.MonkeyPatch
):
    """One ask at a time and none waiting: a second concurrent ask gets 429 + Retry-After.
    Too long a question is 422, too large a body 413, a full job queue 429."""
    service = _service(tmp_path, [library], max_waiting_asks=0, max_queued_jobs=1)
    vid = next(v.id for v in service.library.videos() if v.relpath == "tunnel.mp4")
    service.qa.index(service.library.get(vid).path)
    release = threading.Event()
    entered = threading.Event()
    real_ask = service.qa.ask

    def slow_ask(*args, **kwargs):
        entered.set()
        release.wait(30)
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(service.qa, "ask", slow_ask)
    body = {"video": vid, "question": "What starts?", "options": ["machine", "rocket"]}
    with (
        running_server(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        first: dict = {}
        thread = threading.Thread(target=lambda: first.update(r=client.post("/ask", json=body)))
        thread.start()
        assert entered.wait(30)
        busy = client.post("/ask", json=body)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "5"
        release.set()
        thread.join(30)
        assert first["r"].status_code == 200
        long_q = client.post("/ask", json={**body, "question": "why " * 600})
        assert long_q.status_code == 422 and "limit" in long_q.json()["error"]
        huge = client.post("/ask", content=b"{" + b" " * 70_000 + b"}")
        assert huge.status_code == 413

        # The queue holds one waiting job: with the worker busy, a second waiting job is 429.
        gate = threading.Event()
        service.jobs._runner = lambda job, progress: gate.wait(30) and {}
        other = {v["path"]: v["id"] for v in client.get("/videos").json()}
        running = client.post(f"/videos/{other['talks/rocket.mp4']}/index")
        while client.get(f"/jobs/{running.json()['id']}").json()["state"] != "running":
            time.sleep(0.02)
        assert client.post(f"/videos/{vid}/index").status_code == 202
        make_video(library / "third.mp4", 2)
        full = client.post(f"/videos/{_ids(client)['third.mp4']}/index")
        assert full.status_code == 429 and "Retry-After" in full.headers
        gate.set()


def test_not_indexed_video_is_409_with_the_fix(tmp_path: Path, library: Path):
    """Asking about an unindexed video says how to index it instead of building silently."""
    service = _service(tmp_path, [library])
    with (
        running_server(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        vid = _ids(client)["tunnel.mp4"]
        r = client.post("/ask", json={"video": vid, "question": "What starts?"})
        assert r.status_code == 409 and f"/videos/{vid}/index" in r.json()["error"]
        assert client.get("/search", params={"q": "x", "video": vid}).status_code == 409


def test_restart_requeues_an_unfinished_job(tmp_path: Path, library: Path, whisper: FakeWhisper):
    """A job that was running when the server stopped is queued again by the next server on
    the same cache and finishes there."""
    state = tmp_path / "cache" / "serve" / "jobs.json"
    state.parent.mkdir(parents=True)
    lib = Library([library])
    vid = next(v.id for v in lib.videos() if v.relpath == "tunnel.mp4")
    state.write_text(
        json.dumps({"format": 1, "jobs": [{"id": "j1", "video": vid, "state": "running"}]})
    )
    service = Service(lib, fast_qa(tmp_path / "cache"))
    try:
        deadline = time.monotonic() + 60
        while service.jobs.get("j1").state != "done":
            assert time.monotonic() < deadline and service.jobs.get("j1").state != "failed"
            time.sleep(0.05)
        assert service.jobs.get("j1").resumed and service.video(vid)["indexed"]
    finally:
        service.close()


@pytest.mark.slow
def test_real_models_end_to_end_on_the_sample(tmp_path: Path, sample_video: Path):
    """Real Whisper, OCR, embeddings and LLM behind the real server: index the bundled sample
    through a job, then ask what is typed in the terminal and find it by search."""
    import re
    import shutil

    from viewfinder import VideoQA
    from viewfinder.settings import Settings

    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(sample_video, root / "sample.mp4")
    qa = VideoQA(Settings.from_env(cache_dir=tmp_path / "cache", llm="qwen2.5-0.5b"))
    service = Service(Library([root]), qa)
    with (
        running_server(create_app(service)) as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        vid = _ids(client)["sample.mp4"]
        events = _index(client, vid)
        assert events[-1]["state"] == "done", events[-1]
        assert (
            events[-1]["result"]["text_spans"] > 0 and events[-1]["result"]["speech_segments"] > 0
        )
        r = client.post(
            "/ask", json={"video": vid, "question": "What command is typed in the terminal?"}
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        said = " ".join([answer["answer"]] + [e["text"] for e in answer["evidence"]])
        assert re.search(r"ls ?/usr", said), answer
        assert answer["models"]["llm"]["name"] == "qwen2.5-0.5b"
        hits = client.get("/search", params={"q": "ls /usr"}).json()["hits"]
        assert any(h["modality"] == "text" and "ls" in h["text"] for h in hits), hits
        assert client.get(answer["explain"]["png"]).status_code == 200


def test_serve_command_refuses_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    """`viewfinder serve` on a public address without a token, or with a missing root, prints
    one `error:` line with the fix and exits 1."""
    from viewfinder.cli import main

    monkeypatch.delenv("VIEWFINDER_TOKEN", raising=False)
    assert main(["serve", "--root", str(tmp_path), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--token" in err[0]
    assert main(["serve", "--root", str(tmp_path / "nope")]) == 1
    assert "not a directory" in capsys.readouterr().err
