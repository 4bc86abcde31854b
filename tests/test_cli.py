"""Bad input gets one line and exit code 1 from the CLI, a typed exception from the API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from viewfinder import VideoQA
from viewfinder.errors import (
    CorruptVideoError,
    EmptyVideoError,
    InvalidQuestionError,
    NotAVideoError,
    VideoNotFoundError,
)
from viewfinder.eval.compose import run_ffmpeg

ASK = [
    sys.executable,
    "-c",
    "import sys; from viewfinder.cli import ask_main; sys.exit(ask_main())",
]
VIEWFINDER = [sys.executable, "-m", "viewfinder"]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, sample_video) -> dict[str, Path]:
    """One file per kind of bad video."""
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.mp4"
    text.write_text("this is a text file, not a video\n")
    truncated = d / "truncated.mp4"
    truncated.write_bytes(sample_video.read_bytes()[: sample_video.stat().st_size // 3])
    zero = d / "zero.mp4"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:r=25",
            "-frames:v",
            "0",
            "-c:v",
            "libx264",
            zero,
        ]
    )
    return {"missing": d / "missing.mp4", "text": text, "truncated": truncated, "zero": zero}


def _ask(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASK, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "Video not found"),
        ("text", "Not a video"),
        ("truncated", "Corrupt or truncated"),
        ("zero", "Empty video"),
    ],
)
def test_cli_bad_video_prints_one_line_and_exits_1(bad_inputs, kind, words):
    """Each kind of bad video gives a single 'error: ...' line naming the problem, exit code 1."""
    result = _ask(bad_inputs[kind], "What is shown?")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("question", "options", "words"),
    [
        ("   ", [], "question is empty"),
        ("Which?", ["only one"], "needs 2-6 options; got 1"),
        ("Which?", [f"option {i}" for i in range(7)], "needs 2-6 options; got 7"),
    ],
)
def test_cli_bad_question(sample_video, question, options, words):
    """An empty question or 1 / 7 options is refused before any model loads."""
    args: list[str | Path] = [sample_video, question]
    for option in options:
        args += ["--option", option]
    result = _ask(*args)
    assert result.returncode == 1
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_debug_shows_traceback(bad_inputs):
    """--debug re-raises so the full traceback is visible."""
    result = _ask(bad_inputs["text"], "What?", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "NotAVideoError" in result.stderr


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("missing", VideoNotFoundError),
        ("text", NotAVideoError),
        ("truncated", CorruptVideoError),
        ("zero", EmptyVideoError),
    ],
)
def test_api_raises_typed_errors(bad_inputs, kind, error):
    """The Python API raises the specific ViewfinderError subclass."""
    with pytest.raises(error):
        VideoQA().ask(bad_inputs[kind], "What is shown?")


@pytest.mark.parametrize("options", [["one"], [str(i) for i in range(7)], ["a", " "]])
def test_api_rejects_bad_options(sample_video, options):
    """Multiple choice needs 2-6 non-empty options."""
    with pytest.raises(InvalidQuestionError):
        VideoQA().ask(sample_video, "Which?", options)


def test_models_command_lists_every_role():
    """`viewfinder models` names each role, installed paths with sha256, and install commands."""
    result = subprocess.run(
        [*VIEWFINDER, "models"], capture_output=True, text=True, timeout=300, check=True
    )
    for role in ("asr:", "ocr:", "text-embedding:", "llm:", "clip:", "vlm:"):
        assert role in result.stdout
    assert "[installed] whisper-base" in result.stdout
    assert (
        "sha256: 905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57" in result.stdout
    )
    # No CLIP or VLM weights are reachable here: each missing model says how to install it.
    assert "[missing]   ViT-B-32/laion2b_s34b_b79k" in result.stdout
    assert "huggingface-cli download HuggingFaceTB/SmolVLM2-2.2B-Instruct" in result.stdout


def test_console_scripts_installed():
    """The `ask` and `viewfinder` console scripts exist in the environment."""
    bindir = Path(sys.executable).parent
    assert shutil.which("ask", path=str(bindir)) and shutil.which("viewfinder", path=str(bindir))
