"""Agent vs uniform at the same budget on a 20-minute real composite.

The haystack is a narrated animation looped for 20 minutes (dense real speech). Two needles are
inserted where the uniform baseline cannot see them: the message-board clip between two of
uniform's evenly spaced sample frames, and a recorded announcement laid over a silent clip in
the middle of so much speech that the transcript has to be thinned to fit the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from viewfinder import VideoQA
from viewfinder.tools.video import sample_times

pytestmark = pytest.mark.slow

UNIFORM_FRAMES = 32
BUDGET = 1024
TEXT_OPTIONS = [
    "Welcome to the forum.",
    "This is the message board.",
    "Sign in to post.",
    "No new messages.",
]
SPEECH_OPTIONS = ["a mailbox number", "a new password", "a conference pin", "a phone number"]


@pytest.fixture(scope="module")
def haystack(tmp_path_factory, media_dir) -> dict:
    from viewfinder.eval.compose import (
        concat,
        lay_speech,
        loop_to_length,
        media_duration,
        normalize_clip,
    )

    d = tmp_path_factory.mktemp("haystack")
    size = {"width": 480, "height": 270, "fps": 5}
    narration = normalize_clip(media_dir / "wanna_work_together.mp4", d / "narr.mp4", **size)
    board = normalize_clip(media_dir / "message_board.ogv", d / "board.mp4", **size)
    city = normalize_clip(media_dir / "city_timelapse.mpg", d / "city.mp4", **size)
    board_len, city_len = media_duration(board), media_duration(city)
    total = 20 * 60 + 30.0
    spacing = total / UNIFORM_FRAMES
    # Start the board 5 s after a uniform sample point, so it ends before the next one.
    board_at = 9.5 * spacing + 5.0
    city_at = 21.5 * spacing + 3.0
    first = loop_to_length([narration], board_at, d / "n1.mp4")
    second = loop_to_length([narration], city_at - board_at - board_len, d / "n2.mp4")
    rest = total - city_at - city_len
    third = loop_to_length([narration], rest, d / "n3.mp4")
    joined = concat([first, board, second, city, third], d / "joined.mp4")
    starts = {}
    t = 0.0
    for name, part in (("n1", first), ("board", board), ("n2", second), ("city", city)):
        starts[name] = t
        t += media_duration(part)
    pin = media_dir / "speech" / "vm-newpassword.wav"
    video = lay_speech(joined, [(pin, starts["city"] + 1.0)], d / "haystack.mp4")
    duration = media_duration(video)
    return {
        "video": video,
        "duration": duration,
        "board": (starts["board"], starts["board"] + board_len),
        "pin": (starts["city"] + 1.0, starts["city"] + 1.0 + media_duration(pin)),
    }


def _settings(strategy: str, cache: Path) -> dict:
    # tiny.en keeps the test's two transcriptions quick; both strategies use the same models.
    return {
        "strategy": strategy,
        "budget": BUDGET,
        "frames": UNIFORM_FRAMES,
        "asr": "whisper-tiny.en",
        "cache_dir": cache,
    }


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> VideoQA:
    return VideoQA(**_settings("agent", tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def uniform(tmp_path_factory) -> VideoQA:
    return VideoQA(**_settings("uniform", tmp_path_factory.mktemp("cache")))


def _in(evidence, window, modality, slack=2.0) -> bool:
    return any(
        e.modality == modality and e.end >= window[0] - slack and e.start <= window[1] + slack
        for e in evidence
    )


def test_haystack_is_long_and_needle_between_uniform_samples(haystack):
    """The video is >= 20 minutes and no uniform sample frame falls on the message board."""
    assert haystack["duration"] >= 20 * 60
    lo, hi = haystack["board"]
    assert not any(lo <= t <= hi for t in sample_times(haystack["duration"], UNIFORM_FRAMES))


def test_agent_reads_screen_text_needle_uniform_misses(agent, uniform, haystack):
    """The agent retrieves the message-board text; uniform's frames never show it."""
    question = "Which sentence is typed into the message board?"
    ans = agent.ask(haystack["video"], question, TEXT_OPTIONS)
    assert ans.text == "This is the message board."
    assert _in(ans.evidence, haystack["board"], "text")
    base = uniform.ask(haystack["video"], question, TEXT_OPTIONS)
    assert not _in(base.evidence, haystack["board"], "text")
    assert base.usage["frames"] == UNIFORM_FRAMES


def test_agent_finds_speech_needle_in_dense_speech(agent, uniform, haystack):
    """The agent answers from the announcement at its true time; the baseline's transcript
    must be thinned to fit the model, and the report says so."""
    question = "What does the recorded announcement ask the caller to enter?"
    ans = agent.ask(haystack["video"], question, SPEECH_OPTIONS)
    assert ans.choice == "B"
    assert _in(ans.evidence, haystack["pin"], "speech")
    base = uniform.ask(haystack["video"], question, SPEECH_OPTIONS)
    assert any("thinned evenly" in n for n in base.notes)
    print(
        f"\nuniform: {base.choice} ({base.confidence:.2f}), evidence in window: "
        f"{_in(base.evidence, haystack['pin'], 'speech')}; agent: {ans.choice} "
        f"({ans.confidence:.2f}) in {ans.usage['seconds']}"
    )
