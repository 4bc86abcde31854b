"""Store: atomic parts, recipes, checkpoints, listing and clearing."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from viewfinder.indexes.store import VideoStore, clear, list_indexes, read_json


def test_part_is_found_only_with_its_recipe(tmp_path: Path) -> None:
    """A part written with one recipe is current for it and stale for any other recipe."""
    store = VideoStore(tmp_path, "abc")
    recipe = {"format": 1, "model": {"name": "m", "sha256": "00"}, "params": {"x": 1}}
    store.write_part("speech", recipe, lambda d: (d / "data.txt").write_text("hello"))
    found = store.find_part("speech", recipe)
    assert found is not None and (found / "data.txt").read_text() == "hello"
    assert store.find_part("speech", {**recipe, "params": {"x": 2}}) is None
    assert read_json(found / "manifest.json")["recipe"] == recipe


def test_crash_mid_write_keeps_previous_build(tmp_path: Path) -> None:
    """An exception while writing a new build leaves the old build current and no debris."""
    store = VideoStore(tmp_path, "abc")
    old = {"v": 1}
    store.write_part("text", old, lambda d: (d / "f").write_text("old"))

    def crash(directory: Path) -> None:
        (directory / "f").write_text("half")
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        store.write_part("text", {"v": 2}, crash)
    assert (store.find_part("text", old) / "f").read_text() == "old"
    assert store.find_part("text", {"v": 2}) is None
    assert [p.name for p in (store.directory / "text").iterdir()] == [
        store.part_path("text", old).name
    ]


def test_new_build_replaces_old_and_clears_checkpoint(tmp_path: Path) -> None:
    """Writing a new recipe removes the older build and its own checkpoints."""
    store = VideoStore(tmp_path, "abc")
    store.write_part("text", {"v": 1}, lambda d: None)
    cp = store.checkpoint("text", {"v": 2})
    cp.save("000", [1, 2])
    assert cp.load() == {"000": [1, 2]}
    store.write_part("text", {"v": 2}, lambda d: None)
    assert store.find_part("text", {"v": 1}) is None
    assert store.checkpoint("text", {"v": 2}).load() == {}


def test_list_and_clear(tmp_path: Path) -> None:
    """list_indexes shows a stored video; clear by fingerprint removes it."""
    store = VideoStore(tmp_path, "fp1")
    store.write_video_meta({"path": "/videos/a.mp4", "info": {"duration": 12.5}})
    store.write_part("shots", {"v": 1}, lambda d: (d / "clips.json").write_text("[]"))
    entries = list_indexes(tmp_path)
    assert [(e.fingerprint, e.video, e.duration) for e in entries] == [
        ("fp1", "/videos/a.mp4", 12.5)
    ]
    assert "shots" in entries[0].parts
    assert clear("fp1", tmp_path) is True
    assert list_indexes(tmp_path) == []
    assert clear("fp1", tmp_path) is False


def _writer(root: str, n: int) -> None:
    store = VideoStore(Path(root), "same")
    for i in range(n):
        with store.lock():
            store.write_part("speech", {"v": i % 3}, lambda d, i=i: (d / "x").write_text(str(i)))


def test_concurrent_writers_leave_valid_parts(tmp_path: Path) -> None:
    """Two processes rewriting the same part never leave a partial or manifest-less build."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 15)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = VideoStore(tmp_path, "same")
    builds = [p for p in (store.directory / "speech").iterdir() if not p.name.startswith(".")]
    assert (
        len(builds) == 1 and (builds[0] / "manifest.json").is_file() and (builds[0] / "x").is_file()
    )
    assert not [p for p in (store.directory / "speech").iterdir() if p.name.startswith(".")]
