"""The web page in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
load the library, index a video watching its progress bar, ask, read the answer, click an
evidence timestamp and check where the player is."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from serve_fixtures import FakeWhisper, fast_qa, make_video, running_server  # noqa: E402

from viewfinder.serve.app import create_app  # noqa: E402
from viewfinder.serve.library import Library  # noqa: E402
from viewfinder.serve.service import Service  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium not installed")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
DOCS = Path(__file__).resolve().parents[1] / "docs"
SAID_AT = (4.0, 6.0)  # when the fake speech says the answer


def test_page_indexes_asks_and_seeks_to_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The whole page flow a person follows, in a real browser, offline."""
    root = tmp_path / "root"
    make_video(root / "tunnel.mp4", 8, size=96)
    make_video(root / "rocket.mp4", 4, tone=880.0, size=96)
    gate = threading.Event()
    whisper = FakeWhisper(
        {8: "the tunnel boring machine starts digging", 4: "rocket launch countdown begins"},
        gate=gate,
        hold_from=1,
        at=SAID_AT,
    )
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: whisper)
    service = Service(Library([root]), fast_qa(tmp_path / "cache"))
    with running_server(create_app(service)) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 860})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url + "/")
            tunnel = page.locator("#library li", has_text="tunnel.mp4")
            sync_api.expect(tunnel).to_contain_text("not indexed")
            sync_api.expect(page.locator("#library li")).to_have_count(2)

            tunnel.locator(".index-button").click()
            sync_api.expect(tunnel.locator("progress")).to_be_visible()  # held mid-speech
            sync_api.expect(tunnel.locator(".job-label")).to_contain_text("/")
            gate.set()
            sync_api.expect(tunnel.locator(".badge.ready")).to_have_text("indexed", timeout=30000)

            tunnel.click()
            page.fill("#question", "What starts digging?")
            page.click("#ask-form summary")
            page.fill("#options", "the boring machine\na rocket")
            page.click("#ask")
            sync_api.expect(page.locator("#answer-text")).to_have_text(
                "the boring machine", timeout=60000
            )
            sync_api.expect(page.locator("#answer-choice")).to_have_text("(A)")
            assert float(page.inner_text("#answer-confidence-text")) > 0.5
            stamp = page.locator("#evidence .stamp").first
            sync_api.expect(stamp).to_have_text("0:04.0-0:06.0")
            stamp.click()
            page.wait_for_function(
                "() => { const v = document.getElementById('player');"
                " return v.readyState >= 1 && v.currentTime >= 4.0; }",
                timeout=20000,
            )
            current = page.evaluate("document.getElementById('player').currentTime")
            assert SAID_AT[0] <= current < 8.0
            page.evaluate("document.getElementById('player').pause()")  # a still for the picture
            page.wait_for_function(
                "() => { const i = document.getElementById('explain-img');"
                " return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 100; }",
                timeout=60000,
            )
            page.fill("#search-q", "tunnel machine")
            page.click("#search-form button")
            sync_api.expect(page.locator("#search-hits li").first).to_contain_text("tunnel.mp4")
            shot = tmp_path / "web.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("VIEWFINDER_WRITE_DOCS"):
                shutil.copy(shot, DOCS / "web.png")
            assert all(r.startswith(url) or r.startswith("blob:") for r in requests), requests
        finally:
            browser.close()
