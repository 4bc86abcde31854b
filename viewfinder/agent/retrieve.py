"""The ``retrieve`` strategy: one search over every index, then one answer (Video-RAG in a pass).

The question and its options, joined into one query, are searched once in the speech, screen
text and frame indexes; the best fused passages go to the answering model. There is no plan,
no per-option lookup and no second look: it is the retrieval baseline the agent's extra steps
have to beat, at a fraction of their cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..answer import Answer, Evidence
from ..runtime import Models
from ..settings import Settings
from .answering import answer_from_text
from .evidence import wants_whole, whole_passages

Progress = Callable[[str, float, float], None]
STAGE = "retrieve"


@dataclass(frozen=True)
class RetrieveOptions:
    """How much one search hands to the answering model."""

    # Speech and screen-text passages shown (the agent's first look shows 12 lines too).
    passages: int = 12
    # Frame hits whose times a VLM sees (ignored without a VLM).
    frames: int = 8


def retrieval_query(question: str, options: Sequence[str] | None) -> str:
    """The one query: the question followed by every option's words."""
    return " ".join([question, *(options or [])])


def answer_retrieve(
    video: Path,
    index: Any,
    question: str,
    options: Sequence[str] | None,
    models: Models,
    settings: Settings,
    progress: Progress | None = None,
    retrieve_options: RetrieveOptions | None = None,
) -> Answer:
    """Search ``index`` once with the question (and options) and answer from the top passages.

    Args:
        video: The video file (frames are decoded from it when a VLM answers).
        index: Its ``indexes.build.IndexHandle``.
        question: The question.
        options: Answer options, or None for an open question.
        models: Loaded models (the text LLM, or a VLM when installed).
        settings: Budget, video backend.
        progress: ``progress(stage, done, total)``: searching is step 1 of 2, answering 2.
        retrieve_options: Passage and frame counts.
    """
    opts = retrieve_options or RetrieveOptions()
    notes: list[str] = []
    trace: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    if progress:
        progress(STAGE, 0, 2)
    started = time.perf_counter()
    query = retrieval_query(question, options)
    skipped = {m: why for m, why in index.available.items() if why != "ok"}
    for modality, why in skipped.items():
        notes.append(f"{modality} index unavailable: {why}")
    hits = index.search(query, k=opts.passages, modalities=("speech", "text"))
    evidence = [Evidence(h.start, h.end, h.modality, h.text.strip(), h.score) for h in hits]
    evidence = [e for e in evidence if e.text]
    if wants_whole(question):
        # A list or a quote asked for in full: whole screens and spoken passages, as the
        # agent shows them (evidence.wants_whole), so the answer can name every item.
        evidence = whole_passages(evidence, index)
    vlm = models.get("vlm")
    frame_times: list[float] = []
    if vlm is not None and "visual" not in skipped:
        frame_hits = index.search_visual(query, opts.frames)
        frame_times = sorted({round((h.start + h.end) / 2, 3) for h in frame_hits})
    seconds["retrieve"] = time.perf_counter() - started
    trace.append(
        {
            "step": "retrieve",
            "query": query,
            "passages": len(evidence),
            "frames": len(frame_times),
            "skipped": skipped,
        }
    )
    if progress:
        progress(STAGE, 1, 2)
    started = time.perf_counter()
    visual_tokens = 0
    if frame_times:
        from .budget import uniform_allocation
        from .vlm_answer import answer_with_vlm

        allocation = uniform_allocation(frame_times, settings.budget)
        answer = answer_with_vlm(
            vlm, video, question, options, allocation, evidence, settings, notes, trace
        )
        visual_tokens = int(trace[-1].get("visual_tokens", 0))
    else:
        answer = answer_from_text(
            question, options, evidence, models, notes, trace, thin="rank", progress=progress
        )
    seconds["answer"] = time.perf_counter() - started
    if progress:
        progress(STAGE, 2, 2)
    answer.notes = notes + [n for n in answer.notes if n not in notes]
    answer.trace = trace
    answer.usage.update(
        {
            "strategy": "retrieve",
            "passages": len(evidence),
            "frames": len(frame_times),
            "visual_tokens": visual_tokens,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }
    )
    return answer
