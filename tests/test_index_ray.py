"""Batch indexing on a local Ray cluster: three videos into one cache, then all cached."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from serve_fixtures import make_video  # noqa: E402

from viewfinder.cli.index import run  # noqa: E402
from viewfinder.settings import Settings  # noqa: E402


def _args(videos: list[str]) -> argparse.Namespace:
    return argparse.Namespace(videos=videos, list=False, clear=[], executor="ray", ray_address=None)


def test_three_videos_on_ray_then_all_cached(tmp_path: Path, capsys: pytest.CaptureFixture):
    """`viewfinder index DIR --executor ray` builds each video once in the shared cache; a
    second run finds every video cached; a missing file fails alone, with its reason."""
    folder = tmp_path / "videos"
    for i, seconds in enumerate((2, 3, 4)):
        make_video(folder / f"v{i}.mp4", seconds, tone=300.0 + 200 * i)
    (folder / "notes.txt").write_text("not a video")
    # Shots only (no models): the test is about scheduling, cache sharing and the summary.
    settings = Settings(
        cache_dir=tmp_path / "cache", asr=None, ocr=None, clip=None, text_embedding=None, threads=1
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run(_args([str(folder)]), settings) == 0
        first = capsys.readouterr().out
        assert "3 videos: 3 built, 0 cached, 0 failed" in first
        assert all(f"v{i}.mp4: built" in first for i in range(3))
        assert len(list((tmp_path / "cache" / "index").iterdir())) == 3

        missing = str(tmp_path / "gone.mp4")
        assert run(_args([str(folder), missing]), settings) == 1
        second = capsys.readouterr().out
        assert "4 videos: 0 built, 3 cached, 1 failed" in second
        assert f"{missing}: failed (" in second and "not found" in second.lower()
    finally:
        ray.shutdown()
