"""How each benchmark's published scorer turns a raw response into an option letter.

Our own implementations of the rules, read from the reference code (quirks kept on purpose,
so numbers compare with published tables):

- MLVU, ``evaluation/multiple_choice_evaluation/choice_bench.py`` (``check_ans``): the model
  continues ``Best Option: (``; the prediction is the character just before the first ``)``,
  else the whole response, compared with the gold letter as is (no stripping, no case folding).
- LongVideoBench, lmms-eval ``tasks/longvideobench/utils.py`` (``parse_multi_choice_response``,
  the version in use since November 2024, which its README points to): strip the response,
  delete eight answer prefixes (not ``Answer:``), give up on more than ten words without a
  capital A-E, else take the first capital A-E anywhere, whatever the option count. When
  nothing parses the scorer assigns a random option (see :mod:`viewfinder.eval.scoring`).
- Video-MME, ``evaluation/eval_your_results.py`` (``extract_characters_regex``, removed from
  the repository in June 2024): the same shape with capital A-D, and a prefix list whose two
  missing commas glue ``"The best option is" "The correct option is"`` and ``"Best answer:"
  "Best option:"`` into single strings, so neither half is ever stripped on its own:
  ``"Best answer: D"`` reads as ``B``. An empty result drops the response from the score.

Every parser returns ``None`` for "could not parse"; what that means differs per benchmark
and per scoring mode, and is decided in :mod:`viewfinder.eval.scoring`.
"""

from __future__ import annotations

import re

from ..text import LETTERS

# lmms-eval's LongVideoBench list: eight prefixes, every one its own string.
LVB_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)

# Video-MME's list as published: two pairs are glued by missing commas (a known bug,
# fixed in VLMEvalKit's copy). Kept, because the published numbers were computed with it.
VIDEOMME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)

# Our own runs' generic rule (jsonl files have no published scorer): the usual prefixes,
# including the ones the references leave in.
GENERIC_PREFIXES = (*LVB_PREFIXES, "Answer:", "Option:")


def mlvu_prediction(response: str) -> str:
    """MLVU's prediction string: the character before the first ``)``, else the response.

    ``"B) a red car"`` -> ``"B"``; ``"Best Option: (C)"`` -> ``"C"``; ``"C"`` -> ``"C"``;
    ``" C"`` -> ``" C"`` (never equal to a letter); ``")"`` -> ``""``.
    """
    if ")" in response:
        i = response.index(")")
        return response[i - 1 : i] if i > 0 else ""
    return response


def parse_mlvu(response: str) -> str | None:
    """The MLVU prediction when it is an option letter (A-F, as on MLVU's test split), else None.

    A letter beyond the question's options (``"E)"`` on four options) is parsed, and wrong.
    """
    pred = mlvu_prediction(response)
    return pred if len(pred) == 1 and pred in _letters(6) else None


def _first_letter(response: str, prefixes: tuple[str, ...], letters: str) -> str | None:
    # The shared shape of the lmms-eval / Video-MME rule.
    s = response.strip()
    for prefix in prefixes:
        s = s.replace(prefix, "")
    m = re.search(f"[{letters}]", s)
    if m is None:  # covers "more than ten words and no letter" too
        return None
    return m.group(0)


def parse_longvideobench(response: str) -> str | None:
    """LongVideoBench's letter: the first capital A-E after its prefixes, else None.

    The letter may lie beyond the question's options (``"E"`` on a four-option question):
    it is then simply wrong, as in the reference.
    """
    return _first_letter(response, LVB_PREFIXES, "ABCDE")


def parse_videomme(response: str) -> str | None:
    """Video-MME's letter: the first capital A-D after its (quirky) prefixes, else None."""
    return _first_letter(response, VIDEOMME_PREFIXES, "ABCD")


def parse_generic(response: str, n_options: int) -> str | None:
    """Our rule for benchmarks without a published scorer: common prefixes, first valid letter."""
    return _first_letter(response, GENERIC_PREFIXES, _letters(n_options))


def _letters(n_options: int) -> str:
    return LETTERS[:n_options]
