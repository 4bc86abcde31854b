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

from .errors import CacheNotWritableError, SettingsError, ViewfinderError

ENV_PREFIX = "VIEWFINDER_"
# Settings that must be whole numbers of at least this much: (least value, what it counts).
# Checked when Settings is built, so a bad flag fails before any video is read or model loaded.
MINIMUMS = {
    "budget": (1, "visual tokens"),
    "frames": (1, "frames"),
    "ocr_max_side": (32, "pixels"),
    "threads": (1, "CPU threads"),
    "max_steps": (1, "agent looks"),
}
# Settings field -> model registry role (see `viewfinder models`).
MODEL_ROLES = {
    "asr": "asr",
    "ocr": "ocr",
    "llm": "llm",
    "text_embedding": "text-embedding",
    "clip": "clip",
    "vlm": "vlm",
}


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
    # The int8 ONNX MiniLM runs without torch and retrieves as the torch one does
    # (bench/text_embed_bench.py); "minilm" is the sentence-transformers original.
    text_embedding: str | None = "minilm-int8"
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
    # Where CLIP and the VLM run: "auto" (a CUDA GPU in half precision if torch sees one,
    # else the CPU in float32), "cpu", "cuda" or "cuda:N".
    device: str = "auto"
    # Where indexes and assembled weights live; None = $XDG_CACHE_HOME/viewfinder.
    cache_dir: Path | None = None
    # Video decoding backend ("pyav", "torchcodec", "decord"); None = fastest installed.
    video_backend: str | None = None
    # Upper bound on agent look-again steps.
    max_steps: int = 3
    # Agent ablation switches: "no-plan", "no-reflect", "frames-not-clips", "no-zoom",
    # "no-verify".
    flags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name, (least, unit) in MINIMUMS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                flag = "--" + name.replace("_", "-")
                raise SettingsError(
                    f"{name} must be a whole number of at least {least} {unit}, got {value!r}. "
                    f"Pass a valid value (command line {flag}, or {ENV_PREFIX}{name.upper()})."
                )

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


def check_cache_writable(root: Path) -> Path:
    """Create ``root`` if needed and prove a file can be written in it; returns ``root``.

    Raises:
        CacheNotWritableError: the folder cannot be created or written (the message says to
            set ``VIEWFINDER_CACHE``).
    """
    import tempfile

    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as e:
        raise CacheNotWritableError(root, e.strerror or type(e).__name__) from e
    return root


def check_model_names(settings: Settings, installed: tuple[str, ...] = ()) -> None:
    """Raise for a model setting that names no registered model and no existing path.

    Cheap (no weights are located or loaded), so callers run it before any work. Roles in
    ``installed`` (settings field names, e.g. ``("llm",)`` for an explicit ``--llm``) must
    also have their weights on this machine.

    Raises:
        UnknownModelError: the name is not registered (the message lists valid names).
        ModelNotInstalledError: a path that does not exist, or an ``installed`` role whose
            weights are missing (the message gives the install command).
    """
    from .models import check_name, resolve

    for field_name, role in MODEL_ROLES.items():
        name = getattr(settings, field_name)
        if not name:
            continue
        if field_name in installed:
            resolve(role, name, settings.cache_root)
        else:
            check_name(role, name)


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
