"""The agent's steps. Each takes the state and the runtime context and returns an update.

plan -> retrieve -> select_clips -> allocate -> answer -> (reflect [-> replan] -> retrieve ...)

Only the nodes live here; their helpers sit by concern: ``plan.py`` (sub-queries),
``clips.py`` (key clips), ``zoom.py`` (zoom boxes and crops), ``evidence.py`` (which lines
the answering model reads), ``verify.py`` (option matching); their numbers are
:class:`~viewfinder.agent.context.AgentOptions` fields.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from ..answer import Answer, Evidence
from ..indexes.fusion import MODALITIES, Hit, fuse, rrf_scores
from .budget import BudgetOptions, allocate
from .clips import choose_clips, strong_match, with_neighbours
from .context import AgentContext
from .evidence import collect_evidence, dedupe, focus, wants_whole, whole_passages, words
from .grounding import backing_passages
from .looks import next_look
from .plan import llm_plan, rule_plan
from .state import Plan, QAState, jsonable
from .verify import verify_options
from .zoom import read_crops, zoom_targets


def _timed(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Record each node's seconds in the trace (and tell the progress callback)."""

    def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def node(state: QAState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
            runtime.context.report(f"agent: {name}", state.step, runtime.context.options.max_steps)
            started = time.perf_counter()
            update = fn(state, runtime.context)
            entry = update.get("trace", [{}])[-1] if update.get("trace") else {}
            entry.setdefault("node", name)
            entry["step"] = state.step
            entry["seconds"] = round(time.perf_counter() - started, 3)
            update["trace"] = [entry]
            return update

        node.__name__ = name
        return node

    return wrap


# --------------------------------------------------------------------------- plan


@_timed("plan")
def plan(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Split the question into what may be said, written and seen, by rules (no model call).

    The first look never asks the LLM to plan: on two cores its plan costs as much as the
    answer (99-111 s of 244-349 s per question on the sample video, busy machine;
    docs/results/latency.md), and the rules (the question, its content words, each option
    with them) already find the passage most questions need. ``replan`` writes an LLM plan
    when a first look was not enough.
    """
    answer_type = "choice" if state.options else "open"
    if not ctx.options.plan:
        queries = {m: [state.question] for m in MODALITIES}
        result = Plan(queries, answer_type, "off")
    else:
        result = rule_plan(state.question, state.options)
    return {"plan": result, "trace": [{"plan": jsonable(result)}]}


@_timed("replan")
def replan(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Looking again at an open question: sub-queries rephrased by the text LLM."""
    result = llm_plan(state, ctx) or state.plan or rule_plan(state.question, state.options)
    return {"plan": result, "trace": [{"plan": jsonable(result)}]}


# --------------------------------------------------------------------------- retrieve


@_timed("retrieve")
def retrieve(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Every sub-query against every available index, fused into candidate spans."""
    assert state.plan is not None
    k = ctx.options.hits_per_query * state.reach
    lists = []
    counts: dict[str, int] = {}
    skipped = {m: why for m, why in ctx.index.available.items() if why != "ok"}
    search = {
        "speech": ctx.index.search_speech,
        "text": ctx.index.search_text,
        "visual": ctx.index.search_visual,
    }
    for modality in MODALITIES:
        if modality in skipped:
            continue
        for query in [*state.plan.queries.get(modality, []), *state.extra_queries]:
            hits = search[modality](query, k)
            counts[modality] = counts.get(modality, 0) + len(hits)
            if hits:
                lists.append(hits)
    direct = _direct_passages(lists, ctx.options.direct_passages * state.reach)
    matches = state.option_matches or verify_options(state, ctx)
    for match in matches:
        if match.evidence is not None:
            e = match.evidence
            lists.append([Hit(e.start, e.end, e.modality, e.text, match.score, 0, "option:match")])
    spans = fuse(lists, gap=ctx.options.fusion_gap)
    # Strong option matches first; the sort is stable, so fused order otherwise.
    spans.sort(key=lambda s: -strong_match(s, ctx.options.strong_option_match))
    spans = spans[: ctx.options.spans_per_clip * ctx.options.clips_per_step * state.reach]
    entry: dict[str, Any] = {"hits": counts, "spans": len(spans), "skipped": skipped}
    if matches:
        entry["option_matches"] = [
            [m.score, round(m.evidence.start, 1) if m.evidence else None] for m in matches
        ]
    entry["direct"] = len(direct)
    return {"spans": spans, "option_matches": matches, "direct": direct, "trace": [entry]}


def _direct_passages(lists: list[list[Hit]], limit: int) -> list[Evidence]:
    """The ``limit`` best speech / screen-text hits over all sub-queries, by fused rank."""
    scored = [(h, s) for h, s in rrf_scores(lists) if h.modality in ("speech", "text")]
    total: dict[tuple[str, float, str], float] = {}
    first: dict[tuple[str, float, str], Hit] = {}
    for hit, score in scored:
        key = (hit.modality, hit.start, hit.text)
        total[key] = total.get(key, 0.0) + score
        first.setdefault(key, hit)
    best = sorted(total, key=lambda k: (-total[k], k[1]))
    hits = [first[k] for k in best if first[k].text.strip()]
    return dedupe(
        [
            Evidence(
                h.start, h.end, h.modality, h.text.strip(), total[(h.modality, h.start, h.text)]
            )
            for h in hits
        ]
    )[:limit]


# --------------------------------------------------------------------------- select clips


@_timed("select_clips")
def select_clips(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Grow the best spans into coherent clips; keep them diverse in time."""
    want = ctx.options.clips_per_step * state.reach
    clips = choose_clips(
        state.spans,
        ctx.index.clips,
        ctx.index.info.duration,
        want,
        ctx.options.min_clip_seconds,
        ctx.options.max_clip_seconds,
    )
    if state.reach > 1:
        clips = with_neighbours(
            clips, ctx.index.clips, want + state.reach, ctx.options.neighbour_score
        )
    return {
        "clips": clips,
        "trace": [
            {
                "clips": [
                    [
                        round(c.start, 1),
                        round(c.end, 1),
                        round(c.score, 4),
                        c.reason,
                        {m: round(v, 4) for m, v in c.modality_scores.items()},
                    ]
                    for c in clips
                ]
            }
        ],
    }


# --------------------------------------------------------------------------- allocate


@_timed("allocate")
def allocate_budget(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Turn the visual-token budget into frames x resolution per clip, plus zoom crops."""
    # Zoom crops are read by OCR at full resolution, seconds per crop on two cores: only a
    # look again pays for them, after the indexed screen text was not enough.
    zoom = zoom_targets(state, ctx) if ctx.options.zoom and state.step > 0 else []
    allocation = allocate(
        state.clips,
        ctx.settings.budget,
        zoom,
        BudgetOptions(frames_not_clips=not ctx.options.clips),
    )
    return {"allocation": allocation, "trace": [{"allocation": jsonable(allocation)}]}


# --------------------------------------------------------------------------- answer


@_timed("answer")
def answer(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Collect the key clips' evidence, read zoom crops, and ask the answering model."""
    from .answering import answer_from_text, passage_key

    zoomed = read_crops(state, ctx)
    matched = [m.evidence for m in state.option_matches if m.evidence is not None]
    candidates = dedupe([*zoomed, *collect_evidence(state, ctx)])
    evidence = focus(candidates, state, ctx.options.max_evidence_lines * state.reach)
    # The options' closest passages and the search's best hits are always shown, whatever
    # else is chosen.
    evidence = dedupe([*matched, *state.direct, *evidence])
    if wants_whole(state.question):
        # A list or a quote asked for in full: each line grown into its whole screen / spoken
        # passage, so no item or sentence is missing (evidence.wants_whole).
        evidence = whole_passages(evidence, ctx.index)
    vlm = ctx.models.get("vlm")
    seen = {tuple(k) for k in state.backing}
    if state.step > 0 and state.options and state.answer is not None and vlm is None:
        # A multiple-choice answer from text changes only if this wider look brought a passage
        # backing some option that the earlier looks had not: that is checked here without
        # the model (grounding needs none), and when there is none the model call, the most
        # expensive part of a look, is skipped and the earlier answer stands.
        fresh = backing_passages(state.question, state.options, evidence)
        if not any(tuple(passage_key(e)) not in seen for e in fresh):
            why = "this look found no backing passage the earlier looks had not: no model call"
            entry = {
                "evidence_lines": len(evidence),
                "zoom_lines": len(zoomed),
                "model_call": False,
                "new_backing": 0,
                "next": "end",
                "why": why,
            }
            return {"found_new": False, "trace": [entry]}
    notes: list[str] = []
    trace: list[dict[str, Any]] = []
    skipped = {m: why for m, why in ctx.index.available.items() if why != "ok"}
    for modality, why in skipped.items():
        notes.append(f"{modality} index unavailable: {why}")
    if vlm is not None and state.allocation is not None and state.allocation.frames:
        result = _answer_with_vlm(vlm, state, ctx, evidence, notes, trace)
    else:
        result = answer_from_text(
            state.question,
            state.options,
            evidence,
            ctx.models,
            notes,
            trace,
            thin="rank",
            option_matches=state.option_matches,
            progress=ctx.progress,
        )
    result.notes = notes
    entry = trace[-1] if trace else {}
    backed = bool(entry.get("backed", False))
    new_backing = [k for k in entry.get("backing", []) if tuple(k) not in seen]
    # A backed answer beats an unbacked one whatever their confidences (answers follow the
    # evidence); between two alike, the more confident is kept.
    keep_old = state.answer is not None and (state.answer_backed, state.answer.confidence) > (
        backed,
        result.confidence,
    )
    best, best_backed = (state.answer, state.answer_backed) if keep_old else (result, backed)
    update: dict[str, Any] = {
        "answer": best,
        "answer_backed": best_backed,
        "evidence": evidence,
        "backing": [*state.backing, *new_backing],
        "found_new": bool(new_backing),
    }
    assert best is not None
    go, why = next_look(dataclasses.replace(state, **update), ctx.options)
    entry.update(
        {
            "evidence_lines": len(evidence),
            "zoom_lines": len(zoomed),
            "answer": result.text,
            "confidence": round(result.confidence, 4),
            "new_backing": len(new_backing),
            "next": go,
            "why": why,
        }
    )
    update["trace"] = [entry]
    return update


def _answer_with_vlm(
    vlm: Any,
    state: QAState,
    ctx: AgentContext,
    evidence: list[Evidence],
    notes: list[str],
    trace: list[dict[str, Any]],
) -> Answer:
    """The VLM sees the allocated frames and crops, compressed to the budget."""
    from .vlm_answer import answer_with_vlm

    return answer_with_vlm(
        vlm,
        ctx.video,
        state.question,
        state.options,
        state.allocation,
        evidence,
        ctx.settings,
        notes,
        trace,
    )


# --------------------------------------------------------------------------- reflect


@_timed("reflect")
def reflect(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Look again, wider: more clips and neighbours, option-led sub-queries, deeper zoom."""
    new_queries = list(state.extra_queries)
    for option in state.options or []:
        if option not in new_queries:
            new_queries.append(option)
    if state.answer is not None and not state.options:
        new_queries.append(" ".join(words(state.question)[:6]))
    return {
        "step": state.step + 1,
        "reach": state.reach + 1,
        "zoom_depth": min(ctx.options.max_zoom_depth, state.zoom_depth + 1),
        "extra_queries": new_queries,
        "trace": [
            {
                "why": next_look(state, ctx.options)[1] if state.answer else "no answer yet",
                "extra_queries": new_queries,
            }
        ],
    }
