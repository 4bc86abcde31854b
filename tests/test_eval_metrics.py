"""Official answer parsing and aggregation, checked against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewfinder.eval.metrics import is_correct, parse_choice, parse_mlvu, summarize


def test_mlvu_parser_takes_char_before_first_paren() -> None:
    """MLVU: continuation of 'Best Option: (' -> the character before the first ')'."""
    assert parse_mlvu("B) a red car") == "B"
    assert parse_mlvu("Best Option: (C) because") == "C"
    assert parse_mlvu("F)") == "F"
    assert parse_mlvu("D") == "D"  # no ')': the stripped response is compared as is
    assert parse_mlvu("the car is red") is None
    assert parse_mlvu("(x) then (B)") is None  # first ')' follows 'x': official rule, no rescue


def test_videomme_parser_strips_prefixes() -> None:
    """Video-MME rules: prefixes stripped, first capital option letter wins, long prose = none."""
    assert parse_choice("The best answer is C.") == "C"
    assert parse_choice("(B) two birds") == "B"
    assert parse_choice("E", n_options=5) == "E"
    assert parse_choice("E", n_options=4) is None
    assert parse_choice("there are many birds flying over the lake in this one long video") is None


def _write_predictions(path: Path, rows: list[dict]) -> list[dict]:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mlvu_m_avg_is_mean_of_task_accuracies(tmp_path: Path) -> None:
    """M-avg = mean of per-task accuracy: (2/3 + 0/1 + 2/2) / 3 = 0.5556, sample acc 4/6."""
    spec = [  # (task, response, gold)
        ("plotQA", "A) x", "A"),
        ("plotQA", "B) y", "B"),
        ("plotQA", "C) z", "D"),
        ("count", "A) 3", "B"),
        ("needle", "Best Option: (D)", "D"),
        ("needle", "C", "C"),
    ]
    rows = [
        {
            "id": str(n),
            "correct": is_correct(parse_mlvu(resp), gold, ["a", "b", "c", "d"]),
            "meta": {"task": task},
        }
        for n, (task, resp, gold) in enumerate(spec)
    ]
    rows = _write_predictions(tmp_path / "pred.jsonl", rows)
    s = summarize("mlvu", rows)
    assert s["m_avg"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s["score"] == pytest.approx(0.5555555)
    assert s["overall"] == {"correct": 4, "total": 6, "accuracy": pytest.approx(4 / 6)}
    assert s["groups"]["task"]["plotQA"]["correct"] == 2
    assert s["groups"]["task"]["count"]["accuracy"] == 0.0


def test_lvb_groups_and_plain_overall(tmp_path: Path) -> None:
    """LVB: per duration_group and category; overall = 3/5 (a failed item counts as wrong)."""
    rows = _write_predictions(
        tmp_path / "pred.jsonl",
        [
            {
                "id": "1",
                "correct": True,
                "meta": {"duration_group": 15, "question_category": "S2E"},
            },
            {
                "id": "2",
                "correct": False,
                "meta": {"duration_group": 15, "question_category": "TOS"},
            },
            {
                "id": "3",
                "correct": True,
                "meta": {"duration_group": 600, "question_category": "S2E"},
            },
            {
                "id": "4",
                "correct": True,
                "meta": {"duration_group": 3600, "question_category": "S2E"},
            },
            {
                "id": "5",
                "correct": False,
                "status": "error",
                "meta": {"duration_group": 3600, "question_category": "TOS"},
            },
            {
                "id": "6",
                "correct": None,
                "meta": {"duration_group": 60, "question_category": "TOS"},
            },
        ],
    )
    s = summarize("longvideobench", rows)
    assert s["score"] == pytest.approx(0.6)
    dg = s["groups"]["duration_group"]
    assert list(dg) == ["15", "600", "3600"]  # numeric order; the unscored 60 is absent
    assert (dg["15"]["accuracy"], dg["600"]["accuracy"], dg["3600"]["accuracy"]) == (0.5, 1, 0.5)
    cat = s["groups"]["question_category"]
    assert cat["S2E"] == {"correct": 3, "total": 3, "accuracy": 1.0}
    assert cat["TOS"] == {"correct": 0, "total": 2, "accuracy": 0.0}
    assert "m_avg" not in s


def test_videomme_per_duration() -> None:
    """Video-MME: accuracy per duration: short 1/1, long 1/3."""
    rows = [
        {"id": str(i), "correct": c, "meta": {"duration": d}}
        for i, (d, c) in enumerate(
            [("short", True), ("long", False), ("long", True), ("long", False)]
        )
    ]
    s = summarize("videomme", rows)
    assert s["groups"]["duration"]["short"]["accuracy"] == 1.0
    assert s["groups"]["duration"]["long"]["accuracy"] == pytest.approx(1 / 3)
    assert s["score"] == 0.5
