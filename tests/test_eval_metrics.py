"""Official and strict scoring of hand-made response sets, against values computed by hand.

Each table row is (response, gold letter, the letter the published rule reads, strict verdict,
official verdict). The rules, as the reference code behaves:

- MLVU (choice_bench.py): the character before the first ")", else the whole response,
  compared as is with the gold letter. Official == strict.
- LongVideoBench (lmms-eval utils.py): strip; delete "The best answer is", "The correct answer
  is", "The answer is", "The answer", "The best option is", "The correct option is", "Best
  answer:", "Best option:"; first capital A-E. Unparsable: official draws a random option.
- Video-MME (eval_your_results.py): the same with capital A-D and the prefix list whose
  missing commas glue two pairs; unparsable: left out of the official denominator.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from viewfinder.eval.datasets import Item
from viewfinder.eval.metrics import ScoringOptions, score_item, summarize
from viewfinder.eval.parsers import (
    mlvu_prediction,
    parse_longvideobench,
    parse_mlvu,
    parse_videomme,
)
from viewfinder.eval.score import score_predictions

VIDEO = Path("/videos/v.mp4")  # never opened: scoring needs no video


def _pct(x: float) -> object:
    return pytest.approx(x, abs=1e-3)


# ---------------------------------------------------------------------------------------------
# MLVU: (task, gold, response, parsed)
MLVU_ROWS = [
    ("plotQA", "A", "A", "A"),
    ("plotQA", "B", "B)", "B"),
    ("plotQA", "C", "C) a red car", "C"),
    ("plotQA", "D", "(D)", "D"),
    ("plotQA", "A", "Best Option: (A)", "A"),
    ("count", "A", "A ", None),  # no ")": "A " is compared as is, and is no letter
    ("count", "B", " B", None),
    ("count", "B", "b)", None),  # lowercase: not a letter
    ("count", "C", "", None),
    ("count", "A", "E)", "E"),  # a letter beyond the four options: parsed, wrong
    ("needle", "B", "The answer is B", None),
    ("needle", "B", "(x) then (B)", None),  # the first ")" follows "x"
    ("needle", "C", ")", None),
    ("needle", "A", "red car", None),  # option text only
    ("needle", "D", "D.", None),
    ("needle", None, "C)", "C"),  # a record whose answer is no candidate: never right
    ("needle", "B", "B", "B"),
    ("count", "D", "D) four", "D"),
]


def _mlvu_items() -> list[Item]:
    items = []
    for n, (task, gold, _, _) in enumerate(MLVU_ROWS):
        meta = {"task": task}
        if gold is None:
            meta["gold_error"] = "the answer 'x' is not one of the candidates"
        items.append(Item(f"t/{n}", "Q?", ("a", "b", "c", "d"), gold or "", VIDEO, meta))
    return items


def test_mlvu_parser_reads_the_character_before_the_first_paren() -> None:
    """MLVU's rule, row by row: the prediction string, and whether it is an option letter."""
    for _, _, response, parsed in MLVU_ROWS:
        assert parse_mlvu(response) == parsed, response
    assert mlvu_prediction("A ") == "A "  # compared as is: never equal to "A"
    assert mlvu_prediction(")") == ""


def test_mlvu_hand_made_set_official_equals_strict() -> None:
    """18 responses: 7 right (plotQA 5/5, count 1/6, needle 1/7), 9 unparsable.

    M-avg = (1 + 1/6 + 1/7) / 3 = 55/126 = 43.6508 %; overall 7/18 = 38.8889 %.
    """
    result = score_predictions(
        "mlvu", _mlvu_items(), {f"t/{n}": r[2] for n, r in enumerate(MLVU_ROWS)}
    )
    for mode in ("official", "strict"):
        m = result.modes[mode].as_dict()
        assert m["overall"] == _pct(38.8889)
        assert m["m_avg"] == _pct(43.6508)
        assert m["groups"]["task"] == {
            "count": _pct(16.6667),
            "needle": _pct(14.2857),
            "plotQA": _pct(100.0),
        }
        assert (m["scored"], m["unparsed"]) == (18, 9)
    assert result.gold_errors == {"t/15": "the answer 'x' is not one of the candidates"}
    assert [s.id for s in result.items if s.official] == [
        "t/0",
        "t/1",
        "t/2",
        "t/3",
        "t/4",
        "t/16",
        "t/17",
    ]


# ---------------------------------------------------------------------------------------------
# LongVideoBench: (options, gold, response, parsed, strict, official)
LVB_ROWS = [
    (5, "A", "A", "A", True, True),
    (5, "B", "(B)", "B", True, True),
    (5, "B", "B) two dogs", "B", True, True),
    (5, "C", "C. A red car", "C", True, True),
    (5, "D", "D. A book", "D", True, True),
    (5, "E", "The answer is E", "E", True, True),
    (5, "C", "The best answer is (C).", "C", True, True),
    (5, "D", "Answer: D", "A", False, False),  # "Answer:" is not stripped: the A of Answer
    (5, "D", "answer: d", None, False, False),  # lowercase: random option E drawn
    (5, "A", "b", None, False, True),  # random option A drawn: right by luck
    (4, "A", "E", "E", False, False),  # E is searched even on four options
    (5, "A", "", None, False, False),  # random D
    (
        5,
        "B",
        "I think the person is walking towards the door in the scene shown",
        None,
        False,
        True,
    ),
    (5, "B", "Best option: B", "B", True, True),
    (5, "B", "Option B", "B", True, True),
    (5, "A", "The correct option is A", "A", True, True),
    (5, "C", "Based on the video, C", "B", False, False),  # the B of Based
    (5, "B", "two dogs", None, False, False),  # option text is not matched; random A
    (5, "B", "Dogs", "D", False, False),
    (5, "C", "  c  ", None, False, False),  # random A
    (5, "B", "A and B", "A", False, False),
]


def _lvb_items() -> list[Item]:
    return [
        Item(
            f"lvb{n + 1}",
            "Q?",
            tuple("vwxyz"[:k]),
            gold,
            VIDEO,
            {
                "duration_group": (15, 60, 600)[n // 7],
                "question_category": "S2E" if n % 2 == 0 else "TOS",
            },
        )
        for n, (k, gold, *_) in enumerate(LVB_ROWS)
    ]


def test_lvb_parser_rows() -> None:
    """LongVideoBench's rule, row by row."""
    for _, _, response, parsed, _, _ in LVB_ROWS:
        assert parse_longvideobench(response) == parsed, response


def test_lvb_hand_made_set_random_option_in_official_mode() -> None:
    """21 responses, 6 unparsable. Strict: 10/21 = 47.6190 %. Official: the seeded draws hit
    the gold on lvb10 and lvb13, so 12/21 = 57.1429 %. Per group (rows 1-7: 15 s, 8-14: 60 s,
    15-21: 600 s; odd rows S2E, even TOS): strict 7/7, 1/7, 2/7 and S2E 5/11, TOS 5/10;
    official 7/7, 3/7, 2/7 and S2E 6/11, TOS 6/10."""
    items = _lvb_items()
    result = score_predictions(
        "longvideobench", items, {it.id: row[2] for it, row in zip(items, LVB_ROWS, strict=True)}
    )
    for s, row in zip(result.items, LVB_ROWS, strict=True):
        assert (s.parsed, s.strict, s.official) == row[3:], s
    strict, official = result.modes["strict"].as_dict(), result.modes["official"].as_dict()
    assert strict == {
        "overall": _pct(47.6190),
        "m_avg": None,
        "groups": {
            "duration_group": {"15": _pct(100.0), "60": _pct(14.2857), "600": _pct(28.5714)},
            "question_category": {"S2E": _pct(45.4545), "TOS": _pct(50.0)},
        },
        "scored": 21,
        "unparsed": 6,
    }
    assert official == {
        "overall": _pct(57.1429),
        "m_avg": None,
        "groups": {
            "duration_group": {"15": _pct(100.0), "60": _pct(42.8571), "600": _pct(28.5714)},
            "question_category": {"S2E": _pct(54.5455), "TOS": _pct(60.0)},
        },
        "scored": 21,
        "unparsed": 6,
    }
    notes = {s.id: s.note for s in result.items if s.note}
    assert notes["lvb9"] == "unparsable: random option E assigned"
    assert notes["lvb10"] == "unparsable: random option A assigned"


def test_lvb_random_option_is_seeded_per_item() -> None:
    """The draw depends only on (seed, id): the same in every run and process, within the
    question's options, and another seed draws differently for some items."""
    item = Item("86CxyhFV9MI_0", "Q?", ("a", "b", "c"), "A", VIDEO, {})
    draws = {score_item("longvideobench", item, "?").note for _ in range(5)}
    assert len(draws) == 1
    for n in range(40):
        it = Item(f"x{n}", "Q?", ("a", "b", "c"), "A", VIDEO, {})
        expected = random.Random(f"0:x{n}").choice("ABC")
        assert score_item("longvideobench", it, "").note.endswith(f"option {expected} assigned")
    seeds = [
        score_item("longvideobench", Item(f"x{n}", "Q", ("a", "b"), "A", VIDEO, {}), "", opt).note
        for n in range(20)
        for opt in (ScoringOptions(seed=0), ScoringOptions(seed=1))
    ]
    assert seeds[0::2] != seeds[1::2]


# ---------------------------------------------------------------------------------------------
# Video-MME: (gold, response, parsed, strict, official); official None = left out
VMME_ROWS = [
    ("A", "A", "A", True, True),
    ("B", "(B)", "B", True, True),
    ("C", "C. 3.", "C", True, True),
    ("D", "The best answer is D.", "D", True, True),
    ("D", "Best answer: D", "B", False, False),  # glued prefix: the B of Best
    ("C", "Best option: C", "B", False, False),  # glued prefix: the B of Best
    ("A", "The best option is A", "A", True, True),  # not stripped, but no capital before A
    ("C", "The correct option is C", "C", True, True),
    ("C", "Answer: C", "A", False, False),  # "Answer:" is not stripped
    ("D", "Option: D", "D", True, True),
    ("A", "", None, False, None),
    ("B", "b", None, False, None),
    ("A", "E", None, False, None),  # only A-D are searched
    ("B", "There are three people in the room and they are all wearing hats", None, False, None),
    (
        "C",
        "I think there are three people in the room and they all wear Blue hats",
        "B",
        False,
        False,
    ),
    ("C", "3.", None, False, None),  # option text only
    ("B", "Dogs", "D", False, False),
    ("A", "The answer is (A)", "A", True, True),
    ("D", " d", None, False, None),
    ("B", "The answer: B", "B", True, True),  # "The answer" is stripped
]


def _vmme_items() -> list[Item]:
    return [
        Item(
            f"{n // 3:03d}-{n % 3 + 1}",
            "Q?",
            ("1.", "2.", "3.", "4."),
            gold,
            VIDEO,
            {
                "duration": ("short", "medium", "long")[min(n // 7, 2)],
                "domain": "Knowledge" if n % 2 == 0 else "Sports Competition",
                "task_type": "Counting Problem" if n < 10 else "OCR Problems",
            },
        )
        for n, (gold, *_) in enumerate(VMME_ROWS)
    ]


def test_videomme_parser_rows() -> None:
    """Video-MME's rule, quirks included, row by row."""
    for _, response, parsed, _, _ in VMME_ROWS:
        assert parse_videomme(response) == parsed, response


def test_videomme_hand_made_set_drops_unparsable_in_official_mode() -> None:
    """20 responses, 9 right, 6 unparsable. Strict 9/20 = 45 %; official 9/14 = 64.2857 %.
    Per duration (rows 1-7 short, 8-14 medium, 15-20 long): strict 5/7, 2/7, 2/6; official
    5/7, 2/3, 2/4. Domain (odd rows Knowledge): strict 3/10, 6/10; official 3/7, 6/7. Task
    (rows 1-10 counting): strict 7/10, 2/10; official 7/10, 2/4."""
    items = _vmme_items()
    result = score_predictions(
        "videomme", items, {it.id: row[1] for it, row in zip(items, VMME_ROWS, strict=True)}
    )
    for s, row in zip(result.items, VMME_ROWS, strict=True):
        assert (s.parsed, s.strict, s.official) == row[2:], s
    assert result.modes["strict"].as_dict() == {
        "overall": _pct(45.0),
        "m_avg": None,
        "groups": {
            "duration": {"long": _pct(33.3333), "medium": _pct(28.5714), "short": _pct(71.4286)},
            "domain": {"Knowledge": _pct(30.0), "Sports Competition": _pct(60.0)},
            "task_type": {"Counting Problem": _pct(70.0), "OCR Problems": _pct(20.0)},
        },
        "scored": 20,
        "unparsed": 6,
    }
    assert result.modes["official"].as_dict() == {
        "overall": _pct(64.2857),
        "m_avg": None,
        "groups": {
            "duration": {"long": _pct(50.0), "medium": _pct(66.6667), "short": _pct(71.4286)},
            "domain": {"Knowledge": _pct(42.8571), "Sports Competition": _pct(85.7143)},
            "task_type": {"Counting Problem": _pct(70.0), "OCR Problems": _pct(50.0)},
        },
        "scored": 14,
        "unparsed": 6,
    }


def test_videomme_group_with_every_response_dropped_is_null() -> None:
    """A group whose responses were all left out has no official accuracy (None), not 0."""
    items = _vmme_items()[:2]
    result = score_predictions("videomme", items, {items[0].id: "A", items[1].id: "none"})
    official = result.modes["official"].as_dict()
    assert official["groups"]["domain"] == {"Knowledge": 100.0, "Sports Competition": None}
    assert result.modes["strict"].as_dict()["groups"]["domain"]["Sports Competition"] == 0.0


def test_failed_item_counts_wrong_in_both_modes() -> None:
    """No response (the item failed): wrong in both modes, in both denominators, not unparsed."""
    item = _vmme_items()[0]
    s = score_item("videomme", item, None)
    assert (s.official, s.strict, s.unparsed, s.note) == (
        False,
        False,
        False,
        "failed: no response",
    )
    summary = summarize("videomme", [s])
    assert (summary["official"].scored, summary["official"].unparsed) == (1, 0)


def test_test_split_items_are_not_scored() -> None:
    """Items without a gold answer (LongVideoBench's lvb_test_wo_gt.json) are reported as not
    scorable; nothing is scored, so there is no accuracy (None), not a 0 %."""
    items = [Item(f"t{n}", "Q?", ("a", "b"), "", VIDEO, {"duration_group": 15}) for n in range(3)]
    result = score_predictions("longvideobench", items, {"t0": "A", "t1": "B"})
    assert result.not_scorable == {
        "t0": "no gold answer (a test split without answers)",
        "t1": "no gold answer (a test split without answers)",
    }
    assert result.items == () and result.missing == ()
    official = result.modes["official"].as_dict()
    assert (official["overall"], official["scored"], official["groups"]) == (None, 0, {})
