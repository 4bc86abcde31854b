"""Store: atomic parts, recipes, checkpoints, listing and clearing."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from viewfinder.indexes.store import StoreError, VideoStore, clear, list_indexes, read_json


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


def test_manifest_records_a_checksum_of_every_file(tmp_path: Path) -> None:
    """A part's manifest lists the size and sha256 of each of its files (written with them)."""
    import hashlib

    store = VideoStore(tmp_path, "abc")
    path = store.write_part("speech", {"v": 1}, lambda d: (d / "a.json").write_text("[1, 2]"))
    files = read_json(path / "manifest.json")["files"]
    assert files == {"a.json": {"size": 6, "sha256": hashlib.sha256(b"[1, 2]").hexdigest()}}
    assert store.check(path).ok and store.check(path).sealed


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: (d / "a.json").write_text("[1, 3]"), "does not match its sha256"),
        (lambda d: (d / "a.json").write_text("[1"), "has 2 bytes"),
        (lambda d: (d / "a.json").unlink(), "a.json is missing"),
        (lambda d: (d / "manifest.json").write_text("{"), "manifest.json is unreadable"),
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
    ],
)
def test_damaged_part_is_not_found_and_is_replaced(tmp_path: Path, damage, words, caplog) -> None:
    """find_part does not return a damaged build (and says why in one warning); writing the
    part again replaces it."""
    store = VideoStore(tmp_path, "abc")
    path = store.write_part("speech", {"v": 1}, lambda d: (d / "a.json").write_text("[1, 2]"))
    damage(path)
    assert store.find_part("speech", {"v": 1}) is None
    assert store.find_part("speech", {"v": 1}) is None
    warnings = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 1 and words in warnings[0]
    assert words in list_indexes(tmp_path)[0].damaged["speech"]
    store.write_part("speech", {"v": 1}, lambda d: (d / "a.json").write_text("[1, 2]"))
    found = store.find_part("speech", {"v": 1})
    assert found is not None and (found / "a.json").read_text() == "[1, 2]"


def test_part_without_checksums_is_found_and_sealed(tmp_path: Path) -> None:
    """A build from before checksums is served (verified by its loader) and seal() records
    them, after which a change to it is caught."""
    store = VideoStore(tmp_path, "abc")
    path = store.write_part("shots", {"v": 1}, lambda d: (d / "clips.json").write_text("[]"))
    manifest = read_json(path / "manifest.json")
    del manifest["files"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert store.find_part("shots", {"v": 1}) == path and not store.check(path).sealed
    assert list_indexes(tmp_path)[0].unsealed == ("shots",)
    assert store.seal(path) and store.check(path).sealed
    (path / "clips.json").write_text("{}")
    assert store.find_part("shots", {"v": 1}) is None


def test_write_failure_is_a_store_error(tmp_path: Path) -> None:
    """An OSError while a part is written (disk full, say) is a StoreError saying what to do,
    and no half-written build is left behind."""

    def disk_full(directory: Path) -> None:
        raise OSError(28, "No space left on device")

    store = VideoStore(tmp_path, "abc")
    with pytest.raises(StoreError, match="No space left.*VIEWFINDER_CACHE"):
        store.write_part("speech", {"v": 1}, disk_full)
    assert list((store.directory / "speech").iterdir()) == []
