"""A CI-sized needle-in-a-haystack run with the real models: agent and uniform, one report."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from conftest import MEDIA_MISSING

from viewfinder.cli import evaluate as cli

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MEDIA.is_dir(), reason=MEDIA_MISSING),
]


def test_real_niah_run_compares_agent_and_uniform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`viewfinder eval niah` on a 1-minute haystack with real Whisper, OCR and Qwen2.5-1.5B:
    both strategies answer every needle, the report has both runs by needle modality and
    depth, and the agent finds the spoken and the on-screen needles."""
    monkeypatch.setenv("VIEWFINDER_CACHE", str(tmp_path / "cache"))
    parser = argparse.ArgumentParser(prog="viewfinder")
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(
        [
            "eval",
            "niah",
            "--media",
            str(MEDIA),
            "--minutes",
            "1",
            "--needles",
            "3",
            "--per-video",
            "3",
            "--strategy",
            "uniform",
            "agent",
            "--budget",
            "512",
            "--executor",
            "inline",
            "--out",
            str(out),
        ]
    )
    assert cli.run(args, out=io.StringIO()) == 0
    report = json.loads((out / "report.json").read_text())
    runs = {r["label"]: r for r in report["runs"]}
    assert set(runs) == {"uniform@512", "agent@512"}
    for run in runs.values():
        assert run["answered"] == 3 and run["failed"] == 0
        for mode in ("official", "strict"):
            groups = run[mode]["groups"]["task"]
            assert set(groups) == {"needle_speech", "needle_text", "needle_clip"}
    agent = runs["agent@512"]["official"]["groups"]["task"]
    assert agent["needle_speech"] == 100.0
    assert agent["needle_text"] == 100.0
    md = (out / "report.md").read_text()
    assert "| agent@512 |" in md and "## Accuracy % by depth_bucket" in md
