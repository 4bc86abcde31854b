"""``viewfinder mcp`` with fake models, run as a subprocess by test_mcp.py over stdio.

Usage: python mcp_fake_server.py ROOT CACHE. The server, the service, the index build and the
stdio transport are the real ones; speech recognition and the LLM are fakes (serve_fixtures).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from serve_fixtures import FakeWhisper, fast_qa  # noqa: E402

import viewfinder.tools.asr  # noqa: E402
from viewfinder.serve.library import Library  # noqa: E402
from viewfinder.serve.mcp_server import build_mcp  # noqa: E402
from viewfinder.serve.service import Service  # noqa: E402

TEXTS = {3: "the tunnel boring machine starts digging", 4: "rocket launch countdown begins"}

if __name__ == "__main__":
    root, cache = sys.argv[1], Path(sys.argv[2])
    whisper = FakeWhisper(TEXTS)
    viewfinder.tools.asr.load_asr = lambda *a, **k: whisper
    service = Service(Library([root]), fast_qa(cache))
    try:
        build_mcp(service).run("stdio")
    finally:
        service.close()
