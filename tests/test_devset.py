"""The dev set: its recipe is consistent, its splits hold out whole videos, the scorer judges
answers as documented, one video renders with speech and screen text where the annotations
say, and the calibration figures of the bench script are right."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from viewfinder.eval.calibration import confidently_wrong, expected_calibration_error, reliability
from viewfinder.eval.devset import (
    MODALITIES,
    QUESTIONS,
    REAL_CLIPS,
    SPLITS,
    VIDEOS,
    build,
    in_window,
    leave_one_video_out,
    record,
    scene_starts,
    score,
    split_rows,
    video_seconds,
)

# The question types issue 14 names; each must be asked in both splits.
ISSUE_TYPES = {
    "paraphrase", "key", "number", "said_twice", "first", "list", "list_all", "credits",
    "typed_after_cut", "open", "open_absent",
}  # fmt: skip


def test_every_question_points_into_its_video_and_option_list() -> None:
    """Windows lie inside the video (on a scene start for scripted videos); a choice's answer
    is one of its distinct options; ids are unique; an absent answer has no window."""
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)
    for q in QUESTIONS:
        assert q.video in VIDEOS or q.video in REAL_CLIPS, q.id
        if q.options:
            assert q.answer in q.options and len(set(q.options)) == len(q.options), q.id
        else:
            assert q.window is None or q.keywords, f"{q.id}: an open question needs keywords"
        assert q.modality in MODALITIES, q.id
        assert (q.window is None) == (q.modality == "none") == (q.task == "open_absent"), q.id
        if q.window:
            assert 0 <= q.window[0] < q.window[1] <= video_seconds(q.video) + 1e-6, q.id
            if q.video in VIDEOS:
                assert q.window[0] in scene_starts(q.video), q.id


def test_splits_hold_out_whole_videos_and_both_have_every_type() -> None:
    """Each video is in exactly one split; both splits ask every type and are about half."""
    assert set(SPLITS) == set(VIDEOS) | set(REAL_CLIPS)
    assert set(SPLITS.values()) == {"fit", "test"}
    per_split = {s: [q for q in QUESTIONS if q.split == s] for s in ("fit", "test")}
    for split, questions in per_split.items():
        assert {q.task for q in questions} >= ISSUE_TYPES, split
        assert {"speech", "text"} <= {q.modality for q in questions}, split
    assert 0.35 <= len(per_split["fit"]) / len(QUESTIONS) <= 0.65
    videos = Counter((q.video, q.split) for q in QUESTIONS)
    assert len({v for v, _ in videos}) == len(videos)


def test_split_helpers() -> None:
    rows = [record(q) for q in QUESTIONS]
    fit, test = split_rows(rows, "fit"), split_rows(rows, "test")
    assert len(fit) + len(test) == len(rows) == len(split_rows(rows, "all"))
    assert not {r["video"] for r in fit} & {r["video"] for r in test}
    with pytest.raises(ValueError, match="fit"):
        split_rows(rows, "train")
    folds = list(leave_one_video_out(rows))
    assert len(folds) == len(SPLITS)
    for video, fitting, testing in folds:
        assert testing and all(r["video"] == video for r in testing)
        assert all(r["video"] != video for r in fitting)
        assert len(fitting) + len(testing) == len(rows)


def _answer(text: str = "", choice: str | None = None, spans=()) -> SimpleNamespace:
    evidence = [SimpleNamespace(start=a, end=b) for a, b in spans]
    return SimpleNamespace(text=text, choice=choice, evidence=evidence)


def test_scorer_hand_cases() -> None:
    """Choices by letter; open answers need every keyword (case and punctuation aside);
    absent answers must say "not found"; the window is judged on the first evidence only."""
    mc = {"options": ["a", "b", "c"], "answer": "b", "window": [10, 20]}
    assert score(mc, _answer("b", "B")) and not score(mc, _answer("b", "A"))
    open_q = {"answer": "x", "keywords": ["Haddad", "WebKitGTK"], "window": [0, 5]}
    assert score(open_q, _answer("Leila HADDAD built it with WebKitGTK+."))
    assert not score(open_q, _answer("Leila Haddad"))
    absent = {"answer": "not found", "window": None}
    assert score(absent, _answer("Not found in the video."))
    assert not score(absent, _answer("It costs 20 euros."))
    assert in_window(mc, _answer(spans=[(19.5, 22), (0, 1)]))
    assert not in_window(mc, _answer(spans=[(0, 1), (12, 14)]))
    assert not in_window(mc, _answer())
    assert in_window(absent, _answer(spans=[(0, 1)])) is None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_built_video_has_the_spoken_and_written_words(tmp_path: Path) -> None:
    """The editor tour renders to a 60 s video with audio: the OCR of the terminal scene shows
    the typed command right after the cut and not before."""
    from viewfinder.tools.ocr import load_ocr
    from viewfinder.tools.video import open_video, probe

    annotations = build(tmp_path, Path("/nonexistent"), videos=["editor_tour"])
    rows = [json.loads(x) for x in annotations.read_text().splitlines()]
    assert {r["video"] for r in rows} == {"editor_tour.mp4"}
    assert {r["split"] for r in rows} == {"fit"}
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


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "devset_bench", Path(__file__).parents[1] / "bench" / "devset_bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_competing_load_is_one_busy_process_on_the_last_core() -> None:
    """``--load``: while inside, one extra process spins on the last core; after, it is gone."""
    bench = _bench()
    before = set(multiprocessing.active_children())
    with bench.competing_load(True):
        time.sleep(0.3)
        (busy,) = set(multiprocessing.active_children()) - before
        assert busy.is_alive()
        assert os.sched_getaffinity(busy.pid) == {max(os.sched_getaffinity(0))}
    assert not busy.is_alive()


def test_targets_table_passes_and_misses() -> None:
    """A row set meeting every target passes; agent behind retrieve on one type misses."""
    bench = _bench()
    good = [
        {"task": "key", "modality": "text", "correct": True, "in_window": True,
         "confidence": 1.0, "seconds": 5.0},
    ] * 10  # fmt: skip
    bad = [{**good[0], "correct": False, "confidence": 0.9, "seconds": 20.0}] * 10
    lines = bench.targets({"retrieve": good, "agent": bad}, loaded=False)
    retrieve = [line for line in lines if line.startswith("| retrieve")]
    assert retrieve and all(line.endswith("PASS |") for line in retrieve)
    agent = [line for line in lines if line.startswith("| agent")]
    assert all(line.endswith("MISS |") for line in agent)
    assert any("key 0<10" in line for line in agent)
