"""The agent's steps. Each takes the state and the runtime context and returns an update.

plan -> retrieve -> select_clips -> allocate -> answer -> (reflect -> retrieve ...) -> end
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from .. import prompts
from ..answer import Answer, Evidence
from ..indexes.fusion import Hit, Span, fuse
from .budget import BudgetOptions, ZoomTarget, allocate
from .context import AgentContext
from .evidence import attribute, words
from .state import KeyClip, Plan, QAState, jsonable
from .verify import OptionMatch, match_options

logger = logging.getLogger(__name__)

MODALITIES = ("speech", "text", "visual")
# Seconds of context kept around a key clip when collecting its speech and screen text.
EVIDENCE_MARGIN = 2.0
# A passage matching an option's wording at least this closely leads clip selection, ahead of
# spans many sub-queries agree on: those share the question's words, it holds the option's.
STRONG_OPTION_MATCH = 0.8


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
    """Split the question into what may be said, written and seen."""
    answer_type = "choice" if state.options else "open"
    if not ctx.options.plan:
        queries = {m: [state.question] for m in MODALITIES}
        result = Plan(queries, answer_type, "off")
    elif state.options:
        # The options already are the queries: an LLM plan costs as much as the answer to
        # rephrase them (99-111 s of 244-349 s per question on the sample video, busy machine;
        # docs/results/latency.md).
        result = rule_plan(state.question, state.options)
    else:
        result = _llm_plan(state, ctx) or rule_plan(state.question, state.options)
    return {"plan": result, "trace": [{"plan": jsonable(result)}]}


def rule_plan(question: str, options: list[str] | None) -> Plan:
    """Deterministic sub-queries: the question's content words, then each option with them."""
    core = " ".join(words(question)) or question
    queries = [question, core]
    for option in options or []:
        queries.append(f"{core} {option}")
    unique = list(dict.fromkeys(q for q in queries if q.strip()))
    return Plan({m: list(unique) for m in MODALITIES}, "choice" if options else "open", "rules")


_PLAN_LINE = re.compile(r"^\s*(said|written|seen)\s*:\s*(.+)$", re.IGNORECASE)
_PLAN_KEYS = {"said": "speech", "written": "text", "seen": "visual"}


def _llm_plan(state: QAState, ctx: AgentContext) -> Plan | None:
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
        max_tokens=60,
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


# --------------------------------------------------------------------------- retrieve


@_timed("retrieve")
def retrieve(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Every sub-query against every available index, fused into candidate spans."""
    assert state.plan is not None
    k = 6 * state.reach
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
    matches = state.option_matches or verify_options(state, ctx)
    for match in matches:
        if match.evidence is not None:
            e = match.evidence
            lists.append([Hit(e.start, e.end, e.modality, e.text, match.score, 0, "option:match")])
    spans = fuse(lists, gap=1.0)
    spans.sort(key=lambda s: -_strong_match(s))  # stable: fused order otherwise
    spans = spans[: 4 * ctx.options.clips_per_step * state.reach]
    entry: dict[str, Any] = {"hits": counts, "spans": len(spans), "skipped": skipped}
    if matches:
        entry["option_matches"] = [
            [m.score, round(m.evidence.start, 1) if m.evidence else None] for m in matches
        ]
    return {"spans": spans, "option_matches": matches, "trace": [entry]}


def _strong_match(span: Span) -> float:
    """The best option-match score inside ``span`` if it is strong, else 0."""
    scores = [h.score for h in span.hits if h.source == "option:match"]
    best = max(scores, default=0.0)
    return best if best >= STRONG_OPTION_MATCH else 0.0


def verify_options(state: QAState, ctx: AgentContext) -> list[OptionMatch]:
    """Each option's closest passage in the transcript and screen text ([] when off)."""
    if not state.options or not ctx.options.verify:
        return []
    return match_options(state.options, ctx.index.speech_segments, ctx.index.text_spans)


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
        clips = _with_neighbours(clips, ctx.index.clips, want + state.reach)
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


def choose_clips(
    spans: list[Span],
    shots: list[Any],
    duration: float,
    want: int,
    min_seconds: float,
    max_seconds: float,
) -> list[KeyClip]:
    """Relevance x coverage x diversity: best spans first, grown to a shot, no overlaps."""
    chosen: list[KeyClip] = []
    for span in spans:
        peak = span.hits[0].start if span.hits else span.center
        start, end = _grow(span, shots, duration, min_seconds, max_seconds)
        if any(
            _overlap(start, end, c.start, c.end) > 0.5 * min(end - start, c.end - c.start)
            for c in chosen
        ):
            continue
        chosen.append(KeyClip(start, end, span.score, peak, dict(span.modality_scores)))
        if len(chosen) >= want:
            break
    return chosen


def _grow(
    span: Span, shots: list[Any], duration: float, min_s: float, max_s: float
) -> tuple[float, float]:
    """The shot containing the span when it is short enough, else a window around it."""
    centre = span.center
    for shot in shots:
        if shot.start <= centre <= shot.end and shot.end - shot.start <= max_s:
            start, end = min(shot.start, span.start), max(shot.end, span.end)
            break
    else:
        start, end = span.start, span.end
    if end - start < min_s:
        pad = (min_s - (end - start)) / 2
        start, end = start - pad, end + pad
    if end - start > max_s:
        start, end = centre - max_s / 2, centre + max_s / 2
    start, end = max(0.0, start), min(duration, end)
    return round(start, 3), round(max(end, start + 0.04), 3)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _with_neighbours(clips: list[KeyClip], shots: list[Any], limit: int) -> list[KeyClip]:
    """Add the shots just before and after the best clips (the answer may sit next door)."""
    out = list(clips)
    for clip in clips[:2]:
        for shot in shots:
            before = abs(shot.end - clip.start) < 0.5
            after = abs(shot.start - clip.end) < 0.5
            if (before or after) and not any(
                _overlap(shot.start, shot.end, c.start, c.end) > 0 for c in out
            ):
                out.append(
                    KeyClip(
                        shot.start,
                        shot.end,
                        clip.score * 0.5,
                        (shot.start + shot.end) / 2,
                        {},
                        f"neighbour of {clip.start:.0f}-{clip.end:.0f}s",
                    )
                )
    return out[:limit]


# --------------------------------------------------------------------------- allocate


@_timed("allocate")
def allocate_budget(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Turn the visual-token budget into frames x resolution per clip, plus zoom crops."""
    zoom = zoom_targets(state, ctx) if ctx.options.zoom else []
    allocation = allocate(
        state.clips,
        ctx.settings.budget,
        zoom,
        BudgetOptions(frames_not_clips=not ctx.options.clips),
    )
    return {"allocation": allocation, "trace": [{"allocation": jsonable(allocation)}]}


def zoom_targets(state: QAState, ctx: AgentContext) -> list[ZoomTarget]:
    """Regions inside key clips worth a full-resolution look: the boxes of matching text."""
    info = ctx.index.info
    query_words = set(words(state.question + " " + " ".join(state.options or [])))
    targets = []
    for rank, clip in enumerate(state.clips):
        for span in ctx.index.text_spans:
            if span.end < clip.start or span.start > clip.end:
                continue
            overlap = len(query_words & set(words(span.text)))
            # First look: text in the best two clips, or text that shares the question's words.
            if overlap == 0 and rank >= 2 * state.zoom_depth:
                continue
            x0, y0, x1, y1 = span.box
            # Widen the box: the line's neighbours often hold the answer (a prompt's output).
            pad_x, pad_y = 0.15 * state.zoom_depth * (x1 - x0), 1.5 * state.zoom_depth * (y1 - y0)
            box = (
                max(0.0, (x0 - pad_x) / info.width),
                max(0.0, (y0 - pad_y) / info.height),
                min(1.0, (x1 + pad_x) / info.width),
                min(1.0, (y1 + pad_y) / info.height),
            )
            # The last moment the line is visible: typed text is complete by then.
            t = max(min(span.end - 0.1, clip.end), clip.start, span.start)
            targets.append(
                ZoomTarget(t, box, f"text: {span.text[:40]}", (overlap + 0.5) / (1 + rank))
            )
    return targets


# --------------------------------------------------------------------------- answer


@_timed("answer")
def answer(state: QAState, ctx: AgentContext) -> dict[str, Any]:
    """Collect the key clips' evidence, read zoom crops, and ask the answering model."""
    from .answering import answer_from_text

    zoomed = read_crops(state, ctx)
    matched = [m.evidence for m in state.option_matches if m.evidence is not None]
    candidates = _dedupe([*zoomed, *collect_evidence(state, ctx)])
    evidence = focus(candidates, state, ctx.options.max_evidence_lines * state.reach)
    # The options' closest passages are always shown, whatever else is chosen.
    evidence = _dedupe([*matched, *evidence])
    notes: list[str] = []
    trace: list[dict[str, Any]] = []
    skipped = {m: why for m, why in ctx.index.available.items() if why != "ok"}
    for modality, why in skipped.items():
        notes.append(f"{modality} index unavailable: {why}")
    vlm = ctx.models.get("vlm")
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
    best = (
        state.answer
        if (state.answer is not None and state.answer.confidence > result.confidence)
        else result
    )
    entry = trace[-1] if trace else {}
    entry.update(
        {
            "evidence_lines": len(evidence),
            "zoom_lines": len(zoomed),
            "answer": result.text,
            "confidence": round(result.confidence, 4),
        }
    )
    return {"answer": best, "evidence": evidence, "trace": [entry]}


def collect_evidence(state: QAState, ctx: AgentContext) -> list[Evidence]:
    """Speech and screen text inside the key clips, best clip first, then by time."""
    out: list[Evidence] = []
    for clip in state.clips:
        lo, hi = clip.start - EVIDENCE_MARGIN, clip.end + EVIDENCE_MARGIN
        inside = [
            Evidence(s.start, s.end, "speech", s.text.strip(), clip.score)
            for s in ctx.index.speech_segments
            if s.end >= lo and s.start <= hi
        ]
        inside += [
            Evidence(s.start, s.end, "text", s.text.strip(), clip.score)
            for s in ctx.index.text_spans
            if s.end >= lo and s.start <= hi
        ]
        out.extend(sorted(inside, key=lambda e: e.start))
    return [e for e in out if e.text]


def focus(candidates: list[Evidence], state: QAState, limit: int) -> list[Evidence]:
    """The ``limit`` lines most worth reading, in time order.

    A line ranks by the relevance of its clip plus how many rare words it shares with the
    question and the options: small answering models pick the right option from a dozen
    focused lines far more often than from forty lines of a whole clip.
    """
    if len(candidates) <= limit:
        return sorted(candidates, key=lambda e: e.start)
    query = [state.question, *(state.options or []), *state.extra_queries]
    scored = attribute(
        candidates, " ".join(query), " ".join(state.options or []), k=len(candidates), min_ratio=0.0
    )
    lexical = {(e.start, e.modality, e.text): e.score for e in scored}
    best_clip = max((e.score for e in candidates), default=1.0) or 1.0
    ranked = sorted(
        candidates,
        key=lambda e: (
            -(lexical.get((e.start, e.modality, e.text), 0.0) + 0.5 * e.score / best_clip)
        ),
    )
    return sorted(ranked[:limit], key=lambda e: e.start)


def read_crops(state: QAState, ctx: AgentContext) -> list[Evidence]:
    """Read the zoom crops at full resolution (small text a whole-frame pass misses)."""
    allocation = state.allocation
    ocr = ctx.models.get("ocr") if allocation and allocation.crops else None
    if ocr is None or allocation is None:
        return []
    from ..tools.video import open_video
    from .uniform import screen_lines
    from .zoom import read_crop

    found: list[Evidence] = []
    with open_video(ctx.video, ctx.settings.video_backend) as reader:
        for crop in allocation.crops:
            region = read_crop(reader, crop.time, crop.box, min_side=8)
            for line in screen_lines(ocr.read(region)):
                found.append(Evidence(crop.time, crop.time, "text", line, 1.0))
    return found


def _dedupe(items: list[Evidence]) -> list[Evidence]:
    seen: set[tuple[str, int, str]] = set()
    out = []
    for e in items:
        key = (e.modality, int(e.start), " ".join(words(e.text)) or e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


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
        "zoom_depth": min(2, state.zoom_depth + 1),
        "extra_queries": new_queries,
        "trace": [
            {
                "why": f"confidence {state.answer.confidence if state.answer else 0:.2f}"
                f" < {ctx.options.confidence_threshold}",
                "extra_queries": new_queries,
            }
        ],
    }
