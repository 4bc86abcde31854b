"""Persistent indexes on a long video assembled from real clips with speech at known times."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
from conftest import MEDIA_MISSING

from viewfinder.indexes import IndexOptions, index_video
from viewfinder.indexes.screen_text import ScreenTextOptions
from viewfinder.settings import Settings
from viewfinder.tools.shots import ShotOptions

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MEDIA.is_dir(), reason=MEDIA_MISSING),
]

FOOTAGE = [
    "city_timelapse.mpg",
    "cockatoo.mp4",
    "display_settings.webm",
    "message_board.ogv",
    "hello_terminal.mp4",
    "channel_ident_slides.mp4",
    "wanna_work_together.mp4",
]
# Paraphrases share few words with what is said (the transcript is in transcripts.json).
PARAPHRASES = {
    "demo-enterkeywords.wav": "type several search terms split by an asterisk, then hit hash",
    "unidentified-no-callback.wav": "the caller is anonymous so we cannot ring them back",
    "agent-incorrect.wav": "wrong login, key in the agent ID and then hash",
    "confbridge-removed.wav": "you were kicked out of the meeting call",
    "demo-moreinfo.wav": "open source phone exchange software running on linux",
    "vm-tocallnum.wav": "push one to dial this phone number",
    "auth-incorrect.wav": "the passcode was wrong, type it again and finish with hash",
    "confbridge-inc-talk-vol-out.wav": "make my voice louder for the others on the call",
    "vm-msginstruct.wav": "keys to go to the next or previous voicemail, replay or delete it",
    "vm-newpassword.wav": "type in the new passcode then hash",
    "conf-invalidpin.wav": "the PIN code is not valid for this meeting",
    "vm-options.wav": "record an away greeting, a busy greeting or my name",
    "confbridge-dec-talk-vol-in.wav": "how to lower how loud I sound to others",
    "confbridge-begin-glorious-b.wav": "the meeting starts once the great boss shows up",
    "vm-review-urgent.wav": "flag this voicemail as high priority",
    "vm-whichbox.wav": "which voicemail box should the message go to",
    "vm-intro.wav": "record after the beep and hang up when finished",
    "entr-num-rmv-blklist.wav": "take a phone number off the block list",
    "vm-enter-num-to-call.wav": "type the phone number you want to dial",
    "vm-saveoper.wav": "keep this recording, or else stay on the line",
}
SLOT = 62.0  # one prompt per slot, starting at FIRST
FIRST = 25.0


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 21-minute 640x360 5 fps video of looped real clips with 20 prompts at known times."""
    from viewfinder.eval.compose import concat, lay_speech, media_duration, normalize_clip

    work = tmp_path_factory.mktemp("long")
    parts = [
        normalize_clip(MEDIA / name, work / f"{i}.mp4", 640, 360, 5)
        for i, name in enumerate(FOOTAGE)
    ]
    lengths = [media_duration(p) for p in parts]
    total = FIRST + SLOT * len(PARAPHRASES)
    order, starts, t = [], {}, 0.0
    while t < total:
        for name, part, length in zip(FOOTAGE, parts, lengths, strict=True):
            starts.setdefault(name, []).append(t)
            order.append(part)
            t += length
    footage = concat(order, work / "footage.mp4")
    placements, truth = [], []
    for i, (wav, query) in enumerate(PARAPHRASES.items()):
        start = FIRST + i * SLOT
        placements.append((MEDIA / "speech" / wav, start))
        truth.append((query, start, start + media_duration(MEDIA / "speech" / wav)))
    video = lay_speech(footage, placements, work / "long.mp4", keep_original=False)
    board = [
        (s, s + lengths[FOOTAGE.index("message_board.ogv")]) for s in starts["message_board.ogv"]
    ]
    return {"path": video, "truth": truth, "board": board, "duration": media_duration(video)}


FAST = IndexOptions(
    shots=ShotOptions(scan_fps=2.0, keyframe_every=10.0),
    screen_text=ScreenTextOptions(max_frames_per_minute=6),
)


@pytest.fixture(scope="module")
def indexed(long_video: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The long video indexed once (timed) into a fresh cache."""
    settings = Settings(cache_dir=tmp_path_factory.mktemp("cache"))
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    handle = index_video(
        long_video["path"], settings, lambda s, d, t: stages.setdefault(s, d), options=FAST
    )
    seconds = time.perf_counter() - t0
    print(f"\nindexed {long_video['duration']:.0f} s video in {seconds:.1f} s: {handle.seconds}")
    return {"handle": handle, "settings": settings, "stages": stages}


def test_long_video_is_long_and_all_stages_report(long_video: dict, indexed: dict) -> None:
    """The test video is >= 20 minutes and every stage except frames (no CLIP) reports progress."""
    assert long_video["duration"] >= 20 * 60
    assert {"decode", "shots", "speech", "screen text"} <= set(indexed["stages"])
    handle = indexed["handle"]
    assert handle.available["speech"] == "ok" and handle.available["text"] == "ok"
    assert "CLIP" in handle.available["visual"] or "clip" in handle.available["visual"]
    assert all(c.end - c.start <= 20.0 + 1e-6 for c in handle.clips)


def test_paraphrased_speech_queries_find_the_right_time(long_video: dict, indexed: dict) -> None:
    """For >= 90% of 20 paraphrased queries a top-3 speech span contains the spoken time."""
    handle = indexed["handle"]
    misses = []
    for query, start, end in long_video["truth"]:
        spans = handle.search_spans(query, k=3, modalities=["speech"])
        if not any(s.start - 1.0 <= end and start <= s.end + 1.0 for s in spans):
            misses.append((query, start, [(round(s.start), s.hits[0].text) for s in spans]))
    print(f"\n{20 - len(misses)}/20 paraphrased queries found; misses: {misses}")
    assert len(misses) <= 2, misses


def test_screen_text_finds_the_message_board(long_video: dict, indexed: dict) -> None:
    """Searching screen text for the typed sentence lands inside a message_board.ogv showing."""
    hits = indexed["handle"].search_text("This is the message board.", k=3)
    assert hits, "no screen text hit"
    top = hits[0]
    assert "message board" in top.text.lower()
    assert any(a - 0.5 <= top.start <= b + 0.5 for a, b in long_video["board"]), (
        top,
        long_video["board"],
    )


def test_second_load_does_no_work_and_is_fast(long_video: dict, indexed: dict) -> None:
    """Indexing the same video again only loads: nothing is rebuilt, in under a second."""
    t0 = time.perf_counter()
    handle = index_video(long_video["path"], indexed["settings"], options=FAST)
    elapsed = time.perf_counter() - t0
    print(f"\nsecond load {elapsed:.3f} s")
    assert set(handle.work.values()) <= {"loaded", "skipped"}, handle.work
    assert elapsed < 1.0
    assert len(handle.speech_segments) == len(indexed["handle"].speech_segments)


# ----------------------------------------------------------------- small-video behaviour


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 s video: message board, settings dialog, and two prompts."""
    from viewfinder.eval.compose import concat, lay_speech, normalize_clip

    work = tmp_path_factory.mktemp("short")
    parts = [
        normalize_clip(MEDIA / n, work / f"{i}.mp4", 640, 360, 5)
        for i, n in enumerate(["message_board.ogv", "display_settings.webm"])
    ]
    footage = concat(parts, work / "footage.mp4")
    return lay_speech(
        footage,
        [
            (MEDIA / "speech" / "vm-intro.wav", 5.0),
            (MEDIA / "speech" / "confbridge-removed.wav", 35.0),
        ],
        work / "short.mp4",
        keep_original=False,
    )


class Stop(Exception):
    pass


def test_interrupted_index_resumes(short_video: Path, tmp_path: Path) -> None:
    """Raising from progress mid screen-text stops indexing; a rerun keeps finished work."""
    settings = Settings(cache_dir=tmp_path)
    options = IndexOptions(
        screen_text=ScreenTextOptions(batch=4, max_frames_per_minute=12), overlap=False
    )
    seen: list[tuple[str, float]] = []

    def interrupt(stage: str, done: float, total: float) -> None:
        seen.append((stage, done))
        if stage == "screen text" and done >= 8:
            raise Stop

    with pytest.raises(Stop):
        index_video(short_video, settings, interrupt, options=options)
    seen.clear()
    handle = index_video(
        short_video, settings, lambda s, d, t: seen.append((s, d)), options=options
    )
    assert handle.work["shots"] == "loaded" and handle.work["speech"] == "loaded"
    assert handle.work["screen_text"] == "resumed"
    assert not [s for s, _ in seen if s in ("decode", "speech")]
    # RapidOCR sometimes runs words together ("Thisisthemessageboard."): compare without spaces.
    texts = [(round(s.start, 2), s.text) for s in handle.text_spans]
    assert any("messageboard" in t.lower().replace(" ", "") for _, t in texts), texts


def test_changing_an_ocr_parameter_rebuilds_only_screen_text(
    short_video: Path, tmp_path: Path
) -> None:
    """A new screen-text option rebuilds that part; shots and speech are loaded as they were."""
    settings = Settings(cache_dir=tmp_path)
    index_video(short_video, settings, options=IndexOptions(overlap=False))
    changed = IndexOptions(overlap=False, screen_text=ScreenTextOptions(detect_max_side=480))
    handle = index_video(short_video, settings, options=changed)
    assert handle.work == {
        "shots": "loaded",
        "speech": "loaded",
        "screen_text": "built",
        "visual": "skipped",
    }
    manifest = handle.store.manifest("screen_text")
    assert manifest["recipe"]["screen_text"]["detect_max_side"] == 480
    assert manifest["recipe"]["model"]["name"] == "rapidocr"


def _index_in_process(video: str, cache: str) -> None:
    index_video(video, Settings(cache_dir=Path(cache)), options=IndexOptions(overlap=False))


def test_concurrent_indexers_leave_one_valid_index(short_video: Path, tmp_path: Path) -> None:
    """Two processes indexing one video at once leave a single complete, loadable index."""
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_index_in_process, args=(str(short_video), str(tmp_path)))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
        assert p.exitcode == 0
    handle = index_video(
        short_video, Settings(cache_dir=tmp_path), options=IndexOptions(overlap=False)
    )
    assert set(handle.work.values()) <= {"loaded", "skipped"}
    for part in ("shots", "speech", "screen_text"):
        builds = [d for d in (handle.store.directory / part).iterdir()]
        assert len(builds) == 1 and (builds[0] / "manifest.json").is_file(), builds
    assert handle.speech_segments and handle.text_spans
