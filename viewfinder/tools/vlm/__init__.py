"""Answer from frames with a vision-language model whose visual tokens are compressed to a budget.

``load_vlm(name_or_path)`` resolves a registry name (see ``viewfinder models``) or a local
model directory, loads it with the first installed backend and returns a
:class:`VisionLanguageModel`. Its :meth:`~VisionLanguageModel.answer` runs

    frames --vision encoder + projector--> tokens --compressor--> ``budget`` tokens --LM--> answer

Multiple-choice questions are answered by option likelihood (the next-token logits of the
option letters after ``Best Option: (``, normalised over the given letters); open questions by
greedy generation. Speech and screen-text evidence enters the prompt with its timestamps.

Supported transformers families: SmolVLM / SmolVLM2 / Idefics3 (pixel-shuffle connector),
Qwen2-VL / Qwen2.5-VL (M-RoPE positions rebuilt for the kept tokens), LLaVA-OneVision (frames
as a video, one newline token per clip). Nothing here ever falls back to random weights.

The package: :mod:`.base` (what goes in and out), :mod:`.prompt` (prompt text), :mod:`.family`
(what a family adapter provides), one module per family (:mod:`.smolvlm`, :mod:`.qwen_vl`,
:mod:`.llava_onevision`) registered in :mod:`.families`, :mod:`.attention` (the attention
probe), :mod:`.backend` (the transformers backend) and :mod:`.loader` (``load_vlm``).
"""

from .backend import TransformersVLM as TransformersVLM
from .base import VisionLanguageModel as VisionLanguageModel
from .base import VisualClip as VisualClip
from .base import VLMAnswer as VLMAnswer
from .families import FAMILIES as FAMILIES
from .families import SUPPORTED_MODEL_TYPES as SUPPORTED_MODEL_TYPES
from .family import EncodedFrames as EncodedFrames
from .loader import AVAILABLE_BACKENDS as AVAILABLE_BACKENDS
from .loader import load_vlm as load_vlm

__all__ = [
    "AVAILABLE_BACKENDS",
    "FAMILIES",
    "SUPPORTED_MODEL_TYPES",
    "EncodedFrames",
    "TransformersVLM",
    "VLMAnswer",
    "VisionLanguageModel",
    "VisualClip",
    "load_vlm",
]
