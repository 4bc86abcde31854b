"""Whether to look again after an answer, and why: the rule both the router and the trace use.

Looking again costs a whole round (retrieval, an LLM plan for open questions, zoom crops and
another answer), so it is spent only where it can change the answer:

- an answer a passage backs (grounding found its words on the question's topic) stops, even
  under the confidence threshold: a low confidence there means several options are backed
  alike, and a wider look finds the same passages again;
- a look that found no backing passage beyond those of the earlier looks stops: the next,
  wider one mostly adds the same moments plus noise, and unbacked answers that took every
  step were both the slowest and the ones that changed a right answer into a wrong one.
  (A multiple-choice look again checks this before its model call, ``nodes.answer``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .context import AgentOptions
    from .state import QAState


def next_look(state: QAState, options: AgentOptions) -> tuple[Literal["reflect", "end"], str]:
    """``("reflect" | "end", why)`` for the state right after an answer."""
    assert state.answer is not None
    confidence = float(state.answer.confidence)
    if not options.reflect:
        return "end", "looking again is switched off"
    if state.step + 1 >= options.max_steps:
        return "end", f"out of steps ({options.max_steps})"
    if confidence >= options.confidence_threshold:
        return "end", f"confidence {confidence:.2f} >= {options.confidence_threshold}"
    if state.answer_backed:
        return "end", f"confidence {confidence:.2f}, but a passage backs the answer"
    if state.step > 0 and not state.found_new:
        return "end", "this look found no backing passage the earlier looks had not"
    return "reflect", (
        f"confidence {confidence:.2f} < {options.confidence_threshold} and no passage backs "
        "the answer"
    )
