"""The core package imports without any heavy optional dependency."""

from __future__ import annotations

import subprocess
import sys

HEAVY = [
    "torch",
    "faster_whisper",
    "ctranslate2",
    "llama_cpp",
    "ik_llama_cpp",
    "rapidocr_onnxruntime",
    "easyocr",
    "open_clip",
    "transformers",
    "faiss",
    "langgraph",
    "av",
    "numpy",
    "cv2",
]


def test_import_loads_no_heavy_dependency():
    """`import viewfinder` (and the CLI module) must not import model runtimes or decoders."""
    code = (
        "import sys, viewfinder, viewfinder.cli, viewfinder.models, viewfinder.settings; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_has_no_side_effects(tmp_path):
    """Importing creates no cache directory and configures no logging handler."""
    code = (
        "import logging, viewfinder; "
        "print(len(logging.getLogger('viewfinder').handlers), len(logging.getLogger().handlers))"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["0", "0"]
    assert not (tmp_path / "cache").exists()


def test_public_api_is_explicit():
    """The three-line facade is importable from the top-level package."""
    import viewfinder

    for name in ("VideoQA", "Answer", "Evidence", "Settings", "ask", "ViewfinderError"):
        assert hasattr(viewfinder, name), name
