"""Benchmark loaders: real LongVideoBench annotations, MLVU raw/dev layouts, Video-MME, JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_data

from viewfinder.errors import AnnotationError
from viewfinder.eval.datasets import load_jsonl, load_longvideobench, load_mlvu, load_videomme

LVB_VAL = shared_data("lvb_val.json")


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



def test_lvb_subtitle_paths_stay_inside_the_subtitle_folder(tmp_path: Path) -> None:
    """An annotation's subtitle_path of ``../secret.json`` or a symlink out of subtitles/ is
    not read: the item is skipped naming --subtitle-dir; a real file inside still loads."""
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps([{"start": "00:00:00.0", "end": "00:00:01.0", "line": "pw"}]))
    videos, subs = tmp_path / "videos", tmp_path / "subtitles"
    videos.mkdir()
    subs.mkdir()
    (subs / "link.json").symlink_to(secret)
    (subs / "ok.json").write_text(
        json.dumps([{"start": "00:00:02.0", "end": "00:00:03.0", "line": "fine"}])
    )
    rows = []
    for n, sub in enumerate(["../secret.json", "link.json", "ok.json"]):
        (videos / f"v{n}.mp4").write_bytes(b"x")
        rows.append(
            {"id": f"q{n}", "video_path": f"v{n}.mp4", "subtitle_path": sub,
             "question": "Q?", "candidates": ["a", "b"], "correct_choice": 0}
        )  # fmt: skip
    ann = tmp_path / "lvb_val.json"
    ann.write_text(json.dumps(rows))
    ds = load_longvideobench(ann, videos, subtitles=True)
    assert [it.id for it in ds.items] == ["q2"]
    assert ds.items[0].meta["subtitles"] == [[2.0, 3.0, "fine"]]
    reasons = {s.id: s.reason for s in ds.skipped}
    assert set(reasons) == {"q0", "q1"}
    for reason in reasons.values():
        assert "outside --subtitle-dir" in reason and str(secret) in reason

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
    assert [(it.id, it.answer, it.meta["task"]) for it in ds.items] == [
        ("1_plotQA/0", "B", "plotQA")
    ]
    assert ds.items[0].video == videos / "video" / "1_plotQA" / "a.mp4"
    assert [(s.id, s.meta["task"]) for s in ds.skipped] == [("4_count/0", "count")]


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
    # MLVU: an answer that is no candidate is not fatal (official: never right), see below.
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"video": "a.mp4", "question": "q", "candidates": ["x", "y"], "answer": "z"}])
    )
    ds = load_mlvu(bad, tmp_path)
    assert (
        ds.gold_errors()[0][0] == "bad/0" and "not one of the candidates" in ds.gold_errors()[0][1]
    )


# ---------------------------------------------------------------------------------------------
# The published files' own layouts, written with pyarrow in the released schemas.

VIDEOMME_SCHEMA = [
    ("video_id", "string"),
    ("duration", "string"),
    ("domain", "string"),
    ("sub_category", "string"),
    ("url", "string"),
    ("videoID", "string"),
    ("question_id", "string"),
    ("task_type", "string"),
    ("question", "string"),
    ("options", "list<string>"),
    ("answer", "string"),
]


def _write_parquet(path: Path, rows: list[dict], schema: list[tuple[str, str]]) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    types = {"string": pa.string(), "float": pa.float64(), "list<string>": pa.list_(pa.string())}
    table = pa.Table.from_pylist(rows, schema=pa.schema([(n, types[t]) for n, t in schema]))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _videomme_rows() -> list[dict]:
    rows = []
    for vid, yt, duration in (("001", "fFjv93ACGo8", "short"), ("601", "mZsZr7Wq1Bw", "long")):
        for q in range(1, 4):
            rows.append(
                {
                    "video_id": vid,
                    "duration": duration,
                    "domain": "Knowledge",
                    "sub_category": "Humanity & History",
                    "url": f"https://www.youtube.com/watch?v={yt}",
                    "videoID": yt,
                    "question_id": f"{vid}-{q}",
                    "task_type": "Counting Problem",
                    "question": f"How many people appear in part {q}?",
                    "options": ["A. 1.", "B. 2.", "C. 3.", "D. 4."],
                    "answer": "ABCD"[q],
                }
            )
    return rows


def test_videomme_hf_parquet_with_srt_subtitles(tmp_path: Path) -> None:
    """Video-MME's HF parquet (videomme/test-00000-of-00001.parquet): options lose their
    'A. ' prefixes, videos are found under data/ (also as .mkv), and --subtitles reads
    subtitle/<videoID>.srt with its <font> markup removed; a video without one gets none."""
    ann = _write_parquet(
        tmp_path / "videomme" / "test-00000-of-00001.parquet", _videomme_rows(), VIDEOMME_SCHEMA
    )
    videos = tmp_path / "Video-MME"
    (videos / "data").mkdir(parents=True)
    (videos / "data" / "fFjv93ACGo8.mp4").write_bytes(b"x")
    ds = load_videomme(ann, videos)
    assert [it.id for it in ds.items] == ["001-1", "001-2", "001-3"]
    item = ds.items[0]
    assert item.options == ("1.", "2.", "3.", "4.") and item.answer == "B"
    assert item.video == videos / "data" / "fFjv93ACGo8.mp4"
    assert (item.meta["duration"], item.meta["task_type"]) == ("short", "Counting Problem")
    assert [s.reason.split(":")[0] for s in ds.skipped] == ["video not found"] * 3
    assert ds.skipped_counts("duration") == {"long": 3}

    (videos / "data" / "mZsZr7Wq1Bw.mkv").write_bytes(b"x")
    (videos / "subtitle").mkdir()
    (videos / "subtitle" / "fFjv93ACGo8.srt").write_text(
        '1\n00:00:00,300 --> 00:00:02,000\n<font color="white" size=".72c">Two people '
        "walk in.</font>\n\n2\n00:00:02,000 --> 00:00:03,500\n"
        '<font color="white" size=".72c">Then a third.</font>\n'
    )
    ds = load_videomme(ann, videos, subtitles=True)
    assert len(ds.items) == 6 and ds.items[3].video.suffix == ".mkv"
    assert ds.items[0].meta["subtitles"] == [
        [0.3, 2.0, "Two people walk in."],
        [2.0, 3.5, "Then a third."],
    ]
    assert ds.items[3].meta["subtitles"] == []


def test_videomme_subtitles_found_beside_data_and_missing_folder_skips(tmp_path: Path) -> None:
    """The release unpacks subtitle/ beside data/ and videomme/: with --videos ROOT/data the
    .srt files are still found; with no subtitle folder anywhere, --subtitles skips every
    item naming the folders looked in, instead of running them without speech."""
    root = tmp_path / "Video-MME"
    ann = _write_parquet(
        root / "videomme" / "test-00000-of-00001.parquet", _videomme_rows(), VIDEOMME_SCHEMA
    )
    (root / "data").mkdir()
    (root / "data" / "fFjv93ACGo8.mp4").write_bytes(b"x")
    ds = load_videomme(ann, root / "data", subtitles=True)
    assert ds.items == ()
    reasons = [s.reason for s in ds.skipped]
    assert [r.split(" (")[0] for r in reasons[:3]] == ["no subtitle folder"] * 3
    assert [r.split(":")[0] for r in reasons[3:]] == ["video not found"] * 3
    first = reasons[0]
    assert first.startswith("no subtitle folder") and str(root / "data" / "subtitle") in first
    assert "--subtitle-dir" in first

    (root / "subtitle").mkdir()
    (root / "subtitle" / "fFjv93ACGo8.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,500\nHello there.\n"
    )
    ds = load_videomme(ann, root / "data", subtitles=True)
    assert [it.id for it in ds.items] == ["001-1", "001-2", "001-3"]
    assert ds.items[0].meta["subtitles"] == [[1.0, 2.5, "Hello there."]]
    # The annotations alone locate the release root too (videos given elsewhere).
    elsewhere = tmp_path / "copies"
    elsewhere.mkdir()
    (elsewhere / "fFjv93ACGo8.mp4").write_bytes(b"x")
    ds = load_videomme(ann, elsewhere, subtitles=True)
    assert ds.items[0].meta["subtitles"] == [[1.0, 2.5, "Hello there."]]


MLVU_DEV_SCHEMA = [
    ("video_name", "string"),
    ("duration", "float"),
    ("question", "string"),
    ("candidates", "list<string>"),
    ("answer", "string"),
    ("task_type", "string"),
    ("question_id", "string"),
]


def test_mlvu_hf_dev_parquet_with_candidates_and_inlined_options(tmp_path: Path) -> None:
    """sy1998/MLVU_dev rows as lmms-eval reads them: options inlined in the question *and*
    listed in candidates, a letter answer, videos under video/; the question is shown
    without its option lines and M-avg groups by task_type."""
    rows = [
        {
            "video_name": "needle_32.mp4",
            "duration": 467.98,
            "question": "What does the hand coming out of the computer do?\n(A) Delivers a "
            "product\n(B) Shakes the woman's hand\n(C) Takes the woman's credit card\n(D) "
            "Points at something on the screen\n",
            "candidates": [
                "Delivers a product",
                "Shakes the woman's hand",
                "Takes the woman's credit card",
                "Points at something on the screen",
            ],
            "answer": "A",
            "task_type": "needle",
            "question_id": "Q0",
        },
        {
            "video_name": "AWA-6.mp4",
            "duration": 450.0,
            "question": "What is the main background of the video?\n(A) Grassland\n(B) Lake"
            "\n(C) Ocean\n(D) Desert\n",
            "candidates": ["Grassland", "Lake", "Ocean", "Desert"],
            "answer": "(D)",
            "task_type": "topic_reasoning",
            "question_id": "Q1",
        },
    ]
    ann = _write_parquet(tmp_path / "mlvu" / "test-00000-of-00001.parquet", rows, MLVU_DEV_SCHEMA)
    (tmp_path / "MLVU" / "video").mkdir(parents=True)
    (tmp_path / "MLVU" / "video" / "needle_32.mp4").write_bytes(b"x")
    ds = load_mlvu(ann, tmp_path / "MLVU")
    item = ds.items[0]
    assert item.question == "What does the hand coming out of the computer do?"
    assert item.options == tuple(rows[0]["candidates"]) and item.answer_text == "Delivers a product"
    assert (item.id, item.meta["task"]) == ("Q0", "needle")
    assert item.video == tmp_path / "MLVU" / "video" / "needle_32.mp4"
    skipped = ds.skipped[0]
    assert (skipped.id, skipped.meta["task"]) == ("Q1", "topic_reasoning")


def test_mlvu_json_directory_with_open_ended_tasks(tmp_path: Path) -> None:
    """MLVU's json/ directory also holds the open-ended tasks (no candidates): those are
    listed as skipped with the reason, the multiple-choice files load as before."""
    ann = _mlvu_raw(tmp_path)
    (ann / "9_summary.json").write_text(
        json.dumps(
            [
                {
                    "video": "movie101_2.mp4",
                    "duration": 900,
                    "question": "Please summarize this video.",
                    "answer": "A man walks home.",
                    "question_type": "summary",
                }
            ]
        )
    )
    (tmp_path / "MLVU" / "video" / "9_summary").mkdir(parents=True)
    (tmp_path / "MLVU" / "video" / "9_summary" / "movie101_2.mp4").write_bytes(b"x")
    ds = load_mlvu(ann, tmp_path / "MLVU")
    assert ds.items == ()
    reasons = {s.id: s.reason for s in ds.skipped}
    assert set(reasons) == {"1_plotQA/0", "4_count/0", "9_summary/0"}
    assert reasons["9_summary/0"].startswith("open-ended MLVU task 'summary'")
