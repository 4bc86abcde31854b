"""Grounded answers: follow what the passages say, and be only as sure as they allow.

A small answering model sometimes reads "Press N to do X" and still picks another key with
confidence 0.89. Here each option is scored against the passages the model was shown, in the
light of the question: an option is *supported* by a passage that holds its words (exactly,
or closely for long options such as codes that OCR misreads) and that is about the question
(shares its content words). That support is combined with the model's own likelihood of each
option (a log-linear mix), and the passage that gave the chosen option its support is cited
first.

Confidence then says how much the evidence carries: with no passage at all it falls to near
chance, with passages that support no option it is pulled halfway to chance, and the notes
say why. Open answers whose words appear in no passage become "not found in the video".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..answer import Evidence
from .evidence import stamp, words
from .verify import compact, partial_ratio


@dataclass(frozen=True)
class GroundingOptions:
    """How passages and the model's likelihood are combined."""

    # Weight of support (0..1) against the model's log-probability: support 1 versus 0 moves
    # the odds by e**weight (about 55x), enough to overrule a model that contradicts the
    # passage at 0.9; when passages support several options equally, the model decides.
    support_weight: float = 4.0
    # Below this support no option counts as backed by the passages: an option's words in a
    # line sharing none of the question's words (0.4) are a mention, not an answer.
    min_support: float = 0.5
    # Support added to the backed option whose passage comes first / last when the question
    # asks which came first or what holds after a change.
    order_bonus: float = 1.0
    # Options whose support is within this of the best count as backed alike.
    tie_margin: float = 0.15
    # Long options are matched by similarity of their letters and digits (OCR misreads);
    # below this similarity a passage does not hold the option.
    min_similarity: float = 0.8
    # Options of at most this many letters/digits must occur as whole words ("N", "F5", "3").
    short_option_chars: int = 3
    # Passages sharing this many of the question's content words count as fully on topic.
    topic_words: int = 3
    # Share of the distance from chance kept when no option is supported / nothing was found.
    unsupported_shrink: float = 0.5
    no_evidence_shrink: float = 0.2


@dataclass(frozen=True)
class Grounded:
    """The grounded choice."""

    # Combined probability per letter (sums to 1), before the confidence shrink.
    probabilities: dict[str, float]
    # The chosen letter.
    choice: str
    # Calibrated confidence of that choice.
    confidence: float
    # Support 0..1 per letter.
    support: dict[str, float]
    # The passage that supports the chosen option best (None when none does).
    deciding: Evidence | None
    # Why confidence is what it is, for the answer's notes.
    notes: tuple[str, ...]
    # Whether the passages back the chosen answer: its own passage supports it, or (negated
    # question) they back other options and not it. The agent stops looking when they do.
    backed: bool = False
    # The passages backing any option (those on the topic that hold an option's words): a
    # later look that finds none beyond these has found nothing new.
    backing: tuple[Evidence, ...] = ()


_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _stem(word: str) -> str:
    for suffix, keep in (("ing", 3), ("ed", 3), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            return word[: -len(suffix)]
    return word


def _stems(items: Sequence[str]) -> set[str]:
    """Words without a plural or verb ending, so "opens", "opened" and "open" meet."""
    return {_stem(w) for w in items}


def option_support(
    option: str, question: str, passages: Sequence[Evidence], opts: GroundingOptions
) -> tuple[float, Evidence | None]:
    """How well the best passage supports ``option`` as the answer to ``question`` (0..1)."""
    question_words = set(words(question))
    question_stems = _stems(list(question_words))
    own = [t for t in _tokens(option) if t not in question_words] or _tokens(option)
    target = "".join(own)
    if not target:
        return 0.0, None
    best, best_passage = 0.0, None
    for passage in passages:
        tokens = set(_tokens(passage.text))
        if all(t in tokens for t in own):
            match = 1.0
        elif len(target) > opts.short_option_chars:
            ratio = partial_ratio(target, compact(passage.text))
            match = ratio if ratio >= opts.min_similarity else 0.0
        else:
            match = 0.0
        if match == 0.0:
            continue
        shared = len(question_stems & _stems(words(passage.text)))
        # OCR runs words together ("PASSCODE7319"): a question word of 4+ letters inside the
        # squashed line is on topic too (as ground_open counts answer words).
        squashed = compact(passage.text)
        shared += sum(
            1
            for w in question_stems - _stems(words(passage.text))
            if len(w) >= 4 and w in squashed
        )
        topic = min(1.0, shared / max(1, min(len(question_words), opts.topic_words)))
        score = match * (0.4 + 0.6 * topic)
        if score > best:
            best, best_passage = score, passage
    return round(best, 4), best_passage


def backing_passages(
    question: str,
    options: Sequence[str],
    passages: Sequence[Evidence],
    opts: GroundingOptions | None = None,
) -> list[Evidence]:
    """The passages that back some option (support >= ``min_support``): no model needed.

    What :attr:`Grounded.backing` would hold for these passages, so a look again can tell
    before calling the answering model whether it found anything the last look had not.
    """
    opts = opts or GroundingOptions()
    found = []
    for option in options:
        score, passage = option_support(option, question, passages, opts)
        if passage is not None and score >= opts.min_support:
            found.append(passage)
    return list(dict.fromkeys(found))


_FIRST = re.compile(r"\b(first|earliest|initially|originally|at the (start|beginning))\b", re.I)
_LAST = re.compile(
    r"\b(last|latest|finally|now|after the (change|update|correction)|in the end|at the end|"
    r"currently|updated|corrected)\b",
    re.I,
)
_NEGATED = re.compile(r"\b(not|never|except|isn't|aren't|wasn't|doesn't|don't|without)\b", re.I)


def order_cue(question: str) -> str | None:
    """ "first" or "last" when the question asks which comes first or what holds now."""
    if _FIRST.search(question):
        return "first"
    if _LAST.search(question):
        return "last"
    return None


def ground_choice(
    question: str,
    options: Sequence[str],
    letters: Sequence[str],
    model_probabilities: dict[str, float],
    passages: Sequence[Evidence],
    opts: GroundingOptions | None = None,
) -> Grounded:
    """Combine the model's option probabilities with the passages' support of each option.

    Three readings of the question change how support counts: a negated question ("which is
    NOT listed") favours the options the passages do not back; "first" / "after the change"
    favours, among backed options, the one whose passage comes earliest / latest; and when
    passages back several options equally, the model decides but confidence is lowered.
    """
    opts = opts or GroundingOptions()
    support: dict[str, float] = {}
    cited: dict[str, Evidence | None] = {}
    for letter, option in zip(letters, options, strict=True):
        support[letter], cited[letter] = option_support(option, question, passages, opts)
    notes: list[str] = []
    backed = [k for k in letters if support[k] >= opts.min_support]
    negated = bool(_NEGATED.search(question)) and bool(backed)
    weight = dict(support)
    if negated:
        top_support = max(support.values())
        weight = {k: top_support - v for k, v in support.items()}
        notes.append(
            f"the question is negated: options the passages back ({', '.join(backed)}) are "
            "the ones it is not"
        )
    cue = order_cue(question)
    model_pick = max(model_probabilities, key=model_probabilities.get)
    model_probabilities = dict(model_probabilities)
    if cue and not negated:
        # "Which came first" is a question of time, which the passages' stamps answer and a
        # small model reading a dozen lines does not: it tends to pick the option it read
        # last (0.98 for "the old market" said after "the first thing we filmed was the
        # harbour"). So among the options the passages mention at all, the model's
        # probabilities are averaged (made equal): their support decides, and among backed
        # ones the order bonus; options no passage mentions keep the model's probability.
        mentioned = [k for k in letters if support[k] > 0]
        if len(mentioned) > 1:
            mean = sum(model_probabilities.get(k, 0.0) for k in mentioned) / len(mentioned)
            for k in mentioned:
                model_probabilities[k] = mean
    if cue and not negated and len(backed) > 1:
        timed = [k for k in backed if cited[k] is not None]
        pick = (min if cue == "first" else max)(timed, key=lambda k: cited[k].start)
        weight[pick] += opts.order_bonus
        notes.append(
            f"the question asks what comes {cue}: of the backed options, ({pick})'s passage "
            f"at [{stamp(cited[pick].start, cited[pick].end)}] comes {cue}"
        )
    scores = {
        k: math.log(max(model_probabilities.get(k, 0.0), 1e-6)) + opts.support_weight * weight[k]
        for k in letters
    }
    top = max(scores.values())
    mass = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(mass.values())
    probabilities = {k: v / total for k, v in mass.items()}
    choice = max(probabilities, key=lambda k: (probabilities[k], weight[k]))
    chance = 1.0 / len(letters)
    confidence = probabilities[choice]
    best_weight = max(weight.values())
    tied = [k for k in letters if best_weight - weight[k] <= opts.tie_margin]
    if not passages:
        confidence = chance + (confidence - chance) * opts.no_evidence_shrink
        notes.append(
            "no passage of the video was found for this question: the choice is close to a "
            "guess, and its confidence near chance"
        )
    elif not backed:
        confidence = chance + (confidence - chance) * opts.unsupported_shrink
        notes.append(
            "no option is supported by the passages found (none holds an option's words on "
            "the question's topic): confidence pulled toward chance"
        )
    else:
        if len(tied) > 1 and choice in tied:
            share = 1.0 / len(tied)
            confidence = share + (confidence - share) * opts.unsupported_shrink
            notes.append(
                f"the passages back ({', '.join(tied)}) alike: the model's reading decided, so "
                "confidence is lowered"
            )
        passage = cited[choice]
        if not negated and passage is not None and support[choice] >= opts.min_support:
            notes.append(
                f"({choice}) is backed by the {passage.modality} at "
                f'[{stamp(passage.start, passage.end)}]: "{passage.text[:80]}"'
            )
        elif not negated:
            notes.append(
                f"the passages back ({', '.join(backed)}), not the chosen ({choice}): the "
                "model's reading decided"
            )
        if model_pick != choice:
            notes.append(
                f"the model's own first choice was ({model_pick}); the passages overruled it"
            )
    deciding = cited[choice] if support[choice] >= opts.min_support and not negated else None
    is_backed = deciding is not None or (negated and choice not in backed)
    backing = tuple(dict.fromkeys(cited[k] for k in backed if cited[k] is not None))
    return Grounded(
        probabilities,
        choice,
        float(confidence),
        support,
        deciding,
        tuple(notes),
        is_backed,
        backing,
    )


@dataclass(frozen=True)
class OpenGrounding:
    """How well passages back an open answer."""

    # Share of the answer's own content words found in some passage (0..1).
    support: float
    # The passage holding most of them (None when none holds any).
    deciding: Evidence | None


_ABSTAIN = re.compile(
    r"\b(not (mentioned|found|given|provided|stated|specified|shown|said|in the)|do(es)? not "
    r"say|no information|cannot be determined|unknown)\b",
    re.I,
)


def abstains(answer: str) -> bool:
    """Whether an open answer says the evidence does not hold it ("not mentioned", ...)."""
    return bool(_ABSTAIN.search(answer))


def ground_open(question: str, answer: str, passages: Sequence[Evidence]) -> OpenGrounding:
    """Which share of the answer's words (beyond the question's) the passages hold."""
    question_words = set(words(question))
    own = [w for w in dict.fromkeys(words(answer)) if w not in question_words]
    own = own or list(dict.fromkeys(words(answer)))
    if not own or not passages:
        return OpenGrounding(0.0, None)
    best, best_passage, found = 0, None, set()
    for passage in passages:
        present = set(words(passage.text))
        lowered = passage.text.lower()
        squashed = "".join(lowered.split())
        held = {
            w
            for w in own
            if w in present
            or (len(w) >= 4 and w in squashed)
            # OCR runs a short command into its neighbours ("~$ls/usr"): a word set off by
            # punctuation still counts, but not one inside a longer word ("ls" in "else").
            or re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", lowered) is not None
        }
        found |= held
        if len(held) > best:
            best, best_passage = len(held), passage
    return OpenGrounding(round(len(found) / len(own), 4), best_passage)
