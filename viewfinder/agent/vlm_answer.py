"""Answer with a VLM from the allocated frames and zoom crops, compressed to the budget."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..answer import Answer, Evidence
from ..settings import Settings
from .evidence import attribute
from .state import Allocation


def answer_with_vlm(
    vlm: Any,
    video: Path,
    question: str,
    options: Sequence[str] | None,
    allocation: Allocation,
    evidence: list[Evidence],
    settings: Settings,
    notes: list[str],
    trace: list[dict[str, Any]],
) -> Answer:
    """Decode each clip's frames at its allocated size, add crops, ask ``vlm`` within budget."""
    from ..tools.video import open_video
    from ..tools.vlm import VisualClip
    from .zoom import read_crop

    clips = []
    with open_video(video, settings.video_backend) as reader:
        for plan in allocation.frames:
            frames = reader.frames_at(plan.times, max_side=plan.side)
            clips.append(VisualClip(frames=frames, timestamps=plan.times))
        for crop in allocation.crops:
            region = read_crop(reader, crop.time, crop.box, min_side=16)
            clips.append(VisualClip(frames=[_fit(region, crop.side)], timestamps=[crop.time]))
    result = vlm.answer(clips, question, options, evidence=evidence, budget=allocation.tokens)
    trace.append(
        {
            "step": "answer",
            "mode": "vlm",
            "visual_tokens": result.visual_tokens,
            "visual_tokens_before": result.visual_tokens_before,
            "compressor": result.compressor,
            "probabilities": result.probabilities,
            "vlm_seconds": result.seconds,
        }
    )
    confidence = max(result.probabilities.values()) if result.probabilities else 0.5
    return Answer(
        text=result.text,
        choice=result.choice,
        confidence=float(confidence),
        evidence=attribute(evidence, question, result.text),
        usage={"text_tokens": result.prompt_tokens - result.visual_tokens},
    )


def _fit(image: Any, side: int) -> Any:
    """Resize a crop so its longest side is ``side`` (crops are read at full resolution)."""
    import numpy as np
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
