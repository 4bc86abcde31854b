"""Benchmark loaders: real LongVideoBench annotations, MLVU raw/dev layouts, Video-MME, JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewfinder.errors import AnnotationError
from viewfinder.eval.datasets import load_jsonl, load_longvideobench, load_mlvu, load_videomme

LVB_VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "lvb_val.json"


@pytest.mark.skipif(not LVB_VAL.is_file(), reason=f"{LVB_VAL} is not on this machine")
def test_lvb_val_with_empty_videos_dir_skips_every_item(tmp_path: Path) -> None:
    """The real lvb_val.json with no videos: all 1,337 items skipped, counted per group."""
    ds = load_longvideobench(LVB_VAL, tmp_path)
    assert len(ds.items) == 0
    assert len(ds.skipped) == 1337
    counts = ds.skipped_counts("duration_group")
    print("skipped per duration_group:", counts)
    assert counts == {"15": 189, "60": 172, "600": 412, "3600": 564}
    assert len(ds.skipped_counts("question_category")) == 17
    first = ds.skipped[0]
    assert first.reason.startswith("video not found: ")
    assert str(tmp_path) in first.reason


@pytest.mark.skipif(not LVB_VAL.is_file(), reason=f"{LVB_VAL} is not on this machine")
def test_lvb_present_video_and_subtitles(tmp_path: Path) -> None:
    """A present video becomes an item with the gold letter; subtitles load when asked."""
    records = json.loads(LVB_VAL.read_text())
    rec = records[0]
    (tmp_path / rec["video_path"]).write_bytes(b"x")
    ds = load_longvideobench(LVB_VAL, tmp_path)
    same_video = [r["id"] for r in records if r["video_path"] == rec["video_path"]]
    assert [it.id for it in ds.items] == same_video
    assert len(ds.skipped) == 1337 - len(same_video)
    item = ds.items[0]
    assert item.answer == "ABCDE"[rec["correct_choice"]]
    assert item.answer_text == rec["candidates"][rec["correct_choice"]]
    assert item.meta["duration_group"] == rec["duration_group"]
    # With subtitles required, a missing subtitle file skips the item with that reason.
    ds = load_longvideobench(LVB_VAL, tmp_path, subtitles=True)
    assert ds.items == () and any("subtitles not found" in s.reason for s in ds.skipped)
    subs = tmp_path / "subtitles"
    subs.mkdir()
    (subs / rec["subtitle_path"]).write_text(
        json.dumps([{"start": "00:00:01.5", "end": "00:01:02.0", "line": "hi"}])
    )
    ds = load_longvideobench(LVB_VAL, tmp_path, subtitles=True)
    assert ds.items[0].meta["subtitles"] == [[1.5, 62.0, "hi"]]


def _mlvu_raw(tmp_path: Path) -> Path:
    ann = tmp_path / "json"
    ann.mkdir()
    rows = [
        {
            "video": "a.mp4",
            "duration": 400,
            "question": "What color is the car?",
            "candidates": ["red", "blue", "green", "white"],
            "answer": "blue",
            "question_type": "plotQA",
        },
        {
            "video": "b.mp4",
            "duration": 500,
            "question": "How many birds?",
            "candidates": ["1", "2", "3", "4"],
            "answer": "4",
            "question_type": "count",
        },
    ]
    (ann / "1_plotQA.json").write_text(json.dumps(rows[:1]))
    (ann / "4_count.json").write_text(json.dumps(rows[1:]))
    return ann


def test_mlvu_raw_directory_answer_text_becomes_letter(tmp_path: Path) -> None:
    """MLVU raw files: answer text -> letter; videos under video/<task file>/; task in meta."""
    ann = _mlvu_raw(tmp_path)
    videos = tmp_path / "MLVU"
    (videos / "video" / "1_plotQA").mkdir(parents=True)
    (videos / "video" / "1_plotQA" / "a.mp4").write_bytes(b"x")
    ds = load_mlvu(ann, videos)
    assert [(it.id, it.answer, it.meta["task"]) for it in ds.items] == [("plotQA_0", "B", "plotQA")]
    assert ds.items[0].video == videos / "video" / "1_plotQA" / "a.mp4"
    assert [(s.id, s.meta["task"]) for s in ds.skipped] == [("count_0", "count")]


def test_mlvu_hf_dev_layout_inlined_options(tmp_path: Path) -> None:
    """HF dev rows: options parsed out of the question, letter answer kept."""
    ann = tmp_path / "dev.jsonl"
    ann.write_text(
        json.dumps(
            {
                "video_name": "n.mp4",
                "task_type": "needle",
                "answer": "C",
                "question": "What is in the hidden clip?\n(A) cat\n(B) dog\n(C) bird\n(D) fish",
            }
        )
        + "\n"
    )
    (tmp_path / "n.mp4").write_bytes(b"x")
    item = load_mlvu(ann, tmp_path).items[0]
    assert item.question == "What is in the hidden clip?"
    assert item.options == ("cat", "dog", "bird", "fish")
    assert item.answer_text == "bird"


def test_videomme_strips_letter_prefixes(tmp_path: Path) -> None:
    """Video-MME 'A. ...' option strings become bare options; duration kept for grouping."""
    ann = tmp_path / "vmme.json"
    ann.write_text(
        json.dumps(
            [
                {
                    "video_id": "001",
                    "videoID": "fFjv93ACGo8",
                    "duration": "short",
                    "domain": "Knowledge",
                    "sub_category": "Humanity",
                    "question_id": "001-1",
                    "task_type": "Counting Problem",
                    "question": "How many?",
                    "options": ["A. 1.", "B. 2.", "C. 3.", "D. 4."],
                    "answer": "C",
                }
            ]
        )
    )
    ds = load_videomme(ann, tmp_path)
    s = ds.skipped[0]
    assert s.id == "001-1" and s.meta["duration"] == "short"
    assert s.video == tmp_path / "fFjv93ACGo8.mp4"


def test_jsonl_and_unreadable_annotations(tmp_path: Path) -> None:
    """Generic JSONL loads; broken or wrong files raise AnnotationError with the fix."""
    ann = tmp_path / "q.jsonl"
    ann.write_text(
        json.dumps(
            {
                "id": "q1",
                "video": "v.mp4",
                "question": "Who?",
                "options": ["Ann", "Bob"],
                "answer": "Bob",
                "task": "who",
            }
        )
        + "\n"
    )
    (tmp_path / "v.mp4").write_bytes(b"x")
    item = load_jsonl(ann, tmp_path).items[0]
    assert (item.answer, item.meta) == ("B", {"task": "who"})

    ann.write_text('{"id": "q1", "video"\n')
    with pytest.raises(AnnotationError, match="not valid JSONL"):
        load_jsonl(ann, tmp_path)
    with pytest.raises(AnnotationError, match="not found.*--annotations"):
        load_jsonl(tmp_path / "missing.jsonl", tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"video": "a.mp4", "question": "q", "candidates": ["x", "y"], "answer": "z"}])
    )
    with pytest.raises(AnnotationError, match="not one of the candidates"):
        load_mlvu(bad, tmp_path)
