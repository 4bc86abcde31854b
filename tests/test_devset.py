"""The dev set: its recipe is consistent, one video renders with speech and screen text where
the annotations say, and the calibration figures of the bench script are right."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from viewfinder.eval.calibration import confidently_wrong, expected_calibration_error, reliability
from viewfinder.eval.devset import QUESTIONS, VIDEOS, build, scene_starts


def test_every_question_points_into_its_video_and_option_list() -> None:
    """Windows lie inside the video and on a scene start; a choice's answer is an option;
    every type the issue asks for is present."""
    for q in QUESTIONS:
        length = sum(s.seconds for s in VIDEOS[q.video])
        if q.options:
            assert q.answer in q.options and len(set(q.options)) == len(q.options)
        if q.window:
            assert 0 <= q.window[0] < q.window[1] <= length
            assert q.window[0] in scene_starts(q.video)
    tasks = {q.task for q in QUESTIONS}
    assert {"paraphrase", "key", "number", "said_twice", "first", "list"} <= tasks
    assert {"typed_after_cut", "open", "open_absent"} <= tasks


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_built_video_has_the_spoken_and_written_words(tmp_path: Path) -> None:
    """The editor tour renders to a 60 s video whose audio Whisper-free checks can read: the
    OCR of the terminal scene shows the typed command right after the cut."""
    from viewfinder.tools.ocr import load_ocr
    from viewfinder.tools.video import open_video, probe

    annotations = build(tmp_path, Path("/nonexistent"), videos=["editor_tour"])
    rows = [json.loads(x) for x in annotations.read_text().splitlines()]
    assert {r["video"] for r in rows} == {"editor_tour.mp4"}
    info = probe(tmp_path / "editor_tour.mp4")
    assert info.has_audio and info.duration == pytest.approx(60, abs=0.5)
    typed = next(r for r in rows if r["task"] == "typed_after_cut")
    with open_video(tmp_path / "editor_tour.mp4") as reader:
        before, after = reader.frames_at([typed["window"][0] + 0.2, typed["window"][0] + 1.5])
    ocr = load_ocr("rapidocr")
    assert not any("git" in b.text for b in ocr.read(before))
    assert any("git clone" in b.text for b in ocr.read(after))


def test_calibration_figures() -> None:
    rows = [
        {"confidence": 0.9, "correct": True},
        {"confidence": 0.9, "correct": False},
        {"confidence": 0.3, "correct": False},
        {"confidence": 0.3, "correct": True},
        {"confidence": 1.0, "correct": True},
        {"confidence": 0.5, "correct": None},  # no gold: left out
    ]
    table = reliability(rows, bins=5)
    assert [b.count for b in table] == [0, 2, 0, 0, 3]
    assert table[4].accuracy == pytest.approx(2 / 3) and table[4].confidence == pytest.approx(
        2.8 / 3
    )
    # bin 0.2-0.4: |0.3 - 0.5| = 0.2 for 2 rows; bin 0.8-1.0: |0.933 - 0.667| for 3 rows.
    assert expected_calibration_error(rows, bins=5) == pytest.approx(
        (2 * 0.2 + 3 * abs(2.8 / 3 - 2 / 3)) / 5
    )
    assert confidently_wrong(rows) == pytest.approx(1 / 5)
