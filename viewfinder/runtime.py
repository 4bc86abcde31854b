"""Loaded models, shared by every question asked through one :class:`~viewfinder.VideoQA`.

Each role loads on first use. A role whose weights or package are missing is recorded as
unavailable with the reason (which names what to install); strategies then run on the
signals that remain and say what they could not use.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import MissingDependencyError, ModelError
from .models import ResolvedModel, resolve
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Models:
    """Lazily loaded models for the roles in ``settings``."""

    settings: Settings
    _loaded: dict[str, Any] = field(default_factory=dict)
    _missing: dict[str, str] = field(default_factory=dict)
    _resolved: dict[str, ResolvedModel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, role: str) -> Any | None:
        """The loaded model for ``role``, or None when it is disabled or unavailable."""
        with self._lock:
            if role in self._loaded:
                return self._loaded[role]
            if role in self._missing:
                return None
            try:
                model = self._load(role)
            except (ModelError, MissingDependencyError) as e:
                self._missing[role] = str(e)
                logger.warning("%s unavailable: %s", role, e)
                return None
            if model is None:
                return None
            self._loaded[role] = model
            return model

    def use(self, role: str, model: Any) -> None:
        """Serve ``model`` for ``role`` (an already loaded model, or a scripted fake in tests)."""
        with self._lock:
            self._missing.pop(role, None)
            self._loaded[role] = model

    def missing(self, role: str) -> str | None:
        """Why ``role`` is unavailable (None if it loaded or was never asked for)."""
        return self._missing.get(role)

    def describe(self) -> dict[str, Any]:
        """Role -> {name, path, sha256} of loaded models, or {"missing": reason}."""
        out: dict[str, Any] = {r: m.as_dict() for r, m in self._resolved.items()}
        out.update({r: {"missing": why} for r, why in self._missing.items()})
        return out

    def _load(self, role: str) -> Any | None:
        s = self.settings
        if role == "asr":
            if not s.asr:
                return self._disable(role, "disabled in settings (asr=None)")
            from .tools.asr import AsrOptions, load_asr

            self._remember(role, s.asr)
            return load_asr(
                s.asr, AsrOptions(language=s.language, threads=s.threads), cache_dir=s.cache_root
            )
        if role == "ocr":
            if not s.ocr:
                return self._disable(role, "disabled in settings (ocr=None)")
            from .tools.ocr import load_ocr

            self._remember(role, s.ocr)
            return load_ocr(s.ocr, cache_dir=s.cache_root)
        if role == "llm":
            if not s.llm:
                return self._disable(role, "disabled in settings (llm=None)")
            from .tools.llm import LLMOptions, load_llm

            self._remember(role, s.llm)
            return load_llm(s.llm, LLMOptions(threads=s.threads), cache_dir=s.cache_root)
        if role == "vlm":
            return self._load_vlm()
        raise ValueError(f"Unknown role {role!r}")

    def _load_vlm(self) -> Any | None:
        s = self.settings
        from .models import available_models

        # auto (vlm=None): the first registered VLM that is installed; never random weights.
        names = [s.vlm] if s.vlm else available_models("vlm")
        for name in names:
            try:
                self._remember("vlm", name)
            except ModelError:
                if s.vlm:
                    raise
                continue
            from .tools.vlm import load_vlm

            return load_vlm(
                name,
                compressor=s.compressor,
                budget=s.budget,
                threads=s.threads,
                cache_dir=s.cache_root,
                device=s.device,
            )
        self._resolved.pop("vlm", None)
        return self._disable(
            "vlm",
            "no VLM weights installed; answers use speech and screen "
            "text only. Install one with: pip install 'viewfinder[vlm]' and "
            "`huggingface-cli download HuggingFaceTB/SmolVLM2-2.2B-Instruct`, "
            "then pass --vlm NAME_OR_PATH",
        )

    def _remember(self, role: str, name: str) -> None:
        resolved = resolve(role, name, self.settings.cache_root)
        self._resolved[role] = resolved

    def _disable(self, role: str, reason: str) -> None:
        self._missing[role] = reason
        return None
