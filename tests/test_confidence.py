"""Confidence as a measured probability: every text answer records its signals, the fitted
calibrator turns them into the share of such answers that were right, and answers without
signals (a VLM's) keep their own confidence."""

from __future__ import annotations

import math
import random

import pytest
from test_grounding import KEY_LINES, StubbornLLM, _answer

from viewfinder.agent.confidence import (
    FEATURES,
    Calibrator,
    calibrate,
    choice_signals,
    default_calibrator,
    fit_logistic,
    open_signals,
)
from viewfinder.answer import Answer, Evidence
from viewfinder.eval.calibration import expected_calibration_error


def test_a_choice_records_the_signals_a_calibrator_reads():
    """The passage backs N against a model sure of M: the signals say the model disagreed,
    the chosen option is backed, and hold the rule's confidence."""
    ans, _ = _answer(
        StubbornLLM({"A": 0.89, "B": 0.08, "C": 0.03}),
        "Which key opens a new tab?",
        ["M", "N", "T"],
        KEY_LINES,
    )
    s = ans.usage["signals"]
    assert s["kind"] == "choice" and s["agree"] is False
    assert s["support"] >= 0.5 and s["backed"] == 1 and s["options"] == 3
    assert s["passages"] == 3 and s["raw"] == pytest.approx(ans.confidence, abs=1e-4)
    assert s["model"] == pytest.approx(0.08)


def test_an_open_answer_no_passage_backs_records_not_found():
    ans, _ = _answer(
        StubbornLLM(sentence="The key is Q."), "Which key closes the editor?", None, KEY_LINES
    )
    s = ans.usage["signals"]
    assert s["kind"] == "open" and s["not_found"] is True and s["backed"] == 0


def _rows(n: int, seed: int) -> list[dict]:
    """Answers whose rule confidence is always 0.9, right 95% of the time when a passage
    backs them and 30% when none does (the dev set's pattern, exaggerated)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        backed = rng.random() < 0.5
        signals = choice_signals(
            0.9, {"A": 0.9, "B": 0.1}, "A", {"A": 1.0 if backed else 0.0, "B": 0.0}, 4, 0.5
        )
        rows.append({"signals": signals, "correct": rng.random() < (0.95 if backed else 0.3)})
    return rows


def test_the_fitted_calibrator_is_calibrated_on_held_out_answers():
    """Fitted on one sample, on another its confidence follows accuracy: ECE falls from the
    rule's ~0.27 to under 0.08, and unbacked answers drop below 0.5."""
    weights, bias = fit_logistic(_rows(400, 1), l2=1.0)
    calibrator = Calibrator(weights, bias, "synthetic")
    held = _rows(400, 2)
    rule = [{"confidence": r["signals"]["raw"], "correct": r["correct"]} for r in held]
    fitted = [
        {"confidence": calibrator.probability(r["signals"]), "correct": r["correct"]} for r in held
    ]
    assert expected_calibration_error(rule) > 0.2
    assert expected_calibration_error(fitted) < 0.08
    unbacked = next(r for r in held if r["signals"]["backed"] == 0)
    backed = next(r for r in held if r["signals"]["backed"] == 1)
    assert calibrator.probability(unbacked["signals"]) < 0.5
    assert calibrator.probability(backed["signals"]) > 0.85


def test_calibrate_replaces_the_rule_and_names_the_fit():
    signals = open_signals(0.7, 0.7, 1.0, 3, False)
    answer = Answer("ls /usr", None, 0.7, [Evidence(6, 8, "text", "ls /usr")], {"signals": signals})
    calibrator = Calibrator(tuple(0.0 for _ in FEATURES), -1.0, "test fit")
    calibrate(answer, calibrator)
    assert answer.confidence == pytest.approx(0.2689, abs=1e-4)
    assert answer.usage["calibration"] == "test fit"
    assert answer.usage["signals"]["raw"] == 0.7


def test_an_answer_without_signals_keeps_its_confidence():
    answer = Answer("a red car", None, 0.64)
    calibrate(answer, Calibrator(tuple(0.0 for _ in FEATURES), -5.0, "x"))
    assert answer.confidence == 0.64 and answer.usage["calibration"].startswith("none")


def test_a_calibration_file_for_other_features_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="refit with bench/fit_calibration.py"):
        Calibrator.from_dict({"features": ["brightness"], "weights": [1.0], "bias": 0.0})


def test_the_shipped_calibrator_trusts_backed_answers_more_than_guesses():
    """The fitted file in the package: an option the passages back, which the model also
    picks, is more probable than the same pick with nothing found at all."""
    calibrator = default_calibrator()
    assert calibrator is not None, "viewfinder/agent/calibration.json ships with the package"
    backed = choice_signals(0.8, {"A": 0.8, "B": 0.2}, "A", {"A": 1.0, "B": 0.0}, 6, 0.5)
    guess = choice_signals(0.3, {"A": 0.3, "B": 0.25}, "A", {"A": 0.0, "B": 0.0}, 0, 0.5)
    assert 0.0 < calibrator.probability(guess) < calibrator.probability(backed) < 1.0


def test_a_choice_nothing_backs_stays_near_chance_whatever_the_fit():
    """A calibrator that would lift every answer cannot lift a 3-way guess the passages do
    not back above the rule's near-chance value."""
    lifting = Calibrator(tuple(0.0 for _ in FEATURES), 3.0, "lifts everything")
    guess = choice_signals(
        0.38, {"A": 0.4, "B": 0.3, "C": 0.3}, "A", {"A": 0, "B": 0, "C": 0}, 5, 0.5
    )
    backed = choice_signals(
        0.38, {"A": 0.4, "B": 0.3, "C": 0.3}, "A", {"A": 1, "B": 0, "C": 0}, 5, 0.5
    )
    assert lifting.probability(guess) == pytest.approx(0.38)
    assert lifting.probability(backed) > 0.9


def test_a_calibration_file_may_name_a_subset_of_the_features():
    """Platt scaling (the rule's confidence only) round-trips through the file format."""
    platt = Calibrator((0.5,), 0.25, "platt", ("raw_logit",))
    again = Calibrator.from_dict(platt.as_dict())
    signals = open_signals(0.9, 0.9, 1.0, 3, False)
    assert again == platt
    assert again.probability(signals) == pytest.approx(
        1 / (1 + math.exp(-(0.25 + 0.5 * 2.1972))), abs=1e-3
    )
