"""The one owner of loaded models: :class:`Models` loads each role once and serves everyone.

Index building (speech, screen text, frames, text embeddings), index search (query
embeddings, CLIP text queries) and answering (LLM, VLM, crop OCR, the uniform baseline's
ASR/OCR) all ask one :class:`Models` for their model, so a process that indexes many videos or
answers many questions loads Whisper, OCR, CLIP, MiniLM, the LLM and the VLM once each. No
other module keeps a model between calls.

Each role loads on first use. A role whose weights or package are missing is recorded as
unavailable with the reason (which names what to install); strategies then run on the
signals that remain and say what they could not use.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from .errors import MissingDependencyError, ModelError
from .models import resolve
from .settings import Settings

logger = logging.getLogger(__name__)

ROLES = ("asr", "ocr", "clip", "text-embedding", "llm", "vlm")
# Option fields that only change speed (how many cores an engine uses), never results; they
# stay out of index recipes and out of the key a loaded model is shared under.
SPEED_ONLY = ("threads", "workers")

_Slot = tuple[str, str, str]  # (role, model name, result-changing options)


def result_params(options: Any) -> dict[str, Any]:
    """The fields of an options dataclass that change results (all but :data:`SPEED_ONLY`)."""
    if options is None:
        return {}
    return {k: v for k, v in dataclasses.asdict(options).items() if k not in SPEED_ONLY}


class Models:
    """Lazily loaded models for the roles in ``settings``, shared by every caller.

    A model is kept under (role, name, the options that change its results). Thread counts
    are left out of that key on purpose: index building asks for one thread per engine while
    answering asks for all cores, and loading Whisper or OCR a second time only to use another
    thread count would double the load time and the memory; the first load's thread layout
    serves both. Options that do change results (an OCR ``max_side``, an ASR language) get their
    own instance, because the engine is built with them.

    Thread-safe: each key has its own lock, so a slow Whisper load does not hold up OCR on
    another thread, and two threads asking for the same model wait for one load.

    Args:
        settings: Which model each role uses, threads and the cache root.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._held: dict[_Slot, Any] = {}
        self._identity: dict[_Slot, dict[str, Any]] = {}
        self._missing: dict[_Slot, str] = {}
        # The error of a load that failed: raised again, not retried (a failing VLM load can
        # take a minute before it fails).
        self._failed: dict[_Slot, ModelError | MissingDependencyError] = {}
        self._fixed: dict[str, Any] = {}  # role -> model given with use()
        self._slot_locks: dict[_Slot, threading.Lock] = {}
        self._warned: set[str] = set()  # reasons already logged (one warning per reason)
        self._lock = threading.Lock()  # guards the dicts above, never held while loading

    def __repr__(self) -> str:
        return f"Models(loaded={sorted(self.loaded())})"

    # ------------------------------------------------------------------ access

    def get(
        self, role: str, options: Any = None, *, name: str | None = None, threads: int | None = None
    ) -> Any | None:
        """The model for ``role``, or None when it is disabled or unavailable (logged once).

        Args:
            role: One of :data:`ROLES`.
            options: The role's options dataclass (``AsrOptions``, ``OcrOptions``,
                ``TextEmbedOptions``, ``LLMOptions``); None uses answering's defaults.
            name: Model name or path; None uses the one in ``settings``.
            threads: CPU threads for loaders that take a count (clip, vlm); None uses
                ``settings.threads``. Speed only.
        """
        try:
            return self.load(role, options, name=name, threads=threads)
        except (ModelError, MissingDependencyError) as e:
            with self._lock:
                first = str(e) not in self._warned
                self._warned.add(str(e))
            if first:
                logger.warning("%s unavailable: %s", role, e)
            return None

    def load(
        self, role: str, options: Any = None, *, name: str | None = None, threads: int | None = None
    ) -> Any | None:
        """Like :meth:`get`, but a model that cannot load raises its error (the message says
        how to install it); None only when the role is disabled in the settings.

        Raises:
            ValueError: ``role`` is not one of :data:`ROLES`.
            ModelError, MissingDependencyError: The weights or the package are missing.
        """
        if role not in ROLES:
            raise ValueError(f"Unknown role {role!r}; roles are {list(ROLES)}")
        if role in self._fixed:
            return self._fixed[role]
        name = name if name is not None else self._configured(role)
        if role != "vlm" and not name:
            self._disable(role, f"disabled in settings ({role.replace('-', '_')}=None)")
            return None
        if options is None:
            options = self._default_options(role)
        slot = (role, str(name or "auto"), repr(sorted(result_params(options).items())))
        with self._lock:
            lock = self._slot_locks.setdefault(slot, threading.Lock())
        with lock:
            if slot in self._held:
                return self._held[slot]
            if slot in self._failed:
                raise self._failed[slot]
            try:
                model, identity = self._open(role, name, options, threads)
            except (ModelError, MissingDependencyError) as e:
                with self._lock:
                    self._missing[slot] = str(e)
                    self._failed[slot] = e
                raise
            if model is None:  # auto VLM with none installed: remembered as nothing to load
                with self._lock:
                    self._held[slot] = None
                return None
            with self._lock:
                self._held[slot] = model
                self._identity[slot] = identity
                self._missing.pop(slot, None)
            return model

    def use(self, role: str, model: Any) -> None:
        """Serve ``model`` for ``role`` whatever the options (an already loaded model, or a
        scripted fake in tests)."""
        with self._lock:
            self._fixed[role] = model
            for slot in [s for s in self._missing if s[0] == role]:
                del self._missing[slot]
            for slot in [s for s in self._failed if s[0] == role]:
                del self._failed[slot]

    def missing(self, role: str) -> str | None:
        """Why ``role`` is unavailable (None if it loaded or was never asked for)."""
        with self._lock:
            return next((why for slot, why in self._missing.items() if slot[0] == role), None)

    def loaded(self) -> dict[str, dict[str, Any]]:
        """What this owner holds: role -> {name, path, sha256} (``instances`` when the role
        is held under more than one set of result-changing options)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for slot, identity in self._identity.items():
                role = slot[0]
                if role in out:
                    out[role]["instances"] = out[role].get("instances", 1) + 1
                else:
                    out[role] = dict(identity)
            return out

    def describe(self) -> dict[str, Any]:
        """:meth:`loaded`, plus {"missing": reason} for each role that could not load."""
        out: dict[str, Any] = self.loaded()
        with self._lock:
            for (role, _, _), why in self._missing.items():
                out.setdefault(role, {"missing": why})
        return out

    def close(self) -> None:
        """Release every held model (a later :meth:`get` loads it again)."""
        with self._lock:
            held = [m for m in self._held.values() if m is not None] + list(self._fixed.values())
            self._held.clear()
            self._identity.clear()
            self._fixed.clear()
            self._missing.clear()
            self._failed.clear()
            self._slot_locks.clear()
        for model in held:
            close = getattr(model, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as e:  # release the others even if one refuses
                    logger.warning("Could not release %r: %s", model, e)

    def __enter__(self) -> Models:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ loading

    def _configured(self, role: str) -> str | None:
        s = self.settings
        return {
            "asr": s.asr,
            "ocr": s.ocr,
            "clip": s.clip,
            "text-embedding": s.text_embedding,
            "llm": s.llm,
            "vlm": s.vlm,
        }[role]

    def _default_options(self, role: str) -> Any:
        """The options answering uses when a caller gives none."""
        s = self.settings
        if role == "asr":
            from .tools.asr import AsrOptions

            return AsrOptions(language=s.language, threads=s.threads)
        if role == "ocr":
            from .tools.ocr import OcrOptions

            return OcrOptions()
        if role == "text-embedding":
            from .tools.text_embed import TextEmbedOptions

            return TextEmbedOptions()
        if role == "llm":
            from .tools.llm import LLMOptions

            return LLMOptions(threads=s.threads)
        return None  # clip and vlm take no options object

    def _open(
        self, role: str, name: str | None, options: Any, threads: int | None
    ) -> tuple[Any, dict[str, Any]]:
        """Load one model; returns it with its identity (name, path, sha256)."""
        s = self.settings
        threads = threads or s.threads
        if role == "vlm":
            return self._open_vlm(name, threads)
        assert name is not None
        identity = self._identity_of(role, name)
        if role == "asr":
            from .tools.asr import load_asr

            return load_asr(name, options, cache_dir=s.cache_root), identity
        if role == "ocr":
            from .tools.ocr import load_ocr

            return load_ocr(name, options, cache_dir=s.cache_root), identity
        if role == "clip":
            from .tools.clip import load_clip

            clip = load_clip(name, cache_dir=s.cache_root, threads=threads, device=s.device)
            return clip, identity
        if role == "text-embedding":
            from .tools.text_embed import text_embedder

            return text_embedder(name, options, s.cache_root), identity
        from .tools.llm import load_llm

        return load_llm(name, options, cache_dir=s.cache_root), identity

    def _open_vlm(self, name: str | None, threads: int) -> tuple[Any, dict[str, Any]]:
        s = self.settings
        from .models import available_models

        # auto (vlm=None): the first registered VLM that is installed; never random weights.
        for candidate in [name] if name else available_models("vlm"):
            try:
                identity = self._identity_of("vlm", candidate)
            except ModelError:
                if name:
                    raise
                continue
            from .tools.vlm import load_vlm

            vlm = load_vlm(
                candidate,
                compressor=s.compressor,
                budget=s.budget,
                threads=threads,
                cache_dir=s.cache_root,
                device=s.device,
            )
            return vlm, identity
        self._disable(
            "vlm",
            "no VLM weights installed; answers use speech and screen "
            "text only. Install one with: pip install 'viewfinder[vlm]' and "
            "`huggingface-cli download HuggingFaceTB/SmolVLM2-2.2B-Instruct`, "
            "then pass --vlm NAME_OR_PATH",
        )
        return None, {}

    def _identity_of(self, role: str, name: str) -> dict[str, Any]:
        from .tools.clip import LOCAL_DIR_PREFIX

        target = name.removeprefix(LOCAL_DIR_PREFIX) if role == "clip" else name
        return resolve(role, target, self.settings.cache_root).as_dict()

    def _disable(self, role: str, reason: str) -> None:
        with self._lock:
            self._missing.setdefault((role, "", ""), reason)
