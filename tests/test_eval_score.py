"""The published annotation files load, `viewfinder eval score` matches the official rules on
them, and `viewfinder eval` runs report both scoring modes.

The real files are MLVU's nine dev task files (``shared/data/mlvu_dev/json``, from MLVU's
GitHub repository) and LongVideoBench's ``lvb_val.json`` (``shared/data``); see
``shared/data/README.md``. Tests that need them skip when this checkout has no ``shared/``.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import shared_data

from viewfinder.answer import Answer
from viewfinder.cli import evaluate as cli
from viewfinder.cli import main
from viewfinder.errors import PredictionsError
from viewfinder.eval.datasets import Item, load_longvideobench, load_mlvu
from viewfinder.eval.score import read_predictions

MLVU_JSON = shared_data("mlvu_dev/json")
LVB_VAL = shared_data("lvb_val.json")
needs_mlvu = pytest.mark.skipif(
    not (MLVU_JSON / "2_needle.json").is_file(),
    reason=f"MLVU's published task files (MLVU GitHub data/*.json) are not at {MLVU_JSON}",
)
needs_lvb = pytest.mark.skipif(
    not LVB_VAL.is_file(),
    reason=f"LongVideoBench's lvb_val.json (HF longvideobench/LongVideoBench) is not at {LVB_VAL}",
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="viewfinder")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def score_cli(bench: str, annotations: Path, predictions: Path, out: Path) -> tuple[dict, str]:
    printed = io.StringIO()
    args = parse(
        ["eval", "score", bench, "--annotations", str(annotations)]
        + ["--predictions", str(predictions), "--out", str(out)]
    )
    assert cli.run(args, out=printed) == 0
    return json.loads((out / "score.json").read_text()), printed.getvalue()


# ---------------------------------------------------------------------------------------------
# MLVU's published files


@needs_mlvu
def test_all_nine_mlvu_files_load_with_the_official_gold_letters() -> None:
    """Every published record loads: 2,175 multiple-choice questions, 418 open-ended ones
    (sub_scene, summary) kept with the reason, the two needle records whose answer is no
    candidate recorded as gold errors, and duplicate candidates given the *last* letter."""
    ds = load_mlvu(MLVU_JSON, MLVU_JSON / "no-videos-here")
    questions = {q.id: q for q in ds.questions()}
    assert len(questions) == 2593 and len(ds.skipped) == 2593
    multiple_choice = [q for q in questions.values() if q.options is not None]
    assert len(multiple_choice) == 2175
    open_ended = [s for s in ds.skipped if s.reason.startswith("open-ended MLVU task")]
    assert len(open_ended) == 418
    assert {s.meta["task"] for s in open_ended} == {"subPlot", "summary"}
    assert [g[0] for g in ds.gold_errors()] == ["2_needle/34", "2_needle/338"]
    assert (
        "'Catching a flying drone quadcopter' is not one of the candidates"
        in (ds.gold_errors()[0][1])
    )
    assert questions["2_needle/34"].answer == ""
    # choice_bench.py's qa_template keeps the last candidate equal to the answer.
    assert {
        i: questions[i].answer
        for i in (
            "1_plotQA/18",  # Blue, Red, White, Blue; answer White
            "1_plotQA/335",  # Six, Three, Three, Eight
            "1_plotQA/387",  # Excited, Scared, Excited, Nervous
            "1_plotQA/493",  # Pharmacy, Restaurant, Coffee shop, Pharmacy
            "6_anomaly_reco/66",  # Shooting, Normal, Arson, Shooting
            "7_topic_reasoning/26",  # four empty candidates, empty answer
            "7_topic_reasoning/163",  # Living room, Lounge, Hall, Living room
        )
    } == {
        "1_plotQA/18": "C",
        "1_plotQA/335": "C",
        "1_plotQA/387": "C",
        "1_plotQA/493": "D",
        "6_anomaly_reco/66": "D",
        "7_topic_reasoning/26": "D",
        "7_topic_reasoning/163": "D",
    }


@needs_mlvu
def test_eval_score_mlvu_on_the_published_files(tmp_path: Path) -> None:
    """Gold answers for every scorable record, except 1_plotQA/335 answered with the *first*
    duplicate (B), plus a response to an open-ended question. Official (= strict): plotQA
    538/539, needle 353/355 (the two gold errors), the other five tasks all right; overall
    2172/2175 = 99.8621 %, M-avg = (538/539 + 353/355 + 5) / 7 = 99.8930 %."""
    ds = load_mlvu(MLVU_JSON, tmp_path)
    rows = [
        {"id": q.id, "response": f"({q.answer}) x" if q.answer else "A"}
        for q in ds.questions()
        if q.options is not None
    ]
    rows = [r if r["id"] != "1_plotQA/335" else {"id": r["id"], "response": "B"} for r in rows]
    rows.append({"id": "9_summary/0", "response": "A whale documentary."})
    score, printed = score_cli(
        "mlvu", MLVU_JSON, write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "out"
    )
    assert set(score) == {"benchmark", "official", "strict"} and score["benchmark"] == "mlvu"
    for mode in ("official", "strict"):
        m = score[mode]
        assert set(m) == {"overall", "m_avg", "groups", "scored", "unparsed"}
        assert m["overall"] == pytest.approx(99.8621, abs=1e-3)
        assert m["m_avg"] == pytest.approx(99.8930, abs=1e-3)
        assert m["groups"]["task"]["findNeedle"] == pytest.approx(99.4366, abs=1e-3)
        assert m["groups"]["task"]["plotQA"] == pytest.approx(99.8145, abs=1e-3)
        assert m["groups"]["task"]["count"] == 100.0
        assert set(m["groups"]) == {"task"} and len(m["groups"]["task"]) == 7
        assert (m["scored"], m["unparsed"]) == (2175, 0)
    assert "not scorable offline: 1 (open-ended MLVU task 'summary'" in printed
    assert "gold error, scored wrong: 2_needle/34" in printed
    assert "gold error, scored wrong: 2_needle/338" in printed
    items = [json.loads(x) for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    by_id = {i["id"]: i for i in items}
    assert len(items) == 2175
    assert (by_id["1_plotQA/335"]["parsed"], by_id["1_plotQA/335"]["gold"]) == ("B", "C")
    assert by_id["2_needle/34"]["official"] is False
    assert by_id["2_needle/34"]["note"].startswith("gold error: the answer")


# ---------------------------------------------------------------------------------------------
# LongVideoBench's published file, in the release's folder layout


@needs_lvb
def test_lvb_subtitles_found_beside_videos_as_released(tmp_path: Path) -> None:
    """The release unpacks to LongVideoBench/{lvb_val.json, videos/, subtitles/}: with
    --videos .../videos the subtitles are found in ../subtitles (they used to be looked for
    under videos/subtitles, which skipped every item)."""
    records = json.loads(LVB_VAL.read_text())
    rec = records[0]
    root = tmp_path / "LongVideoBench"
    (root / "videos").mkdir(parents=True)
    (root / "subtitles").mkdir()
    (root / "videos" / rec["video_path"]).write_bytes(b"x")
    (root / "subtitles" / rec["subtitle_path"]).write_text(
        json.dumps([{"timestamp": [1.0, 2.5], "text": "hello there"}])
    )
    ds = load_longvideobench(LVB_VAL, root / "videos", subtitles=True)
    assert [it.id for it in ds.items] == ["86CxyhFV9MI_0", "86CxyhFV9MI_1"]
    assert ds.items[0].meta["subtitles"] == [[1.0, 2.5, "hello there"]]
    assert len(ds.skipped) == 1335
    # The other 752 videos are missing: skipped for the video, not for subtitles.
    assert {s.reason.split(":")[0] for s in ds.skipped} == {"video not found"}
    # --videos given as the release root, and an explicit --subtitle-dir, still work.
    assert len(load_longvideobench(LVB_VAL, root, subtitles=True).items) == 2
    elsewhere = tmp_path / "subs"
    elsewhere.mkdir()
    (elsewhere / rec["subtitle_path"]).write_text(json.dumps([]))
    ds = load_longvideobench(LVB_VAL, root / "videos", True, subtitle_dir=elsewhere)
    assert ds.items[0].meta["subtitles"] == []
    # A video without its subtitle file is skipped with the places looked in.
    (root / "subtitles" / rec["subtitle_path"]).unlink()
    skipped = load_longvideobench(LVB_VAL, root / "videos", subtitles=True).skipped[0]
    assert skipped.reason.startswith("subtitles not found: 86CxyhFV9MI_en.json (looked in ")
    assert str(root / "subtitles") in skipped.reason


@needs_lvb
def test_eval_score_lvb_on_the_published_file(tmp_path: Path) -> None:
    """All 1,337 gold letters written as 'B. text'-style answers, except: the first 15 s
    item answered 'Answer: E' (read as A: wrong unless its gold is A, which it is not) and
    one free-text answer (unparsable: strict wrong, official a seeded random option)."""
    records = json.loads(LVB_VAL.read_text())
    rows = [
        {"id": r["id"], "response": f"{'ABCDE'[r['correct_choice']]}. {r['candidates'][0]}"}
        for r in records
    ]
    first15 = next(n for n, r in enumerate(records) if r["duration_group"] == 15)
    assert records[first15]["correct_choice"] != 0
    assert records[1]["duration_group"] not in (15, 3600)
    rows[first15]["response"] = "Answer: E"
    rows[1]["response"] = "I am not sure what happens in this clip at all"
    score, _ = score_cli(
        "longvideobench", LVB_VAL, write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "out"
    )
    strict = score["strict"]
    assert (strict["scored"], strict["unparsed"]) == (1337, 1)
    assert strict["overall"] == pytest.approx(100 * 1335 / 1337, abs=1e-3)
    assert strict["groups"]["duration_group"]["15"] == pytest.approx(100 * 188 / 189, abs=1e-3)
    assert strict["groups"]["duration_group"]["3600"] == 100.0
    assert len(strict["groups"]["question_category"]) == 17
    assert strict["m_avg"] is None
    item = next(
        json.loads(x)
        for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()
        if json.loads(x)["id"] == records[1]["id"]
    )
    drawn_right = item["official"]
    assert item["note"].startswith("unparsable: random option ")
    official = score["official"]
    assert official["scored"] == 1337
    assert official["overall"] == pytest.approx(100 * (1335 + drawn_right) / 1337, abs=1e-3)


# ---------------------------------------------------------------------------------------------
# `viewfinder eval` runs: both modes in the report, and `eval score` reads the results log


VMME_ROWS = [  # (question_id, gold, raw response of the scripted engine)
    ("001-1", "A", "A"),
    ("001-2", "C", "Answer: C"),  # read as A: wrong in both modes
    ("001-3", "B", ""),  # unparsable: left out officially, wrong strictly
    ("002-1", "D", "b"),  # unparsable
]


@dataclass(frozen=True)
class RawText:
    """Scripted engine that answers in free text (no letter choice), like a generative VLM."""

    def __call__(self):
        return self

    def prepare(self, video: Path, subtitles=None) -> None:
        pass

    def answer(self, item: Item) -> Answer:
        return Answer(text={r[0]: r[2] for r in VMME_ROWS}[item.id], choice=None)


def _vmme_annotations(tmp_path: Path) -> tuple[Path, Path]:
    videos = tmp_path / "videos"
    videos.mkdir()
    rows = []
    for qid, gold, _ in VMME_ROWS:
        vid = f"yt{qid[:3]}"
        (videos / f"{vid}.mp4").write_bytes(b"x")
        rows.append(
            {
                "video_id": qid[:3],
                "duration": "short" if qid.startswith("001") else "long",
                "domain": "Knowledge",
                "sub_category": "Humanity & History",
                "url": "",
                "videoID": vid,
                "question_id": qid,
                "task_type": "Counting Problem",
                "question": "How many?",
                "options": ["A. 1.", "B. 2.", "C. 3.", "D. 4."],
                "answer": gold,
            }
        )
    ann = tmp_path / "videomme.json"
    ann.write_text(json.dumps(rows))
    return ann, videos


def test_eval_run_reports_both_modes_and_eval_score_reads_its_log(tmp_path: Path) -> None:
    """A Video-MME run of a free-text engine: official 1/2 = 50 % (two unparsable responses
    left out), strict 1/4 = 25 %; the report shows both and the unparsed count, and
    `eval score` on the run's own results log gives the same numbers."""
    ann, videos = _vmme_annotations(tmp_path)
    out = tmp_path / "out"
    args = parse(
        ["eval", "videomme", "--annotations", str(ann), "--videos", str(videos)]
        + ["--out", str(out), "--executor", "inline", "--budget", "256"]
    )
    printed = io.StringIO()
    assert cli.run(args, make_factory=lambda s: RawText(), out=printed) == 0
    text = printed.getvalue()
    assert "uniform@256 official: accuracy 50.0%, overall 50.0% (1/2), unparsed 2" in text
    assert "uniform@256 strict: accuracy 25.0%, overall 25.0% (1/4), unparsed 2" in text
    run = json.loads((out / "report.json").read_text())["runs"][0]
    assert (run["official"]["overall"], run["strict"]["overall"]) == (50.0, 25.0)
    assert run["official"]["groups"]["duration"] == {"long": None, "short": 50.0}
    assert run["strict"]["groups"]["duration"] == {"long": 0.0, "short": pytest.approx(33.3333)}
    md = (out / "report.md").read_text()
    assert "| uniform@256 | 50.0 | 25.0 | 50.0 (1/2) | 25.0 (1/4) | 2 |" in md
    assert "| short | 50.0 | 33.3 |" in md and "| long | - | 0.0 |" in md

    score, _ = score_cli("videomme", ann, out / "results_uniform_b256.jsonl", tmp_path / "s")
    for mode in ("official", "strict"):
        assert score[mode] == {k: run[mode][k] for k in score[mode]}
    assert (score["official"]["overall"], score["strict"]["overall"]) == (50.0, 25.0)
    assert (score["official"]["scored"], score["strict"]["scored"]) == (2, 4)


def test_eval_mlvu_run_reports_gold_errors(tmp_path: Path) -> None:
    """An MLVU run over a task file with a record whose answer is no candidate: it runs,
    is scored wrong even when the engine picks the 'right-looking' option, and the report
    lists it with the reason."""
    ann = tmp_path / "2_needle.json"
    ann.write_text(
        json.dumps(
            [
                {
                    "video": "n.mp4",
                    "duration": 100,
                    "question": "What happens?",
                    "candidates": ["Fishing", "Catching the drone"],
                    "answer": "Catching a flying drone",
                    "question_type": "findNeedle",
                },
                {
                    "video": "n.mp4",
                    "duration": 100,
                    "question": "And then?",
                    "candidates": ["Swimming", "Sunbathing"],
                    "answer": "Sunbathing",
                    "question_type": "findNeedle",
                },
            ]
        )
    )
    (tmp_path / "n.mp4").write_bytes(b"x")

    @dataclass(frozen=True)
    class PicksB:
        def __call__(self):
            return self

        def prepare(self, video: Path, subtitles=None) -> None:
            pass

        def answer(self, item: Item) -> Answer:
            return Answer(text=item.options[1], choice="B")

    args = parse(
        ["eval", "mlvu", "--annotations", str(ann), "--videos", str(tmp_path)]
        + ["--out", str(tmp_path / "out"), "--executor", "inline", "--budget", "64"]
    )
    printed = io.StringIO()
    assert cli.run(args, make_factory=lambda s: PicksB(), out=printed) == 0
    assert "gold error, scored wrong: 2_needle/0" in printed.getvalue()
    assert "uniform@64 official: M-avg 50.0%, overall 50.0% (1/2), unparsed 0" in printed.getvalue()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [g["id"] for g in report["gold_errors"]] == ["2_needle/0"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Records without a usable gold answer" in md and "`2_needle/0`" in md
    log = (tmp_path / "out" / "results_uniform_b64.jsonl").read_text().splitlines()
    assert [json.loads(x)["correct"] for x in log] == [False, True]


# ---------------------------------------------------------------------------------------------
# bad predictions files


def test_bad_predictions_files_give_one_error_line(tmp_path: Path, capsys) -> None:
    """Unreadable predictions raise PredictionsError with the fix; the CLI prints one line."""
    with pytest.raises(PredictionsError, match="not found"):
        read_predictions(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "response": "A"}\n{"id": "b"\n')
    with pytest.raises(PredictionsError, match="line 2 is not JSON"):
        read_predictions(bad)
    bad.write_text('{"id": "a", "answer": "A"}\n')
    with pytest.raises(PredictionsError, match='no string "response"'):
        read_predictions(bad)
    ann, _ = _vmme_annotations(tmp_path)
    wrong = write_jsonl(tmp_path / "w.jsonl", [{"id": "2_needle/3", "response": "A"}])
    code = main(
        ["eval", "score", "videomme", "--annotations", str(ann), "--predictions", str(wrong)]
        + ["--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: None of the 1 prediction ids is a question")
    assert "question_id" in err
