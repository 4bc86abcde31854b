"""Video I/O on real media: metadata, frames at times, bad input, 4K, VFR, audio, fingerprint."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MEDIA_MISSING

from viewfinder.errors import (
    BackendUnavailableError,
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    UnknownBackendError,
    VideoNotFoundError,
)
from viewfinder.tools import video as vt
from viewfinder.tools.audio import load_audio

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
HELLO = MEDIA / "hello_terminal.mp4"
COCKATOO = MEDIA / "cockatoo.mp4"

pytestmark = pytest.mark.skipif(not HELLO.exists(), reason=MEDIA_MISSING)


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="tests make videos with ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def run(ffmpeg: str, *args: object) -> None:
    subprocess.run([ffmpeg, "-v", "error", "-y", *map(str, args)], check=True)


def ffmpeg_frames(ffmpeg: str, video: Path, times: list[float], width: int, height: int):
    """Frames ffmpeg itself shows at ``times`` (frame timestamps), in increasing time order.

    One decode from the start with a ``select`` filter: exact, and one process for all times.
    """
    pick = "+".join(f"between(t,{t - 0.01},{t + 0.01})" for t in times)
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(video), "-an", "-vf", f"select='{pick}'",
         "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    frames = np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)
    assert len(frames) == len(times), f"ffmpeg gave {len(frames)} frames for {len(times)} times"
    return dict(zip(sorted(times), frames, strict=True))


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --- metadata ---------------------------------------------------------------------------------


def test_probe_reads_metadata_of_a_real_recording() -> None:
    """probe() gives the length, size, codecs and audio presence of hello_terminal.mp4."""
    info = vt.probe(HELLO)
    assert info.duration == pytest.approx(8.33, abs=0.05)
    assert (info.width, info.height) == (1280, 720)
    assert info.has_audio and info.audio_codec == "aac" and info.video_codec == "h264"
    assert 29 < info.fps < 31 and info.frame_count == 250
    assert not info.variable_frame_rate


def test_video_without_audio_track_gives_no_audio() -> None:
    """A silent screen recording (WebM, no audio stream) loads as video; load_audio says None."""
    webm = MEDIA / "display_settings.webm"
    info = vt.probe(webm)
    assert not info.has_audio and info.audio_codec is None
    assert info.duration == pytest.approx(37.1, abs=0.1)
    assert load_audio(webm) is None


# --- frames -----------------------------------------------------------------------------------


def test_frames_come_back_in_request_order_resized() -> None:
    """frames_at() keeps the caller's order (duplicates too) and respects max_side."""
    with vt.open_video(COCKATOO) as reader:
        frames = reader.frames_at([9.0, 2.0, 9.0, 5.0], max_side=448)
    assert all(f.shape == (252, 448, 3) and f.dtype == np.uint8 for f in frames)
    assert np.array_equal(frames[0], frames[2])
    # The cockatoo moves: frames seconds apart differ a lot.
    assert mean_diff(frames[0], frames[1]) > 20 and mean_diff(frames[1], frames[3]) > 20


@pytest.mark.parametrize("backend", list(vt.AVAILABLE_BACKENDS))
def test_frame_at_time_matches_ffmpeg(backend: str, ffmpeg: str) -> None:
    """Each backend returns the same picture ffmpeg shows at that time (at frame timestamps)."""
    times = [10.0, 1.0, 6.5, 4.0]  # cockatoo.mp4 is 20 fps: each time is a frame's timestamp
    with vt.open_video(COCKATOO, backend=backend) as reader:
        assert backend == reader.BACKEND_NAME
        frames = reader.frames_at(times)
    reference = ffmpeg_frames(ffmpeg, COCKATOO, times + [t + 0.05 for t in times], 1280, 720)
    for t, frame in zip(times, frames, strict=True):
        expected, next_frame = reference[t], reference[t + 0.05]
        assert mean_diff(frame, expected) < 2.0, f"{backend} at {t} s"
        # The check can tell neighbouring frames apart (the bird moves between them).
        assert mean_diff(frame, next_frame) > 2 * mean_diff(frame, expected) + 1.0


def test_separate_calls_in_any_order_match_one_call() -> None:
    """The reader keeps its place between calls yet still goes back when asked for earlier times."""
    times = [2.0, 7.5, 3.0, 11.0]
    with vt.open_video(COCKATOO, backend="pyav") as reader:
        together = reader.frames_at(times, max_side=320)
        one_by_one = [reader.frames_at([t], max_side=320)[0] for t in times]
    for t, a, b in zip(times, together, one_by_one, strict=True):
        assert np.array_equal(a, b), f"frame at {t} s differs between call patterns"


def test_time_past_the_end_gives_the_last_frame(ffmpeg: str) -> None:
    """A time after the end returns the last frame instead of failing."""
    with vt.open_video(HELLO, backend="pyav") as reader:
        late, last = reader.frames_at([60.0, reader.info.duration - 0.01], max_side=320)
    assert np.array_equal(late, last)


def test_negative_time_and_bad_size_are_rejected() -> None:
    """Times must be >= 0 seconds and max_side positive; the message says so."""
    with vt.open_video(HELLO, backend="pyav") as reader:
        with pytest.raises(ValueError, match=">= 0"):
            reader.frames_at([-1.0])
        with pytest.raises(ValueError, match="max_side"):
            reader.frames_at([1.0], max_side=0)


# --- backend selection ------------------------------------------------------------------------


def test_unknown_backend_lists_valid_names() -> None:
    """Asking for a backend that does not exist names the valid ones."""
    with pytest.raises(UnknownBackendError, match="pyav"):
        vt.open_video(HELLO, backend="opencv")


def test_auto_selection_follows_measured_speed_order() -> None:
    """open_video() without a backend picks the first installed one in SPEED_ORDER."""
    expected = next(n for n in vt.SPEED_ORDER if n in vt.AVAILABLE_BACKENDS)
    with vt.open_video(HELLO) as reader:
        assert expected == reader.BACKEND_NAME


def test_a_backend_that_cannot_decode_is_left_out_and_named_with_its_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backend whose test decode fails is not registered: open_video() without a backend
    uses another, and asking for it by name says why it is out and how to fix it."""
    from viewfinder.tools.video import backends

    def no_ffmpeg_libs(cls: type) -> None:
        raise RuntimeError("Could not load libtorchcodec.\nLikely causes: ...")

    monkeypatch.setattr(backends.TorchCodecReader, "check_decodes", classmethod(no_ffmpeg_libs))
    monkeypatch.setattr(backends, "_UNAVAILABLE", {})
    monkeypatch.setattr(backends, "AVAILABLE_BACKENDS", backends._registry())
    assert "torchcodec" not in backends.AVAILABLE_BACKENDS
    assert "pyav" in backends.AVAILABLE_BACKENDS
    with vt.open_video(HELLO) as reader:
        assert reader.BACKEND_NAME != "torchcodec"
    with pytest.raises(BackendUnavailableError, match="Could not load libtorchcodec") as e:
        vt.open_video(HELLO, backend="torchcodec")
    assert "apt-get install -y ffmpeg" in str(e.value) and "pyav" in str(e.value)


def test_load_audio_moved_to_tools_audio_but_old_imports_still_work() -> None:
    """``from viewfinder.tools.video import load_audio`` still works, whichever module is
    imported first (tools.audio imports the video package, which re-exports load_audio)."""
    for first in ("viewfinder.tools.audio", "viewfinder.tools.video"):
        code = (
            f"import {first}; "
            "from viewfinder.tools.video import load_audio as old; "
            "from viewfinder.tools.audio import load_audio as new; "
            "assert old is new"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_video_module_loads_no_heavy_backend() -> None:
    """Importing the module imports neither torch nor decord (backends are found on first use)."""
    code = (
        "import sys, viewfinder.tools.video as v; "
        "assert not {'torch', 'decord', 'torchcodec'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    data = HELLO.read_bytes()
    files = {
        "missing": d / "missing.mp4",
        "text": d / "notes.mp4",
        "audio_only": d / "voice.m4a",
        "truncated": d / "truncated.mp4",
        "garbled": d / "garbled.mp4",
        "zero_bytes": d / "zero.mp4",
        "no_frames": d / "no_frames.mp4",
    }
    files["text"].write_text("This is a shopping list, not a video.\n" * 20)
    run(ffmpeg, "-i", HELLO, "-vn", "-c:a", "copy", files["audio_only"])
    files["truncated"].write_bytes(data[: int(len(data) * 0.3)])
    # Keep the header and index, replace every coded frame with noise: it opens, nothing decodes.
    mdat = data.index(b"mdat") + 8
    noise = np.random.default_rng(0).integers(0, 256, len(data) - mdat, dtype=np.uint8)
    files["garbled"].write_bytes(data[:mdat] + noise.tobytes())
    files["zero_bytes"].write_bytes(b"")
    run(ffmpeg, "-f", "lavfi", "-i", "color=c=red:s=320x240:r=25", "-frames:v", "0",
        "-c:v", "libx264", files["no_frames"])  # fmt: skip
    return files


@pytest.mark.parametrize(
    ("case", "error", "hint"),
    [
        ("missing", VideoNotFoundError, "Check the path"),
        ("text", NotAVideoError, "does not recognise its format"),
        ("audio_only", NotAVideoError, "only audio"),
        ("truncated", CorruptVideoError, "truncated"),
        ("garbled", CorruptVideoError, "decodes"),
        ("zero_bytes", EmptyVideoError, "zero length"),
        ("no_frames", EmptyVideoError, "zero length"),
    ],
)
def test_bad_input_raises_typed_error_with_fix(
    bad_inputs: dict[str, Path], case: str, error: type[Exception], hint: str
) -> None:
    """Each kind of unusable file raises its own error naming the file, the problem and a fix."""
    path = bad_inputs[case]
    with pytest.raises(error) as caught:
        vt.open_video(path)
    message = str(caught.value)
    assert str(path) in message and hint in message
    assert "ffmpeg" in message or "Check" in message  # every message carries a fix
    with pytest.raises(error):
        vt.probe(path)


# --- awkward but valid input ------------------------------------------------------------------


def _peak_rss_during(work) -> tuple[object, float]:  # noqa: ANN001 - a callable
    """Run ``work()`` while sampling RSS; return its result and the peak RSS growth in MB."""
    psutil = pytest.importorskip("psutil")
    process = psutil.Process()
    base = process.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, (max(peak, process.memory_info().rss) - base) / 2**20


def test_4k_video_decodes_downscaled_with_bounded_memory(tmp_path: Path, ffmpeg: str) -> None:
    """A 3840x2160 clip reads at max_side=640; 10 frames stay far below 10 full RGB frames."""
    uhd = tmp_path / "uhd.mp4"
    run(ffmpeg, "-i", HELLO, "-t", "2", "-vf", "scale=3840:2160,fps=10", "-an",
        "-c:v", "libx264", "-preset", "ultrafast", uhd)  # fmt: skip
    info = vt.probe(uhd)
    assert (info.width, info.height) == (3840, 2160)
    times = vt.sample_times(info.duration, 10)
    with vt.open_video(uhd, backend="pyav") as reader:
        frames, grown_mb = _peak_rss_during(lambda: reader.frames_at(times, max_side=640))
    assert [f.shape for f in frames] == [(360, 640, 3)] * 10
    # Ten full-size RGB frames alone would be 237 MB.
    assert grown_mb < 200, f"decoding 10 frames of 4K grew RSS by {grown_mb:.0f} MB"


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """2 s at 10 fps then 1 s at 30 fps; frame n has grey level 16 + 4n (lossless)."""
    out = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    run(ffmpeg, "-f", "lavfi", "-i", "color=c=black:s=160x120:r=10:d=2",
        "-f", "lavfi", "-i", "color=c=black:s=160x120:r=30:d=1",
        "-filter_complex", "[0][1]concat=n=2:v=1:a=0,geq=lum='16+4*N':cb=128:cr=128",
        "-fps_mode", "vfr", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", out)  # fmt: skip
    return out


@pytest.mark.parametrize("backend", list(vt.AVAILABLE_BACKENDS))
def test_variable_frame_rate_frames_at_times(vfr_video: Path, backend: str) -> None:
    """On a 10 fps -> 30 fps file each time gives the frame shown then, not one at a fixed rate."""
    info = vt.probe(vfr_video)
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.variable_frame_rate and info.frame_count == 50
    times = [2.95, 0.35, 0.95, 1.55, 2.02, 2.51, 2.51]
    with vt.open_video(vfr_video, backend=backend) as reader:
        frames = reader.frames_at(times)
    for t, frame in zip(times, frames, strict=True):
        shown = int(t * 10) if t < 2 else 20 + int((t - 2) * 30)  # index of the frame shown
        expected = 4 * shown * 255 / 219  # limited-range grey 16 + 4n as RGB
        assert abs(float(frame[60, 80].mean()) - expected) < 1.5, f"{backend} at {t} s"


# --- audio, fingerprint, sampling -------------------------------------------------------------


def test_load_audio_downmixes_5_1_to_mono_16k() -> None:
    """The 5.1 AAC track of channel_ident_slides.mp4 becomes mono 16 kHz float32 of full length."""
    audio = load_audio(MEDIA / "channel_ident_slides.mp4")
    assert audio is not None and audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(46.6, abs=0.15)
    assert float(np.sqrt(np.mean(audio**2))) > 0.01 and float(np.abs(audio).max()) <= 1.0


def test_load_audio_resamples_8k_speech() -> None:
    """An 8 kHz recorded prompt comes back at the asked rate with its length kept."""
    wav = sorted((MEDIA / "speech").glob("*.wav"))[0]
    import av

    with av.open(str(wav)) as c:
        seconds = c.duration / 1e6
    audio = load_audio(wav, sample_rate=16000)
    assert audio is not None
    assert len(audio) / 16000 == pytest.approx(seconds, abs=0.05)
    assert float(np.abs(audio).max()) > 0.05  # speech, not silence


def test_fingerprint_follows_content_not_name(tmp_path: Path) -> None:
    """A renamed copy has the same fingerprint; a different video has another."""
    copy = tmp_path / "renamed copy.mp4"
    shutil.copyfile(HELLO, copy)
    fp = vt.fingerprint(HELLO)
    assert len(fp) == 64
    assert vt.fingerprint(copy) == fp
    assert vt.fingerprint(COCKATOO) != fp


def test_sample_times_are_segment_centres() -> None:
    """sample_times() spreads n times evenly, one at the middle of each of n segments."""
    assert vt.sample_times(10.0, 4) == [1.25, 3.75, 6.25, 8.75]
    assert vt.sample_times(10.0, 0) == []
    with pytest.raises(ValueError):
        vt.sample_times(0.0, 3)


@pytest.mark.skipif(not MEDIA.is_dir(), reason=MEDIA_MISSING)
def test_a_seek_near_the_end_of_a_webm_still_finds_the_frame() -> None:
    """PyAV's seek to 36.07 s of this WebM lands past its last frame; the reader steps back."""
    from viewfinder.tools.video import open_video

    path = MEDIA / "display_settings.webm"
    with open_video(path, "pyav") as reader:
        alone = reader.frames_at([36.066])[0]
    with open_video(path, "pyav") as reader:
        in_order = reader.frames_at([35.0, 36.0, 36.066])[2]
    assert alone.shape == in_order.shape
    assert np.array_equal(alone, in_order)


@pytest.mark.skipif(not MEDIA.is_dir(), reason=MEDIA_MISSING)
def test_theora_frames_match_a_single_threaded_decode() -> None:
    """Frame-threaded Theora decoding gave other pictures (and different ones from run to run);
    the reader and the shot scan decode message_board.ogv as one decoder thread does."""
    import av

    from viewfinder.tools.shots import scan_video

    path = MEDIA / "message_board.ogv"
    reference: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        base = vt.container_start(container)
        for frame in vt.decode_tolerant(av, container, stream):
            if frame is not None and frame.pts is not None:
                reference[float(frame.pts * stream.time_base) - base] = frame.to_ndarray(
                    format="rgb24"
                )
    times = sorted(reference)[5::20]
    with vt.open_video(path, "pyav") as reader:
        frames = reader.frames_at(times)
    assert all(np.array_equal(f, reference[t]) for f, t in zip(frames, times, strict=True))
    first, second = scan_video(path), scan_video(path)
    assert np.array_equal(first.change, second.change)
