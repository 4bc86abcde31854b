"""Option verification: each option's own wording looked up in the transcript and screen text."""

from __future__ import annotations

from dataclasses import dataclass

from viewfinder.agent.verify import MIN_SCORE, match_options, partial_ratio


@dataclass
class Line:
    start: float
    end: float
    text: str


CODES = ["AMBER LANTERN 703", "AMBER ORCHID 529", "AMBER ORCHID 283", "COBALT CANYON 184"]


def test_unspaced_and_misread_screen_text_finds_its_option():
    """OCR that runs words together or misreads a letter still settles the right option."""
    text = [
        Line(10, 12, "MUSIC +SOUND DESIGN"),
        Line(23.5, 24.0, "AMBERORCHID283"),  # the real needle, spaces lost
        Line(300, 304, "AMBER LANTERN 7O8"),  # a different code with a misread O
    ]
    matches = match_options(CODES, [], text)
    assert [m.option for m in matches] == [0, 1, 2, 3]
    best = max(matches, key=lambda m: m.score)
    assert best.option == 2 and best.score == 1.0
    assert best.evidence is not None and best.evidence.start == 23.5
    assert best.evidence.modality == "text"
    # Same words, other number: close, but clearly below the exact one.
    assert matches[1].score < 0.9
    assert matches[3].evidence is None  # nothing like COBALT CANYON anywhere


def test_a_sentence_whisper_split_in_two_is_found_as_one_passage():
    """A spoken option split over two segments, one word misheard, matches both segments only."""
    speech = [
        Line(280.0, 284.0, "Want to work together? Then join the commons."),
        Line(285.7, 287.4, "That is not a valid password."),
        Line(287.6, 289.5, "Please try again."),
        Line(600.0, 603.0, "Please enter your agent number followed by the pound key."),
    ]
    options = [
        "Password incorrect.  Please enter your password followed by the pound key.",
        "That is not a valid pass word.  Please try again.",
        "To leave a message, please enter a mailbox number.",
    ]
    matches = match_options(options, speech, [])
    assert max(matches, key=lambda m: m.score).option == 1
    found = matches[1].evidence
    assert found is not None and matches[1].score >= 0.95
    # The tightest window: both halves of the sentence, not the sentence before them.
    assert (found.start, found.end) == (285.7, 289.5)
    assert found.text == "That is not a valid password. Please try again."
    assert matches[2].score < matches[1].score


def test_short_options_are_not_checked():
    """Options like "yes" or "3" would match everywhere, so they get no passage."""
    matches = match_options(["yes", "no", "3"], [Line(0, 2, "yes, 3 of them, no")], [])
    assert all(m.evidence is None and m.score == 0.0 for m in matches)


def test_partial_ratio_scores_the_best_aligned_substring():
    """Exact containment scores 1, a one-character misread a little less, unrelated little."""
    assert partial_ratio("olivemeadow918", "xxoliveMEADOW918yy".lower()) == 1.0
    assert 0.9 <= partial_ratio("olivemeadow918", "olivemead0w918") < 1.0
    assert partial_ratio("olivemeadow918", "cobaltcanyon184") < MIN_SCORE
