"""The registry of supported model families: which adapter serves which ``model_type``."""

from __future__ import annotations

from .family import Family
from .llava_onevision import LlavaOnevisionFamily
from .qwen_vl import QwenFamily
from .smolvlm import PixelShuffleFamily

# In the order a checkpoint's ``model_type`` is matched against them.
FAMILIES: tuple[type[Family], ...] = (PixelShuffleFamily, QwenFamily, LlavaOnevisionFamily)
SUPPORTED_MODEL_TYPES = tuple(t for f in FAMILIES for t in f.model_types)
