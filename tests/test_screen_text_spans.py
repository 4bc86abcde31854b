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


def test_typed_text_keeps_its_complete_reading() -> None:
    """A line typed across frames keeps the complete reading, even if a partial one scored higher."""
    partial = {**_line("This is the message boar"), "score": 0.97}
    full = {**_line("This is the message board."), "score": 0.9}
    readings = [(10.0, [partial]), (11.0, [full]), (12.0, [partial]), (20.0, [])]
    (span,) = merge_spans(readings, 30.0, ScreenTextOptions())
    assert span.text == "This is the message board."
    assert (span.start, span.end) == (10.0, 20.0)
