"""Answer from speech and screen-text evidence with the text LLM (the no-VLM path).

Multiple choice is decided by the model's likelihood of each option letter after the MLVU
prefix "Best Option: (", never by parsing free text, combined with how well the passages
shown support each option (agent/grounding.py); open questions get one greedy sentence,
and an answer no passage backs becomes "not found in the video".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from .. import prompts
from ..answer import Answer, Evidence
from ..errors import ModelNotInstalledError
from ..runtime import Models
from ..text import LETTERS
from .confidence import choice_signals, open_signals
from .evidence import (
    MODALITY_LABEL,
    attribute,
    fit_to_budget,
    prompt_lines,
    stamp,
    wants_whole,
)
from .grounding import GroundingOptions, abstains, ground_choice, ground_open

NO_VLM_NOTE = (
    "answered from speech and screen text only: no VLM is installed, so the "
    "pictures themselves were not seen"
)
NOT_FOUND = "Not found in the video: its speech and screen text do not say."
# Most confidence an open answer keeps when no passage holds its words.
UNSUPPORTED_OPEN_CONFIDENCE = 0.15
# Tokens kept free in the LLM context for the instructions, question, options and answer.
PROMPT_RESERVE = 700
# Progress stage of the answering model's call, counted in tokens read and written.
MODEL_STAGE = "answer model"
# Tokens an open answer may take: one short sentence; a list or a quote asked for in full
# (evidence.wants_whole) gets room for every item of a screen or a spoken paragraph.
OPEN_MAX_TOKENS = 60
WHOLE_MAX_TOKENS = 200


def answer_from_text(
    question: str,
    options: Sequence[str] | None,
    evidence: list[Evidence],
    models: Models,
    notes: list[str],
    trace: list[dict[str, Any]],
    thin: Literal["even", "rank"] = "rank",
    option_matches: Sequence[Any] = (),
    progress: Callable[[str, float, float], None] | None = None,
) -> Answer:
    """Answer with the text LLM from ``evidence``.

    Args:
        thin: When the evidence does not fit the context: ``"even"`` keeps lines spread over
            time (the uniform baseline), ``"rank"`` keeps the first lines as given (callers
            pass them best first).
        option_matches: ``agent.verify.OptionMatch`` per option: each option's closest
            passage is listed under the evidence, so the model compares the wordings.
        progress: ``progress(stage, done, total)``: tokens of the model call, as
            :data:`MODEL_STAGE`, so a bar moves while the model reads and writes.
    """
    llm = models.get("llm")
    if llm is None:
        raise ModelNotInstalledError(f"No answering model available: {models.missing('llm')}")
    if NO_VLM_NOTE not in notes:
        notes.append(NO_VLM_NOTE)
    room = max(
        256, llm.n_ctx - PROMPT_RESERVE - llm.count_tokens(question + " ".join(options or []))
    )
    shown = _fit(evidence, room, llm.count_tokens, thin)
    if len(shown) < len(evidence):
        how = "evenly" if thin == "even" else "keeping the most relevant"
        notes.append(
            f"evidence thinned {how} to fit the model's context: {len(shown)} of "
            f"{len(evidence)} lines shown"
        )
    lines = prompt_lines(shown)
    system = prompts.render("answer", "system")
    sources = _sources(shown)
    if options:
        letters = LETTERS[: len(options)]
        user = prompts.render(
            "answer",
            "multiple_choice",
            sources=sources,
            evidence=lines,
            question=question,
            options=[{"letter": ltr, "text": o} for ltr, o in zip(letters, options, strict=True)],
            checks=_checks(option_matches, letters),
        )
        probs = llm.choose(
            system,
            user,
            letters,
            assistant_prefix=prompts.render("answer", "multiple_choice_prefix"),
            **model_progress(llm.choose, progress, MODEL_STAGE),
        )
        grounded = ground_choice(question, options, letters, probs, shown)
        choice = grounded.choice
        text = options[letters.index(choice)]
        notes.extend(n for n in grounded.notes if n not in notes)
        trace.append(
            {
                "step": "answer",
                "mode": "multiple_choice",
                "lines": len(shown),
                "probabilities": {k: round(v, 4) for k, v in probs.items()},
                "support": grounded.support,
                "grounded": {k: round(v, 4) for k, v in grounded.probabilities.items()},
                "backed": grounded.backed,
                "backing": [passage_key(e) for e in grounded.backing],
            }
        )
        return Answer(
            text=text,
            choice=choice,
            confidence=grounded.confidence,
            evidence=_cited_first(grounded.deciding, attribute(shown, question, text)),
            usage={
                "text_tokens": llm.count_tokens(system + user),
                # What a fitted calibrator reads (agent/confidence.py).
                "signals": choice_signals(
                    grounded.confidence,
                    probs,
                    choice,
                    grounded.support,
                    len(shown),
                    GroundingOptions().min_support,
                ),
            },
        )
    whole = wants_whole(question)
    template = "open_whole" if whole else "open"
    user = prompts.render("answer", template, sources=sources, evidence=lines, question=question)
    gen = llm.generate(
        system,
        user,
        max_tokens=WHOLE_MAX_TOKENS if whole else OPEN_MAX_TOKENS,
        stop=["\n"],
        **model_progress(llm.generate, progress, MODEL_STAGE),
    )
    # Small models add markdown despite the instructions; the CLI prints plain text.
    text = gen.text.replace("`", "").replace("**", "").strip() or NOT_FOUND
    model_certainty = float(min(1.0, max(0.0, math.exp(gen.mean_logprob))))
    confidence = model_certainty
    trace.append(
        {
            "step": "answer",
            "mode": "open",
            "lines": len(shown),
            "text": text,
            "mean_logprob": round(gen.mean_logprob, 4),
        }
    )
    support = attribute(shown, question, text)
    grounded = ground_open(question, text, shown)
    trace[-1]["support"] = grounded.support
    backed = grounded.support > 0 and grounded.deciding is not None and not abstains(text)
    trace[-1]["backed"] = backed
    trace[-1]["backing"] = [passage_key(grounded.deciding)] if backed and grounded.deciding else []
    if abstains(text):
        text, support, confidence = NOT_FOUND, [], min(confidence, 0.2)
    elif grounded.support == 0.0:
        notes.append(
            f'the model answered "{text[:80]}", but no passage found holds its words, so '
            "the answer is: not found in the video"
        )
        text, support = NOT_FOUND, []
        confidence = min(confidence, UNSUPPORTED_OPEN_CONFIDENCE)
    else:
        # Words of the answer that no passage holds may be invented: less sure by that share.
        confidence *= 0.5 + 0.5 * grounded.support
        support = _cited_first(grounded.deciding, support)
    return Answer(
        text=text,
        choice=None,
        confidence=confidence,
        evidence=support,
        usage={
            "text_tokens": gen.tokens_in + gen.tokens_out,
            "signals": open_signals(
                confidence, model_certainty, grounded.support, len(shown), text == NOT_FOUND
            ),
        },
    )


def model_progress(
    method: Callable[..., Any], progress: Callable[[str, float, float], None] | None, stage: str
) -> dict[str, Any]:
    """``progress=`` for a call of ``method`` reporting tokens as ``stage``.

    Empty when nobody watches or when ``method`` takes no ``progress`` (a model given with
    ``Models.use`` may implement only the older signature).
    """
    if progress is None:
        return {}
    import inspect

    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return {}
    takes = "progress" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return {"progress": lambda done, total: progress(stage, done, total)} if takes else {}


def _cited_first(deciding: Evidence | None, others: list[Evidence]) -> list[Evidence]:
    """The deciding passage, then the other supporting lines (without repeating it)."""
    if deciding is None:
        return others
    key = (deciding.start, deciding.modality, deciding.text)
    rest = [e for e in others if (e.start, e.modality, e.text) != key]
    return [Evidence(deciding.start, deciding.end, deciding.modality, deciding.text, 1.0), *rest]


def _fit(
    evidence: list[Evidence], room: int, count_tokens: Any, thin: Literal["even", "rank"]
) -> list[Evidence]:
    if thin == "even":
        return fit_to_budget(evidence, room, count_tokens)
    kept, used = [], 0
    for item in evidence:
        cost = count_tokens(f"[00:00-00:00] screen text: {item.text}\n")
        if used + cost > room:
            break
        kept.append(item)
        used += cost
    return kept


def passage_key(e: Evidence) -> list[Any]:
    """A passage as the trace records it: [start, modality, text] (what tells it apart)."""
    return [round(e.start, 2), e.modality, e.text]


# Options found verbatim in the passages beyond this count make the checks block misleading.
MAX_VERBATIM_FOR_CHECKS = 1


def _checks(option_matches: Sequence[Any], letters: str) -> list[dict[str, str]]:
    """Prompt rows: each option's closest passage and how closely it matches.

    Shown only while at most one option occurs verbatim in the passages: the block helps pick
    the one option the video spells out among near misses (a code misread by one letter), but
    when several options are said or written ("room 12" then "room 31"), a list of "100%
    match" rows says nothing about which one answers the question, and small models follow
    the last row instead of the passages.
    """
    # A match scoring 1 holds the option's letters and digits exactly; the agent always shows
    # each option's matched passage, so such an option is verbatim in the passages.
    verbatim = sum(
        1
        for m in option_matches
        if m.option < len(letters) and m.evidence is not None and m.score >= 1.0
    )
    if verbatim > MAX_VERBATIM_FOR_CHECKS:
        return []
    rows = []
    for match in option_matches:
        if match.option >= len(letters):
            continue
        e = match.evidence
        found = (
            f'[{stamp(e.start, e.end)}] {MODALITY_LABEL[e.modality]}: "{e.text}" '
            f"({round(100 * match.score)}% match)"
            if e is not None
            else "nothing close in the speech or screen text"
        )
        rows.append({"letter": letters[match.option], "found": found})
    return rows


def _sources(evidence: Sequence[Evidence]) -> str:
    kinds = {e.modality for e in evidence}
    names = [n for m, n in (("speech", "speech"), ("text", "screen text")) if m in kinds]
    return " and ".join(names) if names else "no speech or screen text found"
