"""Planning: the sub-queries each index is searched with (by rules, or written by the text LLM)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from .. import prompts
from ..indexes.fusion import MODALITIES
from .evidence import words
from .state import Plan

if TYPE_CHECKING:
    from .context import AgentContext
    from .state import QAState

logger = logging.getLogger(__name__)

_PLAN_LINE = re.compile(r"^\s*(said|written|seen)\s*:\s*(.+)$", re.IGNORECASE)
_PLAN_KEYS = {"said": "speech", "written": "text", "seen": "visual"}


def rule_plan(question: str, options: list[str] | None) -> Plan:
    """Deterministic sub-queries: the question's content words, then each option with them."""
    core = " ".join(words(question)) or question
    queries = [question, core]
    for option in options or []:
        queries.append(f"{core} {option}")
    unique = list(dict.fromkeys(q for q in queries if q.strip()))
    return Plan({m: list(unique) for m in MODALITIES}, "choice" if options else "open", "rules")


def llm_plan(state: QAState, ctx: AgentContext) -> Plan | None:
    """Sub-queries written by the text LLM; None (use the rules) when it gives nothing usable."""
    llm = ctx.models.get("llm")
    if llm is None:
        return None
    user = prompts.render("agent", "plan", question=state.question, options=state.options or [])
    # Starting the reply with "said:" keeps small models in the three-line format.
    from .answering import model_progress

    gen = llm.generate(
        prompts.render("agent", "plan_system"),
        user,
        max_tokens=ctx.options.plan_max_tokens,
        assistant_prefix="said:",
        **model_progress(llm.generate, ctx.progress, "plan model"),
    )
    found: dict[str, list[str]] = {}
    for line in ("said:" + gen.text).splitlines():
        match = _PLAN_LINE.match(line.replace("*", ""))
        if match and match.group(2).strip().lower() not in ("none", "n/a", "-"):
            found.setdefault(_PLAN_KEYS[match.group(1).lower()], []).append(match.group(2).strip())
    if not found:
        logger.info("LLM plan unusable (%r); using rule-based sub-queries", gen.text[:80])
        return None
    base = rule_plan(state.question, state.options)
    # The model's phrasing comes first; the rule queries keep recall when it is off target.
    queries = {m: list(dict.fromkeys([*found.get(m, []), *base.queries[m]])) for m in MODALITIES}
    return Plan(queries, base.answer_type, "llm")
