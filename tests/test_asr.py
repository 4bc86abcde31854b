"""Speech recognition: real Whisper weights on real recorded speech.

The prompts in ../shared/media/speech are recordings with exact transcripts; the timing test
lays them at known times over real footage (with ``viewfinder.eval.compose``) and checks that
each transcribed segment starts where the prompt was placed.
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MEDIA_MISSING

from viewfinder import models
from viewfinder.errors import InvalidAudioError, UnknownModelError
from viewfinder.eval import compose
from viewfinder.tools import asr
from viewfinder.tools.asr import AsrOptions, Word, load_asr, normalize_words, word_error_rate

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SPEECH = MEDIA / "speech"
needs_media = pytest.mark.skipif(
    not (SPEECH / "transcripts.json").exists(),
    reason=MEDIA_MISSING,
)
faster_whisper = pytest.importorskip("faster_whisper", reason="needs the 'asr' extra")

# Prompts laid into the composite, with the pause (s) before each; two are over 14 s long so
# the splitting of long segments is exercised too.
TIMED_PROMPTS = [
    ("demo-enterkeywords.wav", 3.0),
    ("confbridge-removed.wav", 6.0),
    ("demo-moreinfo.wav", 4.0),
    ("vm-tocallnum.wav", 8.0),
    ("conf-invalidpin.wav", 3.5),
    ("vm-options.wav", 5.0),
    ("vm-review-urgent.wav", 7.0),
    ("confbridge-pin-bad.wav", 4.5),
    ("vm-whichbox.wav", 6.0),
]


def decode(path: Path) -> np.ndarray:
    """Float32 mono 16 kHz samples of any media file (PyAV via faster-whisper)."""
    return faster_whisper.decode_audio(str(path), sampling_rate=asr.SAMPLE_RATE)


def speech_onset(samples: np.ndarray, frame: int = 320) -> float:
    """Seconds until the first 20 ms frame louder than a tenth of the loudest one."""
    rms = np.sqrt((samples[: len(samples) // frame * frame].reshape(-1, frame) ** 2).mean(1))
    return float(np.argmax(rms > 0.1 * rms.max())) * frame / asr.SAMPLE_RATE


def _load_prompts() -> list[dict[str, str]]:
    return json.loads((SPEECH / "transcripts.json").read_text())


def with_noise_floor(audio: np.ndarray) -> np.ndarray:
    """Add faint noise (-50 dBFS), so voice detection must tell speech from noise, not from 0."""
    noise = np.random.default_rng(0).normal(0, 0.003, audio.shape).astype(np.float32)
    return audio + noise


@pytest.fixture(scope="module")
def prompts() -> list[dict[str, str]]:
    return _load_prompts()


@pytest.fixture(scope="module")
def base() -> asr.Transcriber:
    transcriber = load_asr("whisper-base")
    transcriber.load()
    print(f"\nwhisper-base load: {transcriber.load_seconds:.2f} s")
    return transcriber


# --------------------------------------------------------------------------- no model needed


def test_word_error_rate_normalises_case_punctuation_and_digits() -> None:
    """Transcripts that differ only in case, punctuation, digits vs words or '*' compare equal."""
    assert (
        word_error_rate(
            "Press 1, then * and the pound key.", "press one then star and the pound key"
        )
        == 0.0
    )
    assert normalize_words("Open-Source (tone plays) www.asterisk.org...") == [
        "open",
        "source",
        "www",
        "asterisk",
        "org",
    ]
    # One substitution and one deletion over 4 reference words.
    assert word_error_rate("you have been removed", "you had removed") == pytest.approx(0.5)


def test_long_runs_of_words_are_split_at_the_longest_pause() -> None:
    """A 14 s run of words becomes pieces of at most 10 s, cut at the sentence-ending pause."""
    words = [Word(float(t), t + 0.8, f" w{t}", 0.9) for t in range(6)]
    words[-1] = Word(5.0, 5.8, " end.", 0.9)
    words += [Word(7.5 + t, 8.3 + t, f" v{t}", 0.9) for t in range(7)]
    pieces = asr.split_words(words, max_seconds=10.0)
    assert [len(p) for p in pieces] == [6, 7]
    assert all(p[-1].end - p[0].start <= 10.0 for p in pieces)


def test_unknown_model_name_lists_the_valid_names() -> None:
    """A misspelt model name fails with an error naming every registered ASR model."""
    with pytest.raises(UnknownModelError) as info:
        load_asr("whisper-huge-typo")
    for name in models.available_models("asr"):
        assert name in str(info.value)


def test_bad_waveforms_raise_typed_errors_before_loading_weights() -> None:
    """Stereo or NaN-filled arrays are rejected with a message saying how to fix them."""
    transcriber = load_asr("whisper-tiny.en")
    with pytest.raises(InvalidAudioError, match="mono"):
        transcriber.transcribe(np.zeros((2, 16000), dtype=np.float32))
    with pytest.raises(InvalidAudioError, match="nan_to_num"):
        transcriber.transcribe(np.full(16000, np.nan, dtype=np.float32))
    assert transcriber._model is None  # validation is cheap: nothing was loaded
    assert transcriber.transcribe(np.zeros(0, dtype=np.float32)) == []


@needs_media
def test_video_without_audio_track_gives_no_segments(caplog: pytest.LogCaptureFixture) -> None:
    """A silent screencast (no audio track) yields [] and a log line, without loading Whisper."""
    transcriber = load_asr("whisper-tiny.en")
    with caplog.at_level("INFO", logger="viewfinder.tools.asr"):
        assert transcriber.transcribe(MEDIA / "display_settings.webm") == []
    assert "no audio" in caplog.text.lower()
    assert transcriber._model is None


def test_noise_without_speech_gives_no_segments_and_skips_whisper() -> None:
    """Ten seconds of faint noise yield [] from the bundled Silero VAD (offline), no Whisper."""
    transcriber = load_asr("whisper-tiny.en")
    seen: list[float] = []
    noise = with_noise_floor(np.zeros(10 * asr.SAMPLE_RATE, dtype=np.float32))
    assert transcriber.transcribe(noise, progress=seen.append) == []
    assert seen == [1.0]
    assert transcriber._model is None


# --------------------------------------------------------------------------- real models


@needs_media
@pytest.mark.slow
def test_word_error_rate_on_recorded_prompts(
    base: asr.Transcriber, prompts: list[dict[str, str]]
) -> None:
    """whisper-base transcribes the 24 recorded prompts with a word error rate <= 0.15.

    The prompts are played one after another with 1.5 s pauses (one transcription instead
    of 24 padded 30 s windows); the error rate compares the whole transcript with the
    whole reference text.
    """
    pause = np.zeros(int(1.5 * asr.SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([part for p in prompts for part in (decode(SPEECH / p["file"]), pause)])
    started = time.perf_counter()
    segments = base.transcribe(with_noise_floor(audio))
    elapsed = time.perf_counter() - started
    wer = word_error_rate(" ".join(p["text"] for p in prompts), " ".join(s.text for s in segments))
    seconds = len(audio) / asr.SAMPLE_RATE
    print(
        f"\nwhisper-base WER on {len(prompts)} prompts: {wer:.3f} "
        f"({seconds:.0f} s of audio in {elapsed:.1f} s, RTF {elapsed / seconds:.3f})"
    )
    assert wer <= 0.15


@needs_media
@pytest.mark.slow
@pytest.mark.parametrize("name", models.available_models("asr"))
def test_every_registered_model_transcribes_a_prompt(name: str) -> None:
    """Each registered Whisper loads from its packaged weights and reads one prompt file."""
    transcriber = load_asr(name, AsrOptions(beam_size=1))
    reference = "Please enter your new password followed by the pound key."
    segments = transcriber.transcribe(SPEECH / "vm-newpassword.wav")
    print(f"\n{name}: load {transcriber.load_seconds:.2f} s")
    assert word_error_rate(reference, " ".join(s.text for s in segments)) <= 0.2


@needs_media
@pytest.mark.slow
def test_music_intro_gives_no_phantom_words(base: asr.Transcriber) -> None:
    """A narrated explainer's 7 s music intro yields no text; the first line is read right."""
    from viewfinder.tools.audio import load_audio

    audio = load_audio(MEDIA / "wanna_work_together.mp4")
    assert audio is not None
    segments = base.transcribe(audio[: 20 * asr.SAMPLE_RATE])
    assert segments, "the narration was not transcribed"
    assert segments[0].start >= 5.0, f"phantom words over the music: {segments[0]}"
    assert "share your creativity" in " ".join(normalize_words(segments[0].text))


@pytest.fixture(scope="module")
def composite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """>= 90 s of real footage with prompts laid at known times; returns the video and truth."""
    work = tmp_path_factory.mktemp("asr_composite")
    clips = [
        compose.normalize_clip(MEDIA / "cockatoo.mp4", work / "a.mp4", 320, 180, fps=10),
        compose.normalize_clip(MEDIA / "city_timelapse.mpg", work / "b.mp4", 320, 180, fps=10),
    ]
    truth, placements, t = [], [], 0.0
    texts = {p["file"]: p["text"] for p in _load_prompts()}
    for file, pause in TIMED_PROMPTS:
        samples = decode(SPEECH / file)
        t += pause
        placements.append((SPEECH / file, t))
        truth.append(
            {
                "file": file,
                "text": texts[file],
                "start": t + speech_onset(samples),
                "end": t + len(samples) / asr.SAMPLE_RATE,
            }
        )
        t += len(samples) / asr.SAMPLE_RATE
    length = max(90.0, t + 4.0)
    footage = compose.loop_to_length(clips, length, work / "footage.mp4")
    video = compose.lay_speech(footage, placements, work / "composite.mp4", keep_original=False)
    assert compose.media_duration(video) >= 90.0
    return video, truth


def _locate(segments: list[asr.Segment], text: str) -> tuple[asr.Segment, float]:
    """The segment where ``text`` begins (best matching run of words) and the match ratio."""
    tokens = [(t, s) for s in segments for w in s.words for t in normalize_words(w.text)]
    target = normalize_words(text)
    best, best_ratio = None, -1.0
    for i in range(len(tokens)):
        for extra in (-2, -1, 0, 1, 2):  # a misheard run may have a word more or less
            window = [t for t, _ in tokens[i : i + len(target) + extra]]
            ratio = difflib.SequenceMatcher(None, target, window, autojunk=False).ratio()
            if ratio > best_ratio:
                best, best_ratio = tokens[i][1], ratio
    assert best is not None, "no words were transcribed"
    return best, best_ratio


@needs_media
@pytest.mark.slow
@pytest.mark.parametrize(("name", "as_array"), [("whisper-base", False), ("whisper-tiny.en", True)])
def test_segments_start_within_1_5_s_of_the_true_time(
    name: str, as_array: bool, composite: tuple[Path, list[dict]], base: asr.Transcriber
) -> None:
    """On a 90+ s composite, every prompt's segment starts within 1.5 s of where it was laid.

    whisper-base reads the video file itself (as ``ask`` does); tiny.en gets the decoded
    waveform with a faint noise floor added.
    """
    video, truth = composite
    transcriber = base if name == "whisper-base" else load_asr(name)
    audio = with_noise_floor(decode(video)) if as_array else video
    seen: list[float] = []
    started = time.perf_counter()
    segments = transcriber.transcribe(audio, progress=seen.append)
    elapsed = time.perf_counter() - started
    seconds = compose.media_duration(video)
    print(f"\n{name}: {seconds:.0f} s composite in {elapsed:.1f} s, RTF {elapsed / seconds:.3f}")
    errors = []
    for item in truth:
        segment, ratio = _locate(segments, item["text"])
        print(
            f"  {item['start']:6.1f} -> [{segment.start:6.1f}-{segment.end:6.1f}] "
            f"{ratio:.2f} {segment.text!r}"
        )
        assert ratio >= 0.6, f"{item['file']} not found in the transcript"
        if abs(segment.start - item["start"]) > 1.5 or segment.end > item["end"] + 1.5:
            errors.append((item["file"], item["start"], segment.start, segment.end))
    assert not errors, f"segments misplaced (file, true start, start, end): {errors}"
    assert all(s.end - s.start <= AsrOptions().max_segment_seconds for s in segments)
    assert seen == sorted(seen) and seen[-1] == 1.0
