"""Fault injection into a video's cache: every file the store writes is truncated, overwritten
with garbage of the same size, emptied or deleted, and the next index answers as a clean build
did, after a logged rebuild of just the damaged part; ``viewfinder index --list`` shows the
damage first. Also: a same-size rewrite of the video is a different video, a ``touch`` is not.

The index is built by the real builder (real shot scan, real MiniLM text embeddings, a tiny
real-format CLIP) on an 8-second clip of the bundled sample video; speech recognition and OCR
are fakes that implement the transcriber and OCR-engine interfaces, because what is tested is
the cache, not what Whisper hears.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from viewfinder.cli import main
from viewfinder.errors import IndexDamagedError
from viewfinder.indexes import IndexOptions, index_video, list_indexes
from viewfinder.indexes import fingerprint as fingerprint_module
from viewfinder.indexes.screen_text import ScreenTextOptions
from viewfinder.indexes.store import VideoStore
from viewfinder.settings import Settings
from viewfinder.tools.asr import Segment
from viewfinder.tools.ocr import TextBox
from viewfinder.tools.shots import ShotOptions

sys.path.insert(0, str(Path(__file__).parent))

HAVE_CLIP = all(importlib.util.find_spec(m) for m in ("open_clip", "faiss", "safetensors"))
HAVE_MINILM = importlib.util.find_spec("sentence_transformers") is not None
OPTIONS = IndexOptions(
    shots=ShotOptions(scan_fps=2.0),
    screen_text=ScreenTextOptions(max_frames_per_minute=30, batch=4),
    overlap=False,
)
SAID = [(0.5, 2.0, "hello world"), (3.0, 5.5, "now I type a command in the terminal")]
SHOWN = "ls /usr"


@dataclass
class FakeWhisper:
    """A transcriber (``transcribe(audio, progress)`` -> segments) that hears ``SAID``."""

    calls: list[int] = field(default_factory=list)

    def transcribe(self, audio: np.ndarray, progress=None) -> list[Segment]:
        self.calls.append(len(audio))
        return [Segment(s, e, text, (), -0.1, 0.01) for s, e, text in SAID]


@dataclass
class FakeOcr:
    """An OCR engine whose ``read_fine`` reads ``SHOWN`` on frames with any bright pixels."""

    calls: list[tuple[int, int]] = field(default_factory=list)

    def read_fine(self, image: np.ndarray, detect_max_side: int = 640, memo=None) -> list[TextBox]:
        self.calls.append(image.shape[:2])
        if image.max() < 64:
            return []
        return [TextBox(SHOWN, (10.0, 10.0, 90.0, 24.0), 0.95)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> Path:
    """The first 8 s of the bundled sample video at 320x180, 5 fps, with its speech track."""
    from viewfinder.eval.compose import normalize_clip

    out = tmp_path_factory.mktemp("clip") / "hello.mp4"
    return normalize_clip(sample_video, out, 320, 180, 5, duration=8.0)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Model names for Settings: paths for the fakes, the tiny CLIP (when open_clip is here)."""
    d = tmp_path_factory.mktemp("models")
    for name in ("whisper", "ocr"):
        (d / name).write_text("weights of a fake; the recipe records this path\n")
    clip_model = None
    if HAVE_CLIP:
        from tiny_clip import save_tiny_clip

        clip_model = str(save_tiny_clip(d / "tiny_clip"))
    return {"asr": str(d / "whisper"), "ocr": str(d / "ocr"), "clip": clip_model}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    whisper, ocr = FakeWhisper(), FakeOcr()
    monkeypatch.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: whisper)
    monkeypatch.setattr("viewfinder.tools.ocr.load_ocr", lambda *a, **k: ocr)
    return {"whisper": whisper, "ocr": ocr}


def _settings(cache: Path, models: dict[str, str | None]) -> Settings:
    return Settings(
        cache_dir=cache,
        asr=models["asr"],
        ocr=models["ocr"],
        clip=models["clip"],
        text_embedding="minilm" if HAVE_MINILM else None,
        threads=1,
    )


def _answers(handle) -> dict[str, object]:
    """What a question about the video gets from its index: every part's content and the
    fused search results a question would retrieve."""
    out: dict[str, object] = {
        "clips": [c.as_dict() for c in handle.clips],
        "speech": [(s.start, s.end, s.text) for s in handle.speech_segments],
        "text": [(s.start, s.end, s.text) for s in handle.text_spans],
        "search": [
            (h.start, h.end, h.modality, h.text)
            for q in ("which command is typed", "hello")
            for h in handle.search(q, k=5, modalities=["speech", "text"])
        ],
        "available": handle.available,
    }
    if handle.visual is not None:
        out["frames"] = handle.visual.frame_embeddings.tolist()
        out["visual_hits"] = [
            (h.start, h.end) for h in handle.search_visual(handle.visual.frame_embeddings[2], k=3)
        ]
    return out


@pytest.fixture(scope="module")
def pristine(
    clip: Path, models: dict[str, str | None], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """One clean build of the clip's index, and what it answers."""
    cache = tmp_path_factory.mktemp("pristine")
    mp = pytest.MonkeyPatch()
    mp.setattr("viewfinder.tools.asr.load_asr", lambda *a, **k: FakeWhisper())
    mp.setattr("viewfinder.tools.ocr.load_ocr", lambda *a, **k: FakeOcr())
    try:
        handle = index_video(clip, _settings(cache, models), options=OPTIONS)
    finally:
        mp.undo()
    assert handle.available["speech"] == "ok" and handle.available["text"] == "ok"
    return {"cache": cache, "answers": _answers(handle), "key": handle.store.fingerprint}


# Every file a build writes, by part. One file of each type gets every kind of damage; each
# other file gets one kind (rotating), so every file and every kind is covered.
FILES = {
    "shots": ["manifest.json", "clips.json", "cuts.json", "scan.npz"],
    "speech": ["manifest.json", "segments.json", "vectors.npy"],
    "screen_text": ["manifest.json", "spans.json", "vectors.npy"],
    "visual": [
        "manifest.json",
        "visual.json",
        "frames.f16.npy",
        "frame_times.npy",
        "clips.f16.npy",
        "clip_spans.npy",
        "frames.faiss",
        "clips.faiss",
    ],
}
DAMAGES = ("truncate", "garbage", "empty", "delete")
EVERY_DAMAGE = {("shots", "clips.json"), ("shots", "scan.npz"), ("speech", "vectors.npy"),
                ("speech", "manifest.json"), ("visual", "frames.faiss")}  # fmt: skip
CASES = []
for part, names in FILES.items():
    for i, name in enumerate(names):
        kinds = DAMAGES if (part, name) in EVERY_DAMAGE else (DAMAGES[i % len(DAMAGES)],)
        CASES += [pytest.param(part, name, kind, id=f"{part}/{name}-{kind}") for kind in kinds]


def damage(path: Path, kind: str) -> None:
    """Inject one fault into ``path``."""
    data = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":  # same size: only the checksum can tell
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "delete":
        path.unlink()
    else:
        raise ValueError(kind)


def _copy_cache(pristine: dict[str, object], tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(pristine["cache"], cache)
    return cache


def _part_file(cache: Path, key: str, part: str, name: str) -> Path:
    (build,) = VideoStore(cache, key).builds(part)
    return build / name


def _list_cli(cache: Path, monkeypatch, capsys) -> str:
    monkeypatch.setenv("VIEWFINDER_CACHE", str(cache))
    capsys.readouterr()
    assert main(["index", "--list"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("part", "name", "kind"), CASES)
def test_damaged_part_is_listed_then_rebuilt(
    part, name, kind, pristine, clip, models, fakes, tmp_path, monkeypatch, capsys, caplog
):
    """A damaged file is shown by --list, then the next index logs a warning, rebuilds only
    what it must, and answers exactly what the clean build answered; --list is clean after."""
    if part == "visual" and not HAVE_CLIP:
        pytest.skip("open_clip / faiss not installed (pip install 'viewfinder[clip]')")
    if name == "vectors.npy" and not HAVE_MINILM:
        pytest.skip("sentence-transformers not installed (pip install 'viewfinder[index]')")
    cache = _copy_cache(pristine, tmp_path)
    damage(_part_file(cache, pristine["key"], part, name), kind)

    (entry,) = list_indexes(cache)
    assert part in entry.damaged and part not in entry.parts, entry
    listed = _list_cli(cache, monkeypatch, capsys)
    assert f"damaged: {part}: " in listed, listed

    caplog.clear()
    handle = index_video(clip, _settings(cache, models), options=OPTIONS)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"The {part} index" in w and "rebuilt" in w for w in warnings), warnings
    assert handle.work[part] == "built", handle.work
    # Parts that do not depend on the damaged one are loaded as they were.
    untouched = {"speech", "screen_text"} - {part}
    assert all(handle.work[p] == "loaded" for p in untouched), handle.work
    assert bool(fakes["whisper"].calls) == (part == "speech")
    assert _answers(handle) == pristine["answers"]

    (entry,) = list_indexes(cache)
    assert not entry.damaged and part in entry.parts, entry
    assert "damaged" not in _list_cli(cache, monkeypatch, capsys)


@pytest.mark.parametrize("name", ["video.json", "source.json"])
@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_metadata_is_listed_and_rewritten(
    name, kind, pristine, clip, models, fakes, tmp_path
):
    """video.json (path, probe info) and source.json (content hash) are rewritten from the
    video; no part is rebuilt, and the answers are those of the clean build."""
    cache = _copy_cache(pristine, tmp_path)
    damage(cache / "index" / pristine["key"] / name, kind)
    (entry,) = list_indexes(cache)
    assert name in entry.damaged, entry

    handle = index_video(clip, _settings(cache, models), options=OPTIONS)
    assert set(handle.work.values()) == {"loaded"}, handle.work
    assert handle.store.fingerprint == pristine["key"]
    assert _answers(handle) == pristine["answers"]
    (entry,) = list_indexes(cache)
    assert not entry.damaged and entry.video == str(clip), entry


def test_part_from_before_checksums_is_verified_by_loading_then_sealed(
    pristine, clip, models, fakes, tmp_path
):
    """A cache written before checksums existed is not rebuilt: each part that loads gets
    checksums recorded; one of its parts that does not load is rebuilt."""
    cache = _copy_cache(pristine, tmp_path)
    store = VideoStore(cache, pristine["key"])
    for part in FILES:
        for build in store.builds(part):
            manifest = json.loads((build / "manifest.json").read_text())
            del manifest["files"]
            (build / "manifest.json").write_text(json.dumps(manifest))
    (store.directory / "source.json").unlink()
    damage(_part_file(cache, pristine["key"], "screen_text", "spans.json"), "truncate")
    (entry,) = list_indexes(cache)
    assert "screen_text" in entry.unsealed and not set(entry.damaged) - {"source.json"}

    handle = index_video(clip, _settings(cache, models), options=OPTIONS)
    assert handle.work["screen_text"] == "built" and handle.work["speech"] == "loaded"
    assert _answers(handle) == pristine["answers"]
    (entry,) = list_indexes(cache)
    assert not entry.damaged and not entry.unsealed, entry


def _corrupt_every_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that damages what it is given: every part written loses half of its clips.json."""
    real = VideoStore.write_part

    def write_part(self, name, recipe, write, summary=None):
        final = real(self, name, recipe, write, summary)
        if (final / "clips.json").is_file():
            damage(final / "clips.json", "truncate")
        return final

    monkeypatch.setattr(VideoStore, "write_part", write_part)


def test_rebuild_that_fails_again_is_one_typed_error(pristine, clip, models, fakes, tmp_path,
                                                     monkeypatch):  # fmt: skip
    """When the rebuilt part is damaged too, indexing raises IndexDamagedError naming the
    part, the problem and `viewfinder index --clear VIDEO` (no raw traceback)."""
    cache = _copy_cache(pristine, tmp_path)
    damage(_part_file(cache, pristine["key"], "shots", "clips.json"), "garbage")
    _corrupt_every_write(monkeypatch)
    with pytest.raises(IndexDamagedError) as caught:
        index_video(clip, _settings(cache, models), options=OPTIONS)
    message = str(caught.value)
    assert "shots" in message and "clips.json" in message
    assert f"viewfinder index --clear {clip}" in message


SCRIPT = """
import sys
from viewfinder.indexes.store import VideoStore
real = VideoStore.write_part
def write_part(self, name, recipe, write, summary=None):
    final = real(self, name, recipe, write, summary)
    (final / "clips.json").write_bytes(b"")
    return final
VideoStore.write_part = write_part
from viewfinder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_prints_one_error_line_when_the_rebuild_fails(clip, tmp_path):
    """`viewfinder ask` on a video whose index cannot be rebuilt intact: exit 1, one line on
    stderr starting with `error:` that names `viewfinder index --clear VIDEO`."""
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "VIEWFINDER_CACHE": str(cache),
        # Only the shots part: no model is needed before the failure.
        "VIEWFINDER_ASR": "none",
        "VIEWFINDER_OCR": "none",
        "VIEWFINDER_CLIP": "none",
        "VIEWFINDER_TEXT_EMBEDDING": "none",
    }
    run = [sys.executable, "-c", SCRIPT, "ask", str(clip), "What command is typed?"]
    result = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "viewfinder index --clear" in errors[0] and str(clip) in errors[0]


class Stop(Exception):
    """Raised from progress: an interrupted build (Ctrl-C, a killed run)."""


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_checkpoint_of_an_interrupted_build_is_read_again(
    kind, pristine, clip, models, fakes, tmp_path
):
    """An interrupted screen-text build leaves one checkpoint file per batch; damaging one
    only makes the resumed build read that batch again, and the result is the clean one."""
    from dataclasses import replace

    options = replace(OPTIONS, screen_text=replace(OPTIONS.screen_text, batch=1))
    settings = _settings(tmp_path / "cache", models)

    def interrupt(stage: str, done: float, total: float) -> None:
        if stage == "screen text" and done >= 2:
            raise Stop

    with pytest.raises(Stop):
        index_video(clip, settings, interrupt, options=options)
    (partial,) = (tmp_path / "cache" / "index").glob("*/screen_text/*.partial")
    saved = sorted(partial.glob("*.json"))
    assert len(saved) == 2
    damage(saved[0], kind)
    fakes["ocr"].calls.clear()
    handle = index_video(clip, settings, options=options)
    assert handle.work["screen_text"] == "resumed"
    frames = handle.store.manifest("screen_text")["summary"]["frames_read"]
    assert len(fakes["ocr"].calls) == frames - 1  # every batch but the intact one
    assert _answers(handle)["text"] == pristine["answers"]["text"]


def test_damaged_visual_checkpoint_chunk_is_embedded_again(tmp_path):
    """A frame-embedding chunk of an unfinished visual build that is truncated, garbage,
    empty or of the wrong shape is left out of the resume (embedded again), not raised."""
    import io

    from viewfinder.indexes.visual import _load_chunks

    def npy(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()

    good = npy(np.ones((4, 8), np.float16))
    for i, data in enumerate([good, good[:40], b"\x93NUMPY garbage", b"", npy(np.ones((3, 8)))]):
        (tmp_path / f"{i:06d}.npy").write_bytes(data)
    assert list(_load_chunks(tmp_path, count=20, chunk=4, dim=8)) == [0]


# ----------------------------------------------------------------- the cache key


@pytest.fixture(scope="module")
def same_size_pair(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> dict:
    """Two uncompressed videos of the same size and sampled fingerprint: the sample video,
    and the same with a black screen from 1.6 s to 3.0 s (a redaction written in place).
    Uncompressed frames keep every byte at its place, so the edit lies between the 3 MiB
    the sampled fingerprint reads."""
    from viewfinder.eval.compose import run_ffmpeg

    d = tmp_path_factory.mktemp("raw")
    base = "fps=5,scale=320:180"
    black = "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,1.6,3.0)'"
    for name, chain in (("original", base), ("redacted", f"{base},{black}")):
        run_ffmpeg(["-i", sample_video, "-an", "-vf", chain, "-c:v", "rawvideo",
                    "-pix_fmt", "bgr24", d / f"{name}.avi"])  # fmt: skip
    return {"original": d / "original.avi", "redacted": d / "redacted.avi"}


SHOTS_ONLY = {"asr": None, "ocr": None, "clip": None, "text_embedding": None}


def test_same_size_rewrite_is_a_different_video(same_size_pair, tmp_path, monkeypatch):
    """A video rewritten in place with other content of the same size (and the same sampled
    bytes) gets its own index, not the old one; a `touch` alone reuses the index, paying one
    full hash, and the next lookup pays none."""
    from viewfinder.tools.video import fingerprint

    original, redacted = same_size_pair["original"], same_size_pair["redacted"]
    assert original.stat().st_size == redacted.stat().st_size
    assert fingerprint(original) == fingerprint(redacted)  # what the key alone used to see
    hashed: list[Path] = []
    real_hash = fingerprint_module.content_sha256
    monkeypatch.setattr(
        fingerprint_module, "content_sha256", lambda p: hashed.append(Path(p)) or real_hash(p)
    )
    settings = Settings(cache_dir=tmp_path / "cache", **SHOTS_ONLY)
    video = tmp_path / "talk.avi"
    shutil.copyfile(original, video)
    first = index_video(video, settings, options=OPTIONS)
    assert first.work["shots"] == "built"

    with open(video, "r+b") as f:  # in place: same inode, same size
        f.write(redacted.read_bytes())
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = index_video(video, settings, options=OPTIONS)
    assert second.work["shots"] == "built", "served the index of the old content"
    assert second.store.directory != first.store.directory
    # The redaction is a cut in and a cut out that the old index does not have.
    cuts = [round(c.start, 1) for c in second.clips]
    assert cuts != [round(c.start, 1) for c in first.clips], cuts

    hashed.clear()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # touch
    third = index_video(video, settings, options=OPTIONS)
    assert set(third.work.values()) <= {"loaded", "skipped"}, third.work
    assert third.store.directory == second.store.directory and hashed == [video]
    hashed.clear()
    index_video(video, settings, options=OPTIONS)
    assert hashed == [], "size and mtime were recorded: no full hash needed"

    # The original content, back under its name, finds its own index again.
    shutil.copyfile(original, video)
    again = index_video(video, settings, options=OPTIONS)
    assert again.store.directory == first.store.directory
    assert set(again.work.values()) <= {"loaded", "skipped"}


def test_copy_elsewhere_reuses_the_index_and_clear_by_path_removes_it(same_size_pair, tmp_path):
    """A copy (new mtime, same bytes) resolves to the same index; `clear` by path removes
    exactly that index and reports a never-indexed video as having none."""
    from viewfinder.indexes import clear
    from viewfinder.indexes.fingerprint import video_key

    cache = tmp_path / "cache"
    settings = Settings(cache_dir=cache, **SHOTS_ONLY)
    first = index_video(same_size_pair["original"], settings, options=OPTIONS)
    copy = tmp_path / "copy.avi"
    shutil.copyfile(same_size_pair["original"], copy)
    assert video_key(cache, copy) == first.store.fingerprint
    assert clear(same_size_pair["redacted"], cache) is False
    assert clear(copy, cache) is True and list_indexes(cache) == []


# ----------------------------------------------------------------- real models, end to end


@pytest.mark.slow
def test_real_ask_answers_after_damaged_parts_are_rebuilt(sample_video: Path, tmp_path: Path):
    """With the default models: index the sample video, damage its speech and screen-text
    parts, see --list name them, then `ask` logs the rebuild and reads `ls /usr` again."""
    env = {**os.environ, "VIEWFINDER_CACHE": str(tmp_path / "cache")}

    def viewfinder(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "viewfinder", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=1200,
        )

    built = viewfinder("index", str(sample_video))
    assert built.returncode == 0, built.stderr
    (entry,) = list_indexes(tmp_path / "cache")
    store = VideoStore(tmp_path / "cache", entry.fingerprint)
    damage(store.builds("screen_text")[0] / "spans.json", "garbage")
    damage(store.builds("speech")[0] / "segments.json", "truncate")
    listed = viewfinder("index", "--list").stdout
    assert "damaged: screen_text: " in listed and "damaged: speech: " in listed, listed

    asked = viewfinder("ask", str(sample_video), "What command is typed in the terminal?",
                       "--json", "--quiet")  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert "The screen_text index" in asked.stderr and "rebuilt" in asked.stderr
    answer = json.loads(asked.stdout)
    assert re.search(r"ls ?/usr", answer["answer"]), answer["answer"]
    assert "damaged" not in viewfinder("index", "--list").stdout
