"""Options as frozen dataclasses.

Precedence is explicit argument > ``VIEWFINDER_*`` environment variable > default:
``Settings.from_env(llm="qwen2.5-1.5b")`` keeps the explicit ``llm`` even when
``VIEWFINDER_LLM`` is set.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ViewfinderError

ENV_PREFIX = "VIEWFINDER_"


@dataclass(frozen=True)
class Settings:
    """Everything that changes what viewfinder computes."""

    # "agent" retrieves key clips and looks again when unsure; "retrieve" searches every
    # index once and answers from the top passages (the retrieval baseline); "uniform"
    # samples the whole video evenly (the baseline every strategy must beat at the same budget).
    strategy: str = "agent"
    # Visual-token budget for the answering model (frames x tokens per frame).
    budget: int = 1024
    # Frames sampled evenly over the video by the uniform strategy (for OCR / VLM).
    frames: int = 32
    # Longest side, in pixels, of frames decoded for on-screen text reading.
    ocr_max_side: int = 1280
    # Model registry names (see `viewfinder models`); None disables a role.
    asr: str | None = "whisper-base"
    ocr: str | None = "rapidocr"
    # 1.5B: at a 12-line prompt it put 0.75 on the right option where 0.5B put 0.39.
    llm: str | None = "qwen2.5-1.5b"
    text_embedding: str | None = "minilm"
    clip: str | None = "ViT-B-32/laion2b_s34b_b79k"
    # None = use a VLM only if one is installed; never a random-weight model.
    vlm: str | None = None
    # Visual-token compressor between the VLM's encoder and its language model:
    # "pool", "diversity", "attention" or "temporal".
    compressor: str = "diversity"
    # Spoken language for ASR (None = detect).
    language: str | None = None
    # CPU threads per model; 2 matches this project's reference machine.
    threads: int = 2
    # Where indexes and assembled weights live; None = $XDG_CACHE_HOME/viewfinder.
    cache_dir: Path | None = None
    # Video decoding backend ("pyav", "torchcodec", "decord"); None = fastest installed.
    video_backend: str | None = None
    # Upper bound on agent look-again steps.
    max_steps: int = 3
    # Agent ablation switches: "no-plan", "no-reflect", "frames-not-clips", "no-zoom",
    # "no-verify".
    flags: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from explicit ``overrides``, then ``VIEWFINDER_*`` variables."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides.pop(f.name)
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(f.name, f.type, raw)
        if overrides:
            raise TypeError(
                f"Unknown settings: {sorted(overrides)}; valid: {[f.name for f in fields(cls)]}"
            )
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @property
    def cache_root(self) -> Path:
        """The cache directory actually used."""
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()


def default_cache_dir() -> Path:
    """``$VIEWFINDER_CACHE``, else ``$XDG_CACHE_HOME/viewfinder``, else ``~/.cache/viewfinder``."""
    if os.environ.get("VIEWFINDER_CACHE"):
        return Path(os.environ["VIEWFINDER_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "viewfinder"


def _parse(name: str, type_: Any, raw: str) -> Any:
    type_s = str(type_)
    try:
        if raw.lower() in ("", "none", "off") and "None" in type_s:
            return None
        if type_s.startswith("int"):
            return int(raw)
        if "Path" in type_s:
            return Path(raw).expanduser()
        if "tuple" in type_s:
            return tuple(x for x in raw.split(",") if x)
        return raw
    except ValueError as e:
        raise ViewfinderError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {type_s}; "
            "fix or unset the variable."
        ) from e
