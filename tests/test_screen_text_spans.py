"""Screen-text spans: the same text across read frames is one span that ends where it went."""

from __future__ import annotations

import numpy as np

from viewfinder.indexes.screen_text import ScreenTextOptions, choose_frames, merge_spans


def _line(text: str) -> dict:
    return {"text": text, "box": [10.0, 10.0, 200.0, 30.0], "score": 0.9}


def test_a_span_ends_at_the_cut_not_at_a_far_next_reading() -> None:
    """Text last seen at 12 s, a cut at 15 s, next read frame at 70 s: the span ends at 15 s."""
    readings = [(10.0, [_line("ls /usr")]), (12.0, [_line("ls /usr")]), (70.0, [])]
    (span,) = merge_spans(readings, 100.0, ScreenTextOptions(), cuts=[15.0, 80.0])
    assert (span.start, span.end, span.text) == (10.0, 15.0, "ls /usr")


def test_text_that_survives_a_cut_keeps_one_span() -> None:
    """A caption on both sides of a cut is one span; it ends at the first cut after it is gone."""
    readings = [
        (5.0, [_line("Chapter 2: terminals")]),
        (25.0, [_line("Chapter 2: terminal")]),  # one letter misread: still the same text
        (40.0, []),
    ]
    (span,) = merge_spans(readings, 60.0, ScreenTextOptions(), cuts=[20.0, 30.0])
    assert (span.start, span.end) == (5.0, 30.0)
    assert merge_spans(readings, 60.0, ScreenTextOptions())[0].end == 40.0  # no cuts known


def test_a_caption_in_a_calm_stretch_is_read_despite_a_busy_minute():
    """Changed frames are picked to cover time: the one change of a still shot is read."""
    times = np.arange(0.0, 60.0, 0.5)
    change = np.where(times < 40.0, 0.01, 0.0)  # busy footage for 40 s, then a still shot
    change[times == 50.0] = 0.05  # a caption appears over the still shot
    options = ScreenTextOptions(max_frames_per_minute=8)
    chosen = choose_frames(times, change, [], 60.0, options)
    assert len(chosen) <= 8
    assert 50.0 in chosen
    gaps = np.diff([0.0, *chosen])
    assert gaps.max() <= 15.0


def test_the_frame_after_a_large_change_is_preferred() -> None:
    """In busy footage, the frame right after a caption appears is read, not its neighbours."""
    times = np.round(np.arange(0.0, 60.0, 0.5), 3)
    change = np.full(len(times), 0.01)
    change[times == 33.5] = 0.12  # a caption appears
    chosen = choose_frames(times, change, [], 60.0, ScreenTextOptions(max_frames_per_minute=8))
    assert len(chosen) <= 8
    # The first candidate after the change (candidates are at least 1 s apart).
    assert any(33.5 <= t < 35.0 for t in chosen)


# The picture-change scan of the CI niah haystack (1 minute, 25 fps scanned at 2 fps): changes
# of at least 0.001 by time. A typed message board and a city time-lapse cut every half second;
# the on-screen text needle is the shot from 44.48 s to 48.48 s.
NIAH_SCAN = {1.48: 0.704, 1.96: 0.11, 2.44: 0.078, 2.96: 0.032, 3.44: 0.695, 4.0: 0.242}
NIAH_SCAN |= {4.48: 0.091, 6.0: 0.02, 8.48: 0.028, 10.48: 0.644, 11.48: 0.512, 11.96: 0.518}
NIAH_SCAN |= {12.44: 0.513, 13.0: 0.003, 14.96: 0.518, 15.44: 0.001, 16.48: 0.512, 17.0: 0.517}
NIAH_SCAN |= {17.48: 0.512, 18.0: 0.512, 18.96: 0.518, 19.48: 0.001, 19.96: 0.001, 20.48: 0.755}
NIAH_SCAN |= {21.44: 0.004, 21.96: 0.004, 22.48: 0.004, 22.96: 0.004, 23.96: 0.008}
NIAH_SCAN |= {24.96: 0.004, 25.44: 0.004, 26.96: 0.009, 28.96: 0.011, 29.44: 0.008}
NIAH_SCAN |= {29.96: 0.008, 30.48: 0.956, 30.96: 0.346, 31.44: 0.348, 31.96: 0.349}
NIAH_SCAN |= {32.48: 0.364, 32.96: 0.356, 33.44: 0.355, 33.96: 0.359, 34.48: 0.722}
NIAH_SCAN |= {34.96: 0.051, 35.44: 0.129, 35.96: 0.184, 36.48: 0.076, 38.96: 0.153, 39.48: 0.08}
NIAH_SCAN |= {39.96: 0.081, 40.44: 0.002, 40.96: 0.079, 41.44: 0.101, 42.0: 0.171, 42.48: 0.273}
NIAH_SCAN |= {43.0: 0.14, 44.48: 0.59, 45.44: 0.016, 46.48: 0.016, 47.44: 0.004, 48.48: 0.707}
NIAH_SCAN |= {48.96: 0.001, 50.0: 0.002, 51.48: 0.518, 51.96: 0.512, 52.48: 0.512, 53.0: 0.517}
NIAH_SCAN |= {53.48: 0.519, 53.96: 0.003, 54.44: 0.003, 55.0: 0.52, 55.48: 0.168, 56.0: 0.427}
NIAH_SCAN |= {56.48: 0.427, 57.44: 0.427, 57.96: 0.432, 58.48: 0.661, 58.96: 0.004, 59.44: 0.009}
NIAH_KEYFRAMES = [1.69, 5.69, 10.19, 14.45, 18.47, 22.98, 27.98, 32.48, 36.98, 41.98, 46.48]


def test_a_caption_shot_amid_animations_is_read_complete() -> None:
    """On the CI niah haystack's scan, the needle shot's last frame (caption complete) is read.
    Spreading the reserved reads over all cut frames by time spent them on the animations'
    half-second cuts, and this 4-s caption was never read whole."""
    times = np.round(np.floor(np.arange(121) * 12.5) * 0.04, 2)
    change = np.zeros(len(times))
    for t, c in NIAH_SCAN.items():
        change[np.argmin(np.abs(times - t))] = c
    options = ScreenTextOptions(max_frames_per_minute=15)
    chosen = choose_frames(times, change, NIAH_KEYFRAMES, 60.0, options)
    assert len(chosen) <= 15
    last_needle_frame = times[np.argmin(np.abs(times - 48.48)) - 1]
    assert 44.48 < last_needle_frame < 48.48
    assert last_needle_frame in chosen


def test_typed_text_keeps_its_complete_reading() -> None:
    """A line typed across frames keeps the complete reading, even if a partial one scored higher."""
    partial = {**_line("This is the message boar"), "score": 0.97}
    full = {**_line("This is the message board."), "score": 0.9}
    readings = [(10.0, [partial]), (11.0, [full]), (12.0, [partial]), (20.0, [])]
    (span,) = merge_spans(readings, 30.0, ScreenTextOptions())
    assert span.text == "This is the message board."
    assert (span.start, span.end) == (10.0, 20.0)
