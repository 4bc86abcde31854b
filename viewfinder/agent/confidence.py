"""Confidence as a measured probability: signals of each text answer and a fitted calibrator.

The grounded confidence (agent/grounding.py) is a hand-made rule: on the dev set it said 0.9
for answers right two times in three. So every text-LLM answer records its *signals* (the
rule's confidence, the model's own certainty, how well the passages back the answer, whether
the model and the passages agreed, whether anything was found at all) in
``answer.usage["signals"]``, and :func:`calibrate` maps them to a probability with a logistic
model fitted on the dev set's fit split (``bench/fit_calibration.py`` writes
``calibration.json`` beside this module; ``docs/results/calibration.md`` has its held-out
reliability table). Without that file the rule's confidence is kept and the usage says so.

Answers a VLM gave carry no signals and keep their own confidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..answer import Answer

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
# The features, in the order the weights are stored; ``features`` computes them.
FEATURES = (
    "raw_logit",  # logit of the grounded (rule) confidence
    "model_logit",  # logit of the model's own probability of its answer
    "support",  # how well the best passage backs the answer (0..1)
    "agree",  # 1 when the model's first choice is the grounded choice (open: 1)
    "no_evidence",  # 1 when no passage was shown
    "unbacked",  # 1 when no option / no answer word is backed by a passage
    "open",  # 1 for an open question
    "not_found",  # 1 when the open answer is "not found in the video"
    "chance_logit",  # logit of 1 / options (0 for open questions)
)
_EPS = 0.01


def _logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, float(p)))
    return math.log(p / (1.0 - p))


def choice_signals(
    raw: float,
    model_probabilities: Mapping[str, float],
    choice: str,
    support: Mapping[str, float],
    passages: int,
    min_support: float,
) -> dict[str, Any]:
    """Signals of a multiple-choice answer (``raw``: the grounded confidence)."""
    model_pick = max(model_probabilities, key=lambda k: model_probabilities[k])
    return {
        "kind": "choice",
        "raw": round(float(raw), 4),
        "model": round(float(model_probabilities.get(choice, 0.0)), 4),
        "support": round(float(support.get(choice, 0.0)), 4),
        "agree": model_pick == choice,
        "passages": passages,
        "backed": sum(1 for v in support.values() if v >= min_support),
        "options": len(model_probabilities),
        "not_found": False,
    }


def open_signals(
    raw: float, model: float, support: float, passages: int, not_found: bool
) -> dict[str, Any]:
    """Signals of an open answer (``model``: exp of its mean token log-probability)."""
    return {
        "kind": "open",
        "raw": round(float(raw), 4),
        "model": round(float(model), 4),
        "support": round(float(support), 4),
        "agree": True,
        "passages": passages,
        "backed": int(support > 0),
        "options": 0,
        "not_found": bool(not_found),
    }


def features(signals: Mapping[str, Any], used: Sequence[str] = FEATURES) -> list[float]:
    """The calibrator's inputs named in ``used`` (in that order)."""
    every = _all_features(signals)
    return [every[FEATURES.index(name)] for name in used]


def _all_features(signals: Mapping[str, Any]) -> list[float]:
    is_open = signals.get("kind") == "open"
    options = int(signals.get("options") or 0)
    return [
        _logit(signals["raw"]),
        _logit(signals["model"]),
        float(signals["support"]),
        float(bool(signals["agree"])),
        float(int(signals["passages"]) == 0),
        float(int(signals["backed"]) == 0),
        float(is_open),
        float(bool(signals["not_found"])),
        0.0 if is_open or options < 2 else _logit(1.0 / options),
    ]


@dataclass(frozen=True)
class Calibrator:
    """A logistic map from signals to the probability that the answer is right."""

    weights: tuple[float, ...]
    bias: float
    # Where it was fitted (dev set, split, rows, commit): shown in ``usage["calibration"]``.
    fitted_on: str
    # The features the weights belong to (a subset of FEATURES, in this order).
    used: tuple[str, ...] = FEATURES

    def probability(self, signals: Mapping[str, Any]) -> float:
        """The fitted probability; never above the rule's for a choice nothing backs.

        A dev set of 70 questions holds few answers with no backing passage, and the fit
        lifts some of them above chance (0.51 for a 3-way guess about something the video
        never mentions). A user must see such a guess near chance, as the rule puts it.
        """
        inputs = features(signals, self.used)
        z = self.bias + sum(w * x for w, x in zip(self.weights, inputs, strict=True))
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        unbacked_choice = signals.get("kind") == "choice" and int(signals["backed"]) == 0
        if unbacked_choice or int(signals["passages"]) == 0:
            p = min(p, float(signals["raw"]))
        return p

    def as_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.used),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Raises ValueError when the file names features this version does not compute."""
        used = tuple(data.get("features", []))
        unknown = [name for name in used if name not in FEATURES]
        if not used or unknown or len(used) != len(data.get("weights", [])):
            raise ValueError(
                f"calibration features {list(used)} are not a subset of {list(FEATURES)} with "
                "one weight each; refit with bench/fit_calibration.py"
            )
        weights = tuple(float(w) for w in data["weights"])
        return cls(weights, float(data["bias"]), data["fitted_on"], used)


@cache
def default_calibrator() -> Calibrator | None:
    """The fitted calibrator shipped with the package (None when there is none)."""
    if not CALIBRATION_FILE.is_file():
        return None
    return Calibrator.from_dict(json.loads(CALIBRATION_FILE.read_text(encoding="utf-8")))


def calibrate(answer: Answer, calibrator: Calibrator | None = None) -> Answer:
    """Replace a text answer's rule confidence with the fitted probability (in place).

    The rule's value stays in ``usage["signals"]["raw"]``; ``usage["calibration"]`` names the
    calibrator, or says that none was applied and why.
    """
    signals = answer.usage.get("signals")
    if not signals:
        answer.usage["calibration"] = "none: the answer has no signals (a VLM answered)"
        return answer
    calibrator = calibrator or default_calibrator()
    if calibrator is None:
        answer.usage["calibration"] = "none: no fitted calibration.json; the rule's confidence"
        return answer
    answer.confidence = round(calibrator.probability(signals), 4)
    answer.usage["calibration"] = calibrator.fitted_on
    return answer


def fit_logistic(
    rows: Sequence[Mapping[str, Any]],
    l2: float = 1.0,
    steps: int = 50,
    used: Sequence[str] = FEATURES,
) -> tuple[tuple[float, ...], float]:
    """L2-regularised logistic regression (Newton's method) of ``correct`` on the features.

    ``rows`` carry ``signals`` and ``correct``; the bias is not penalised. Small dev sets make
    the penalty matter: it keeps weights of rare features (no evidence at all) near zero
    instead of letting two rows decide them.
    """
    import numpy as np

    usable = [r for r in rows if r.get("signals") and r.get("correct") is not None]
    if len(usable) < 2:
        raise ValueError("need at least two scored rows with signals to fit a calibrator")
    x = np.array([[1.0, *features(r["signals"], used)] for r in usable])
    y = np.array([float(bool(r["correct"])) for r in usable])
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return tuple(float(v) for v in w[1:]), float(w[0])
