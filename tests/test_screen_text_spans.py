"""Screen-text spans: the same text across read frames is one span that ends where it went."""

from __future__ import annotations

from viewfinder.indexes.screen_text import ScreenTextOptions, merge_spans


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
