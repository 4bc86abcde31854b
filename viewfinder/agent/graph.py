"""The agent as a LangGraph state graph; it reads as the diagram in docs/architecture.md.

plan -> retrieve -> select_clips -> allocate -> answer --(confident or out of steps)--> END
            ^                                     |
            +-------------- reflect <--(unsure)---+
"""

from __future__ import annotations

import math
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from .context import AgentContext
from .nodes import allocate_budget, answer, plan, reflect, retrieve, select_clips
from .state import QAState


def should_look_again(state: QAState, runtime: Runtime[AgentContext]) -> Literal["reflect", "end"]:
    """Router after ``answer``: look again while unsure and steps remain, else end.

    Raises:
        ValueError: The answer node left no answer, or one without a usable confidence.
    """
    options = runtime.context.options
    if state.answer is None:
        raise ValueError("answer node produced no answer")
    try:
        confidence = float(state.answer.confidence)
    except (TypeError, ValueError) as e:
        raise ValueError(f"answer confidence {state.answer.confidence!r} is not a number") from e
    if math.isnan(confidence):
        raise ValueError("answer node produced a NaN confidence")
    if not options.reflect or state.step + 1 >= options.max_steps:
        return "end"
    return "reflect" if confidence < options.confidence_threshold else "end"



def build_graph() -> Any:
    """Compile the agent graph (invoke with ``context=AgentContext(...)``)."""
    builder = StateGraph(QAState, context_schema=AgentContext)
    builder.add_node("plan", plan)
    builder.add_node("retrieve", retrieve)
    builder.add_node("select_clips", select_clips)
    builder.add_node("allocate", allocate_budget)
    builder.add_node("answer", answer)
    builder.add_node("reflect", reflect)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "retrieve")
    builder.add_edge("retrieve", "select_clips")
    builder.add_edge("select_clips", "allocate")
    builder.add_edge("allocate", "answer")
    builder.add_conditional_edges("answer", should_look_again, {"reflect": "reflect", "end": END})
    builder.add_edge("reflect", "retrieve")
    return builder.compile(name="viewfinder-agent")
