"""Prompt text: the question, its options and the timestamped evidence, rendered by the
checkpoint's own chat template around the family's message content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...answer import Evidence
from ...errors import InvalidQuestionError
from ...text import LETTERS, stamp
from .base import VisualClip
from .family import Family


def format_evidence(evidence: Sequence[Evidence]) -> str:
    if not evidence:
        return ""
    lines = [
        f"[{stamp(e.start, e.end)}] {e.modality}: {e.text.strip()}"
        for e in sorted(evidence, key=lambda e: e.start)
    ]
    return "Speech and on-screen text from the video:\n" + "\n".join(lines) + "\n"


def format_question(question: str, options: Sequence[str] | None) -> str:
    if not question.strip():
        raise InvalidQuestionError("The question is empty; pass the question in words.")
    if options is None:
        return f"Question: {question.strip()}\nAnswer the question briefly.\n"
    if not 2 <= len(options) <= len(LETTERS):
        raise InvalidQuestionError(
            f"{len(options)} options given; multiple choice needs 2 to {len(LETTERS)} options."
        )
    listed = "\n".join(f"({LETTERS[i]}) {o.strip()}" for i, o in enumerate(options))
    return (
        f"Question: {question.strip()}\nOptions:\n{listed}\n"
        "Answer with the option's letter from the given choices directly.\n"
    )


def render_prompt(
    family: Family,
    clips: Sequence[VisualClip],
    question_text: str,
    options: Sequence[str] | None,
    evidence: Sequence[Evidence] = (),
) -> str:
    """The chat-template text of a question (visual placeholders not yet expanded)."""
    text = format_evidence(evidence) + question_text
    messages: list[dict[str, Any]] = [{"role": "user", "content": family.content(clips, text)}]
    rendered = family.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    return rendered + (family.answer_prefix if options is not None else "")
