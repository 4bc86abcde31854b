"""The ``agent`` strategy: run the graph over a video's indexes and package the Answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..answer import Answer
from ..runtime import Models
from ..settings import Settings
from .context import AgentContext, AgentOptions
from .state import QAState

_GRAPH: Any = None


def graph() -> Any:
    """The compiled graph (built once per process)."""
    global _GRAPH
    if _GRAPH is None:
        from .graph import build_graph

        _GRAPH = build_graph()
    return _GRAPH


def answer_agent(
    video: Path,
    index: Any,
    question: str,
    options: Sequence[str] | None,
    models: Models,
    settings: Settings,
    progress: Callable[[str, float, float], None] | None = None,
) -> Answer:
    """Plan, retrieve key clips, spend the budget, answer, and look again while unsure."""
    ctx = AgentContext(
        video=video,
        index=index,
        models=models,
        settings=settings,
        options=AgentOptions.from_settings(settings),
        progress=progress,
    )
    final = graph().invoke(
        QAState(question=question, options=list(options) if options else None),
        context=ctx,
        config={"recursion_limit": 10 + 6 * ctx.options.max_steps},
    )
    state = QAState(**final) if isinstance(final, dict) else final
    answer = state.answer
    assert answer is not None
    answer.trace = list(state.trace)
    answer.usage.update(_usage(state, settings))
    return answer


def _usage(state: QAState, settings: Settings) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    for entry in state.trace:
        node = entry.get("node")
        if node:
            seconds[node] = round(seconds.get(node, 0.0) + entry.get("seconds", 0.0), 3)
    allocation = state.allocation
    frames = [t for plan in (allocation.frames if allocation else []) for t in plan.times]
    vlm_tokens = next(
        (e["visual_tokens"] for e in reversed(state.trace) if "visual_tokens" in e), 0
    )
    return {
        "strategy": "agent",
        "steps": state.step + 1,
        "budget": settings.budget,
        # Tokens a VLM actually saw (0 when no VLM is installed).
        "visual_tokens": vlm_tokens,
        # Tokens the allocator planned (frames x resolution + crops), always <= budget.
        "visual_tokens_planned": allocation.tokens if allocation else 0,
        "frames": len(frames),
        "resolutions": sorted({p.side for p in allocation.frames}) if allocation else [],
        "crops": len(allocation.crops) if allocation else 0,
        "clips": [[round(c.start, 2), round(c.end, 2)] for c in state.clips],
        "seconds": seconds,
    }
