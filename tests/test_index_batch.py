"""Batch indexing in one process (the default executor): a summary like the Ray executor's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from serve_fixtures import make_video

from viewfinder.cli.index import run
from viewfinder.settings import Settings


def test_a_folder_is_indexed_locally_then_all_cached(tmp_path: Path, capsys: pytest.CaptureFixture):
    """`viewfinder index DIR` indexes every video in the folder and ends with a summary; a
    second run finds them cached; a missing file fails alone (exit 1) with an `error:` line."""
    folder = tmp_path / "videos"
    for i, seconds in enumerate((2, 3)):
        make_video(folder / f"v{i}.mp4", seconds, tone=300.0 + 200 * i)
    (folder / "notes.txt").write_text("not a video")
    # Shots only (no models): the test is about the batch and its summary.
    settings = Settings(
        cache_dir=tmp_path / "cache", asr=None, ocr=None, clip=None, text_embedding=None, threads=1
    )

    def args(videos: list[str]) -> argparse.Namespace:
        return argparse.Namespace(
            videos=videos, list=False, clear=[], executor="local", ray_address=None
        )

    assert run(args([str(folder)]), settings) == 0
    assert "2 videos: 2 built, 0 cached, 0 failed" in capsys.readouterr().out

    missing = str(tmp_path / "gone.mp4")
    assert run(args([str(folder), missing]), settings) == 1
    out, err = capsys.readouterr()
    assert "3 videos: 0 built, 2 cached, 1 failed" in out
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        line for line in err.splitlines() if missing in line
    ]
    assert any(missing in line for line in err.splitlines())
