"""The agent as a LangGraph state graph; it reads as the diagram in docs/architecture.md.

plan (rules) -> retrieve -> select_clips -> allocate -> answer --(backed, confident, nothing
                  ^                                        |       new, or out of steps)--> END
                  +---- [replan (LLM, open questions)] <-- reflect <--(unsure, unbacked)--+
"""

from __future__ import annotations

import math
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from .context import AgentContext
from .looks import next_look
from .nodes import allocate_budget, answer, plan, reflect, replan, retrieve, select_clips
from .state import QAState


def should_look_again(state: QAState, runtime: Runtime[AgentContext]) -> Literal["reflect", "end"]:
    """Router after ``answer``: look again only when it can help (agent/looks.py says when).

    Raises:
        ValueError: The answer node left no answer, or one without a usable confidence.
    """
    if state.answer is None:
        raise ValueError("answer node produced no answer")
    try:
        confidence = float(state.answer.confidence)
    except (TypeError, ValueError) as e:
        raise ValueError(f"answer confidence {state.answer.confidence!r} is not a number") from e
    if math.isnan(confidence):
        raise ValueError("answer node produced a NaN confidence")
    return next_look(state, runtime.context.options)[0]


def should_replan(state: QAState, runtime: Runtime[AgentContext]) -> Literal["replan", "retrieve"]:
    """Router after ``reflect``: an open question gets an LLM plan once, on its first look again.

    Multiple choice never does (its options already are the queries), nor does a run with
    planning switched off, nor a plan the LLM already wrote.

    Raises:
        ValueError: Reflection ran before any plan was made.
    """
    if state.plan is None:
        raise ValueError("reflect reached before plan: no sub-queries to widen")
    options = runtime.context.options
    if options.plan and not state.options and state.plan.source == "rules":
        return "replan"
    return "retrieve"


def build_graph() -> Any:
    """Compile the agent graph (invoke with ``context=AgentContext(...)``)."""
    builder = StateGraph(QAState, context_schema=AgentContext)
    builder.add_node("plan", plan)
    builder.add_node("retrieve", retrieve)
    builder.add_node("select_clips", select_clips)
    builder.add_node("allocate", allocate_budget)
    builder.add_node("answer", answer)
    builder.add_node("reflect", reflect)
    builder.add_node("replan", replan)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "retrieve")
    builder.add_edge("retrieve", "select_clips")
    builder.add_edge("select_clips", "allocate")
    builder.add_edge("allocate", "answer")
    builder.add_conditional_edges("answer", should_look_again, {"reflect": "reflect", "end": END})
    builder.add_conditional_edges(
        "reflect", should_replan, {"replan": "replan", "retrieve": "retrieve"}
    )
    builder.add_edge("replan", "retrieve")
    return builder.compile(name="viewfinder-agent")
