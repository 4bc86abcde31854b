"""``load_vlm``: a registry name or a local directory to a loaded :class:`VisionLanguageModel`
on the first installed backend."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from ...errors import MissingDependencyError, UnknownCompressorError
from ...models import resolve
from ..compress import COMPRESSORS
from .backend import TransformersVLM
from .base import VisionLanguageModel

logger = logging.getLogger(__name__)


def _transformers_backend() -> type[VisionLanguageModel] | None:
    ok = all(importlib.util.find_spec(m) is not None for m in ("transformers", "torch"))
    return TransformersVLM if ok else None


AVAILABLE_BACKENDS: dict[str, type[VisionLanguageModel]] = {
    b.BACKEND_NAME: b for b in filter(None, [_transformers_backend()])
}


def load_vlm(
    name_or_path: str,
    compressor: str = "diversity",
    budget: int = 1024,
    threads: int = 2,
    cache_dir: Path | None = None,
    split_images: bool = False,
    device: str = "auto",
) -> VisionLanguageModel:
    """Load a VLM by registry name (e.g. ``HuggingFaceTB/SmolVLM2-2.2B-Instruct``) or local dir.

    Args:
        name_or_path: a ``vlm`` registry name (resolved in the local Hugging Face cache,
            never downloaded) or a path to a transformers model directory.
        compressor: visual-token compressor, one of :data:`~viewfinder.tools.compress.COMPRESSORS`.
        budget: default number of visual tokens the language model sees per answer.
        threads: CPU threads for torch.
        cache_dir: viewfinder cache root (None: the default).
        split_images: SmolVLM / Idefics3 only: split frames into tiles as the checkpoint's
            image processor does for still images (13x the tokens of a 360p frame), instead
            of one view per frame as its video path does.
        device: ``"auto"`` (a CUDA GPU in bfloat16/float16 if there is one, else the CPU in
            float32), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        DeviceError: ``device`` is not a device name or does not exist here.
        UnknownCompressorError: unknown ``compressor`` (the message lists the valid names).
        UnknownModelError / ModelNotInstalledError: the name is not registered / not on disk.
        MissingDependencyError: transformers or torch is not installed.
    """
    if compressor not in COMPRESSORS:
        raise UnknownCompressorError(
            f"Unknown visual-token compressor {compressor!r}; valid names are {list(COMPRESSORS)}."
        )
    if not AVAILABLE_BACKENDS:
        raise MissingDependencyError("transformers", "vlm", "Answering from frames with a VLM")
    resolved = resolve("vlm", name_or_path, cache_dir)
    backend = AVAILABLE_BACKENDS["transformers"]
    logger.info(
        "Loading VLM %s from %s (compressor=%s, budget=%d)",
        name_or_path,
        resolved.path,
        compressor,
        budget,
    )
    return backend(
        resolved.path,
        compressor=compressor,
        budget=budget,
        threads=threads,
        split_images=split_images,
        device=device,
    )
