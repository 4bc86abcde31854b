"""Grounded answers: the choice follows the passages, the deciding one is cited, confidence
falls toward chance without support, and open answers no passage backs are "not found"."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from viewfinder.agent.answering import NOT_FOUND, answer_from_text
from viewfinder.agent.grounding import (
    GroundingOptions,
    ground_choice,
    ground_open,
    option_support,
)
from viewfinder.answer import Evidence
from viewfinder.runtime import Models
from viewfinder.settings import Settings
from viewfinder.tools.llm import Generation


@dataclass
class StubbornLLM:
    """Always prefers the same letter, or writes the same sentence, whatever it reads."""

    probabilities: dict[str, float] = field(default_factory=dict)
    sentence: str = ""
    n_ctx: int = 4096

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def choose(self, system, user, letters, assistant_prefix=""):
        return {k: self.probabilities.get(k, 0.0) for k in letters}

    def generate(self, system, user, max_tokens=64, stop=None, assistant_prefix=""):
        return Generation(self.sentence, 10, 5, -0.05, 0.01)


def _answer(llm, question, options, evidence):
    models = Models(Settings(llm="stub", ocr=None, vlm=None, clip=None))
    models.use("llm", llm)
    notes: list[str] = []
    ans = answer_from_text(question, options, evidence, models, notes, [])
    return ans, notes


KEY_LINES = [
    Evidence(3.0, 5.0, "speech", "Welcome to the editor tour."),
    Evidence(12.0, 15.0, "speech", "Press N to open a new tab."),
    Evidence(20.0, 22.0, "text", "File Edit View Help"),
]


def test_the_passage_overrules_a_model_that_contradicts_it():
    """ "Press N to open a new tab" is shown; a model sure of M (0.89) is overruled, the
    passage is cited first and the notes say so."""
    llm = StubbornLLM({"A": 0.89, "B": 0.08, "C": 0.03})
    ans, notes = _answer(llm, "Which key opens a new tab?", ["M", "N", "T"], KEY_LINES)
    assert ans.choice == "B" and ans.text == "N"
    assert ans.evidence[0].text == "Press N to open a new tab."
    assert any("backed by the speech at [00:12-00:15]" in n for n in notes)
    assert any("first choice was (A)" in n for n in notes)


def test_no_evidence_gives_near_chance_confidence_and_says_why():
    ans, notes = _answer(StubbornLLM({"A": 0.9, "B": 0.1}), "Which key?", ["N", "M"], [])
    assert ans.confidence <= 0.6
    assert any("no passage of the video was found" in n for n in notes)


def test_passages_that_support_no_option_pull_confidence_toward_chance():
    """Passages exist but hold none of the options: multiple choice says no option is
    supported, and confidence is halfway to chance."""
    llm = StubbornLLM({"A": 0.9, "B": 0.05, "C": 0.05})
    ans, notes = _answer(llm, "Which key closes a tab?", ["W", "Q", "X"], KEY_LINES)
    assert ans.confidence == pytest.approx(1 / 3 + (0.9 - 1 / 3) * 0.5, abs=1e-3)
    assert any("no option is supported" in n for n in notes)


def test_a_phrase_said_twice_with_different_answers_leaves_the_choice_to_the_model():
    """Both options are said on topic (the code changed): support ties, the model decides."""
    lines = [
        Evidence(10.0, 12.0, "speech", "The door code is 4172."),
        Evidence(50.0, 52.0, "speech", "Update: the door code is now 9035."),
    ]
    question = "What is the door code?"
    support, passage = option_support("4172", question, lines, GroundingOptions())
    assert support == 1.0 and passage is lines[0]
    g = ground_choice(question, ["4172", "9035"], "AB", {"A": 0.2, "B": 0.8}, lines)
    assert g.choice == "B" and g.support["A"] == g.support["B"]
    g = ground_choice(question, ["4172", "9035"], "AB", {"A": 0.8, "B": 0.2}, lines)
    assert g.choice == "A"


def test_an_off_topic_mention_supports_less_than_an_on_topic_one():
    lines = [
        Evidence(1.0, 2.0, "text", "Linux Windows macOS"),
        Evidence(30.0, 33.0, "speech", "The server runs on Linux, the laptops on Windows."),
    ]
    g = ground_choice(
        "Which operating system does the server run on?",
        ["Windows", "Linux", "macOS"],
        "ABC",
        {"A": 0.7, "B": 0.2, "C": 0.1},
        lines,
    )
    assert g.support["C"] < g.support["B"]  # macOS only in an unrelated menu line


def test_open_answer_words_in_no_passage_become_not_found():
    llm = StubbornLLM(sentence="The command is git push --force.")
    ans, notes = _answer(llm, "Which command is typed?", None, KEY_LINES)
    assert ans.text == NOT_FOUND and ans.confidence <= 0.15 and ans.evidence == []
    assert any("git push --force" in n and "not found in the video" in n for n in notes)


def test_open_answer_backed_by_a_passage_cites_it():
    llm = StubbornLLM(sentence="You press N.")
    ans, _ = _answer(llm, "Which key opens a new tab?", None, KEY_LINES)
    assert ans.text == "You press N." and ans.evidence[0].start == 12.0
    assert ground_open("Which key opens a new tab?", "N", KEY_LINES).support == 1.0


ROOMS = [
    Evidence(17.5, 20.0, "speech", "The team meets in room 12 on Monday."),
    Evidence(44.5, 48.0, "speech", "Correction: the team now meets in room 31."),
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("In which room does the team meet after the change?", "B"),
        ("Which room was announced first for the team meeting?", "A"),
    ],
)
def test_first_and_after_the_change_follow_the_passages_times(question, expected):
    """A value said twice: "first" takes the earlier passage, "after the change" the later,
    even against a model sure of the other."""
    model = {"A": 0.1, "B": 0.9} if expected == "A" else {"A": 0.9, "B": 0.1}
    g = ground_choice(question, ["room 12", "room 31"], "AB", model, ROOMS)
    assert g.choice == expected and g.deciding is not None
    assert any("comes " in n for n in g.notes)


def test_equally_backed_options_lower_confidence():
    """Both rooms are backed alike and nothing in the question orders them: the model's 0.95
    decides, but the confidence says the passages did not."""
    g = ground_choice("Which room does the team meet in?", ["room 12", "room 31"], "AB",
                      {"A": 0.95, "B": 0.05}, ROOMS)  # fmt: skip
    assert g.choice == "A" and g.confidence < 0.75
    assert any("alike" in n for n in g.notes)


def test_a_negated_question_favours_the_option_the_passages_do_not_back():
    lines = [
        Evidence(34.0, 44.0, "text", "Supported systems"),
        Evidence(34.0, 44.0, "text", "Supported systems: Debian 12, Fedora 40, FreeBSD 14"),
    ]
    g = ground_choice(
        "Which of these systems is NOT on the supported list?",
        ["Debian 12", "Fedora 40", "Windows 11", "FreeBSD 14"],
        "ABCD",
        {"A": 0.6, "B": 0.2, "C": 0.1, "D": 0.1},
        lines,
    )
    assert g.choice == "C" and any("negated" in n for n in g.notes)


def test_an_answer_saying_the_evidence_is_silent_is_not_found():
    """ "not mentioned" is an abstention, even though "not" hides inside "Notepad"."""
    llm = StubbornLLM(sentence="The price is not mentioned in the given evidence.")
    lines = [Evidence(0.0, 8.0, "text", "Notepad Pro: a quick tour")]
    ans, _ = _answer(llm, "What is the price of the editor?", None, lines)
    assert ans.text == NOT_FOUND and ans.confidence <= 0.2


def test_a_short_command_run_into_its_neighbours_by_ocr_still_backs_the_answer():
    """RapidOCR reads a 4K terminal as "~$ls/us": "ls" set off by punctuation is held there,
    but not inside a longer word, so an unrelated line does not back it."""
    terminal = [Evidence(4.7, 4.7, "text", "eriberto@canopus:~$ls/us")]
    question = "What command is typed in the terminal?"
    answer = "The command typed in the terminal is ls."
    assert ground_open(question, answer, terminal).support == 1.0
    prose = [Evidence(1.0, 2.0, "speech", "Nothing else happens; it falls silent.")]
    assert ground_open(question, answer, prose).support == 0.0


def test_first_is_decided_by_time_even_against_a_model_sure_of_the_other():
    """Among backed options, "first" is a question of time: the model's 0.999 for the later
    room is averaged with the other backed option's probability, so the earlier passage wins
    (the order bonus alone could not overrule odds of 999 to 1)."""
    g = ground_choice(
        "Which room was announced first for the team meeting?",
        ["room 31", "room 12", "room 13"],
        "ABC",
        {"A": 0.999, "B": 0.0005, "C": 0.0005},
        ROOMS,
    )
    assert g.choice == "B" and g.backed
    assert any("own first choice was (A)" in n for n in g.notes)


def test_backing_lists_every_backed_options_passage():
    """The passages backing some option are reported, so a later look can tell new from old."""
    g = ground_choice("Which room does the team meet in?", ["room 12", "room 31", "room 7"],
                      "ABC", {"A": 0.5, "B": 0.5}, ROOMS)  # fmt: skip
    assert set(g.backing) == set(ROOMS) and g.backed


def test_a_list_question_gets_the_whole_screen_and_a_prompt_to_name_every_item():
    """ "Which systems are listed?" is answered from the whole screen (lines merged in
    reading order) with the list prompt and room for every item."""
    from fakes import FakeIndex, line

    from viewfinder.agent.evidence import wants_whole, whole_passages
    from viewfinder.tools.shots import Clip

    rows = ["Supported systems", "Debian 12", "Fedora 40", "FreeBSD 14", "macOS 14"]
    index = FakeIndex(
        clips=[Clip(0.0, 34.0, (1.0,)), Clip(34.0, 44.0, (35.0,))],
        text_spans=[
            line(34.0, 44.0, text, (100.0, 100.0 + 40 * i, 400.0, 130.0 + 40 * i))
            for i, text in reversed(list(enumerate(rows)))
        ]
        + [line(10.0, 20.0, "Meeting", (100.0, 100.0, 300.0, 130.0))],
    )
    question = "Which operating systems are listed as supported?"
    assert wants_whole(question) and not wants_whole("Which key saves the file?")
    merged = whole_passages([Evidence(34.0, 44.0, "text", "Fedora 40")], index)
    assert [e.text for e in merged] == [" | ".join(rows)]

    @dataclass
    class Recorder(StubbornLLM):
        seen: list = field(default_factory=list)

        def generate(self, system, user, max_tokens=64, stop=None, assistant_prefix=""):
            self.seen.append((user, max_tokens))
            return Generation("Debian 12, Fedora 40, FreeBSD 14, macOS 14", 10, 12, -0.05, 0.01)

    llm = Recorder()
    ans, _ = _answer(llm, question, None, merged)
    user, max_tokens = llm.seen[0]
    assert "name every item" in user and max_tokens >= 150
    assert ans.text.count(",") == 3 and ans.evidence[0].text == merged[0].text


def test_what_the_voice_says_is_quoted_from_the_whole_spoken_passage():
    """A sentence Whisper split in two, in one shot, is one passage; speech in another shot
    or after a pause stays out."""
    from fakes import FakeIndex

    from viewfinder.agent.evidence import wants_whole, whole_passages
    from viewfinder.indexes.transcript import SpeechSegment
    from viewfinder.tools.shots import Clip

    index = FakeIndex(
        clips=[Clip(0.0, 10.0, (1.0,)), Clip(10.0, 30.0, (11.0,))],
        speech_segments=[
            SpeechSegment(2.0, 9.5, "Earlier shot."),
            SpeechSegment(10.5, 13.0, "Hold control and press S,"),
            SpeechSegment(13.4, 16.0, "then type the file name."),
            SpeechSegment(25.0, 27.0, "Much later."),
        ],
    )
    assert wants_whole("What does the narrator say about saving?")
    merged = whole_passages([Evidence(13.4, 16.0, "speech", "then type the file name.")], index)
    assert [(e.start, e.end, e.text) for e in merged] == [
        (10.5, 16.0, "Hold control and press S, then type the file name.")
    ]


def test_first_prefers_the_backed_option_over_a_mention_the_model_is_sure_of():
    """Only "the harbour" is said with the question's words ("the first thing we filmed");
    "the old market" is merely mentioned later. A model sure of the mention (0.98) is
    averaged with the backed option, so the backing decides."""
    lines = [
        Evidence(0.0, 4.0, "speech", "The first thing we filmed was the harbour at sunrise."),
        Evidence(18.0, 21.0, "speech", "After the harbour we went to the old market."),
    ]
    g = ground_choice("What was filmed first?", ["the old market", "the harbour", "the cathedral"],
                      "ABC", {"A": 0.98, "B": 0.01, "C": 0.01}, lines)  # fmt: skip
    assert g.choice == "B" and g.backed


def test_a_code_ocr_ran_into_its_label_backs_the_right_permutation():
    """OCR reads the slide "PASSCODE 7319" as one word: "code" inside it keeps the line on
    the question's topic, so 7319 is backed and the permutations 3719 / 7391 are not, even
    when the model prefers 3719."""
    lines = [
        Evidence(28.3, 31.0, "speech", "The locker code is on the screen now."),
        Evidence(29.1, 36.1, "text", "PASSCODE7319"),
    ]
    options = ["7319", "7391", "1937", "3719"]
    llm = StubbornLLM({"A": 0.2, "B": 0.2, "C": 0.1, "D": 0.5})
    ans, notes = _answer(llm, "What is the code for the locker?", options, lines)
    assert ans.text == "7319"
    assert ans.evidence[0].text == "PASSCODE7319"
    assert any("backed by the text at [00:29-00:36]" in n for n in notes)
