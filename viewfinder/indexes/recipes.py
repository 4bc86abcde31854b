"""What each index part is built from, and whether the part on disk is still current.

A part's recipe names its models (name + sha256), its parameters and its format; a part is
current when a build with exactly that recipe is on disk (``store.find_part``). :func:`index_state`
answers what :func:`~viewfinder.indexes.build.index_video` would do without building anything.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..runtime import Models, result_params
from ..settings import Settings
from ..tools.shots import ShotOptions
from .parts import SUBTITLES, UNREADABLE, read_shots
from .screen_text import ScreenTextOptions
from .store import VideoStore
from .transcript import SpeechOptions

logger = logging.getLogger(__name__)

# 2: scan times count from the container start, like the readers (were the video stream start).
# 3: Theora (and VP3) videos are scanned without frame threads, which were not reproducible.
SHOTS_FORMAT = 3


@dataclass(frozen=True)
class IndexOptions:
    """Parameters of every index part (each is part of that part's recipe)."""

    # Shot detection and clip bounds.
    shots: ShotOptions = field(default_factory=ShotOptions)
    # Speech chunking (ASR options come from ``asr``).
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    # ASR options (tools.asr.AsrOptions); None = its defaults with Settings.language/threads.
    asr: Any = None
    # Which frames are read for on-screen text and how text is merged.
    screen_text: ScreenTextOptions = field(default_factory=ScreenTextOptions)
    # OCR engine options (tools.ocr.OcrOptions); None = its defaults.
    ocr: Any = None
    # Visual index options (indexes.visual.VisualIndexOptions); None = its defaults.
    visual: Any = None
    # Run speech in a thread alongside screen text and frames.
    overlap: bool = True
    # Subtitle lines (start, end, text), normalised by tools.subtitles.normalize: indexed as
    # the speech evidence instead of running ASR, in their own part ("subtitles", recipe keyed
    # by their hash), so a video's Whisper index stays cached beside it.
    subtitles: tuple[tuple[float, float, str], ...] | None = None


class PartRecipes:
    """The recipes of one video's parts under ``settings`` and ``options``.

    Attributes:
        available: Modality -> why it cannot be built here (filled while recipes are made).
        meta: The video's ``video.json`` (it remembers why CLIP was skipped).
    """

    def __init__(
        self,
        info: Any,
        store: VideoStore,
        settings: Settings,
        options: IndexOptions,
        models: Models,
    ) -> None:
        self.info, self.store, self.settings = info, store, settings
        self.options, self.models = options, models
        self.available: dict[str, str] = {}
        self.meta = store.video_meta() or {}

    def recipes(self) -> dict[str, dict[str, Any] | None]:
        """Recipe of every part; None marks a part that cannot be built here (and why)."""
        embed = self._embedder_identity()
        shots = {"format": SHOTS_FORMAT, "options": asdict(self.options.shots)}
        out: dict[str, dict[str, Any] | None] = {"shots": shots}
        if self.options.subtitles is not None:  # subtitles replace ASR: no "speech" part
            from ..tools.subtitles import subtitles_hash

            out[SUBTITLES] = {
                "format": 1,
                "sha256": subtitles_hash(self.options.subtitles),
                "embedder": embed,
            }
        elif not self.info.has_audio:
            self.available["speech"] = "no audio track"
            out["speech"] = None
        elif self.settings.asr is None:
            self.available["speech"] = "ASR disabled (Settings.asr is None)"
            out["speech"] = None
        else:
            out["speech"] = self._model_recipe(
                "asr",
                self.settings.asr,
                {
                    "format": 1,
                    "asr_options": result_params(self._asr_options()),
                    "speech": asdict(self.options.speech),
                    "embedder": embed,
                },
            )
        if self.settings.ocr is None:
            self.available["text"] = "OCR disabled (Settings.ocr is None)"
            out["screen_text"] = None
        else:
            out["screen_text"] = self._model_recipe(
                "ocr",
                self.settings.ocr,
                {
                    # 2: spans end at the first cut after their text was last seen.
                    # 3: frames are picked to cover time (last-of-shot and large-change
                    # frames preferred), not last-of-shot first and the rest evenly by count.
                    # 4: half the budget first reads the ends of the longest-stable pictures.
                    "format": 4,
                    "ocr_options": result_params(self._ocr_options()),
                    "screen_text": asdict(self.options.screen_text),
                    "embedder": embed,
                    "shots": shots,
                },
            )
        for part, modality in (("speech", "speech"), ("screen_text", "text")):
            if out.get(part) is not None and "model" not in out[part]:
                self.available[modality] = out[part]["missing"]
                out[part] = None
        return out

    def _model_recipe(self, role: str, name: str, rest: dict[str, Any]) -> dict[str, Any]:
        from ..errors import ModelError
        from ..models import resolve

        try:
            resolved = resolve(role, name, self.settings.cache_root)
        except ModelError as e:
            return {"missing": str(e)}
        return {**rest, "model": {"name": name, "sha256": resolved.sha256}}

    def _embedder_identity(self) -> dict[str, Any] | None:
        name = self.settings.text_embedding
        if name is None:
            return None
        from ..errors import MissingDependencyError

        try:
            return self.models.load("text-embedding").fingerprint
        except (ModelError, MissingDependencyError) as e:
            logger.info("Text embeddings unavailable (%s); text search uses BM25 only", e)
            return None

    def _asr_options(self) -> Any:
        from ..tools.asr import AsrOptions

        if self.options.asr is not None:
            return self.options.asr
        # Overlapping builds run two transcriptions at once (one per index thread).
        return AsrOptions(
            language=self.settings.language,
            threads=self._engine_threads(),
            workers=2 if self.options.overlap else 1,
        )

    def _ocr_options(self) -> Any:
        from ..tools.ocr import OcrOptions

        if self.options.ocr is not None:
            return self.options.ocr
        return OcrOptions(threads=self._engine_threads(), max_side=self.settings.ocr_max_side)

    def all_current(self, recipes: dict[str, dict[str, Any] | None]) -> bool:
        if any(r is not None and self.store.find_part(p, r) is None for p, r in recipes.items()):
            return False
        return self._visual_state(recipes) != "build"

    def _visual_state(self, recipes: dict[str, Any]) -> str:
        """ "skip" (no CLIP, known from a previous attempt), "have" or "build"."""
        name = self.settings.clip
        if name is None:
            self.available["visual"] = "CLIP disabled (Settings.clip is None)"
            return "skip"
        manifest = self.store.manifest("visual")
        if (
            manifest is not None
            and (manifest["recipe"].get("model") or {}).get("name") == name
            and manifest["recipe"].get("clips") == self._clip_spans(recipes)
        ):
            return "have"
        skipped = (self.meta.get("visual_skipped") or {}).get(name)
        if skipped:
            self.available["visual"] = skipped
            return "skip"
        return "build"

    def _clip_spans(self, recipes: dict[str, Any]) -> list[list[float]] | None:
        part = self.store.find_part("shots", recipes["shots"])
        if part is None:
            return None
        try:
            clips, _ = read_shots(part)
        except UNREADABLE:  # a part from before checksums: _build_shots rebuilds it
            return None
        return [[round(c.start, 3), round(c.end, 3)] for c in clips]

    def _engine_threads(self) -> int:
        """CPU threads per engine call: one per core each when two threads share the work."""
        threads = self.settings.threads
        return max(1, threads // 2) if self.options.overlap else threads


def index_state(
    path: str | Path,
    settings: Settings | None = None,
    options: IndexOptions | None = None,
    models: Models | None = None,
) -> dict[str, str]:
    """What :func:`index_video` would do for ``path``, without building anything.

    ``models`` (a ``runtime.Models``) is the owner of any model the recipes need to name
    (the text embedder's fingerprint), so a server asking often loads it once.

    Returns:
        Part -> ``"current"`` (built with today's recipe), ``"partial"`` (an interrupted build
        left checkpoints), ``"stale"`` (built with other models or parameters), ``"missing"``
        or ``"unavailable: <reason>"`` (cannot be built here, e.g. no audio track).
    """
    from ..tools.video import fingerprint, probe
    from .fingerprint import video_key

    settings = settings or (models.settings if models is not None else Settings.from_env())
    models = models if models is not None else Models(settings)
    info = probe(path)
    # A read-only lookup: asking must not create the video's directory.
    key = video_key(settings.cache_root, info.path, record=False) or fingerprint(info.path)
    store = VideoStore(settings.cache_root, key)
    builder = PartRecipes(info, store, settings, options or IndexOptions(), models)
    recipes = builder.recipes()
    reasons = {"speech": "speech", SUBTITLES: "speech", "screen_text": "text"}
    state: dict[str, str] = {}
    for part, recipe in recipes.items():
        if recipe is None:
            state[part] = f"unavailable: {builder.available.get(reasons.get(part, part), '')}"
        else:
            state[part] = _part_state(store, part, recipe)
    visual = builder._visual_state(recipes)
    if visual == "have":
        state["visual"] = "current"
    elif visual == "skip":
        state["visual"] = f"unavailable: {builder.available.get('visual', '')}"
    else:
        state["visual"] = "partial" if _has_partial(store, "visual") else "missing"
    return state


def _part_state(store: VideoStore, part: str, recipe: dict[str, Any]) -> str:
    if store.find_part(part, recipe) is not None:
        return "current"
    if store.part_path(part, recipe).with_suffix(".partial").is_dir():
        return "partial"
    return "stale" if store.manifest(part) is not None else "missing"


def _has_partial(store: VideoStore, part: str) -> bool:
    return any((store.directory / part).glob("*.partial"))
