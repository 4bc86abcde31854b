"""Index a video once, load it instantly afterwards: :func:`index_video` -> :class:`IndexHandle`.

Stages, each reported to ``progress(stage, done, total)``:

``decode``       one low-resolution pass: shot cuts and picture-change scores (part "shots")
``shots``        clips of bounded length with keyframes (same part)
``speech``       Whisper segments -> BM25 + embeddings (part "speech")
``screen text``  OCR on keyframes and changed frames -> text spans (part "screen_text")
``frames``       CLIP frame/clip embeddings (part "visual", when CLIP weights are installed)

A helper thread starts on speech while the caller's thread scans for shots; then both threads
share speech, screen text and frames chunk by chunk (``indexes/schedule.py``): CTranslate2,
onnxruntime and torch release the GIL, so both cores stay busy to the end. Each part is current when its
recipe (models + sha256 + parameters + format) matches; only stale parts are rebuilt. The
whole build holds the video's file lock, so concurrent indexers of one video wait for each
other and the second one finds everything built.

Every part is verified when it is loaded: its files against the checksums in its manifest
(``store.find_part``), then by parsing them. A part that fails is logged and rebuilt from the
video; only when the rebuilt part fails too does indexing raise ``IndexDamagedError``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexDamagedError, ModelError, ViewfinderError
from ..progress import Progress, StageProgress
from ..runtime import Models, result_params
from ..settings import Settings
from ..tools.shots import Clip, ShotOptions, clips_from_cuts, scan_video
from .fusion import Hit, Span, fuse, rrf_scores
from .schedule import Stage, StageBoard, ThreadReaders
from .screen_text import (
    ScreenTextIndex,
    ScreenTextJob,
    ScreenTextOptions,
    TextSpan,
    choose_frames,
    merge_spans,
    write_screen_text,
)
from .spool import FrameSpool
from .store import VideoStore, atomic_write_json
from .transcript import (
    SpeechIndex,
    SpeechJob,
    SpeechOptions,
    SpeechSegment,
    subtitle_segments,
    write_speech,
)

logger = logging.getLogger(__name__)

# 2: scan times count from the container start, like the readers (were the video stream start).
# 3: Theora (and VP3) videos are scanned without frame threads, which were not reproducible.
SHOTS_FORMAT = 3
STAGES = ("decode", "shots", "speech", "screen text", "frames")
SUBTITLES = "subtitles"  # the part holding a subtitle-based speech index
# What reading a damaged part file raises: JSONDecodeError and UnicodeDecodeError are
# ValueErrors; np.load raises ValueError, EOFError or OSError; a damaged .npz BadZipFile or
# zlib.error; JSON of the wrong shape KeyError, TypeError, AttributeError or IndexError.
_UNREADABLE = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
    ModelError,
)


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


class _Cancelled(Exception):
    """Another stage failed or was interrupted; stop this one at its next progress report."""


class _DamagedPart(Exception):
    """A part that should be on disk is damaged, missing or does not load."""

    def __init__(self, part: str, path: Path, problem: str) -> None:
        super().__init__(f"{part} ({path}): {problem}")
        self.part, self.path, self.problem = part, path, problem


class _Reporter:
    """Thread-safe progress fan-in that also carries cancellation between stages."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self.cancel = threading.Event()

    def __call__(self, stage: str, done: float, total: float) -> None:
        if self.cancel.is_set():
            raise _Cancelled(stage)
        if self._progress is None:
            return
        with self._lock:
            try:
                self._progress(stage, float(done), float(total))
            except BaseException:
                self.cancel.set()
                raise

    def stage(self, name: str) -> StageProgress:
        return lambda done, total: self(name, done, total)


class IndexHandle:
    """All indexes of one video, loaded; search them one by one or fused.

    Attributes:
        info: ``tools.video.VideoInfo`` of the video.
        store: Its :class:`VideoStore`.
        clips: Shot-bounded clips.
        available: Modality -> ``"ok"`` or the reason it is missing.
        work: Part -> what this call did: ``"loaded"``, ``"built"`` or ``"resumed"``.
        seconds: Stage -> seconds spent in this call.
        models: The ``runtime.Models`` that encodes queries (text embedder, CLIP text tower):
            the one it was built with, so searching loads nothing a second time.
    """

    def __init__(
        self,
        info: Any,
        store: VideoStore,
        clips: list[Clip],
        speech: SpeechIndex | None,
        screen_text: ScreenTextIndex | None,
        visual: Any,
        available: dict[str, str],
        work: dict[str, str],
        seconds: dict[str, float],
        settings: Settings,
        models: Models | None = None,
    ) -> None:
        self.info = info
        self.store = store
        self.clips = clips
        self.speech = speech
        self.screen_text = screen_text
        self.visual = visual
        self.available = available
        self.work = work
        self.seconds = seconds
        self.settings = settings
        # Serves the query-side models (CLIP text encoder, text embedder) at search time.
        self.models = models if models is not None else Models(settings)

    def __repr__(self) -> str:
        return (
            f"IndexHandle({self.info.path.name}, {len(self.clips)} clips, "
            f"available={self.available})"
        )

    @property
    def speech_segments(self) -> list[SpeechSegment]:
        """Transcript segments ([] without speech)."""
        return self.speech.segments if self.speech is not None else []

    @property
    def text_spans(self) -> list[TextSpan]:
        """On-screen text spans ([] without OCR)."""
        return self.screen_text.spans if self.screen_text is not None else []

    def search_speech(self, query: str, k: int = 10) -> list[Hit]:
        """Transcript segments matching ``query`` (BM25 + embeddings)."""
        return self.speech.search(query, k) if self.speech is not None else []

    def search_text(self, query: str, k: int = 10) -> list[Hit]:
        """On-screen text spans matching ``query``."""
        return self.screen_text.search(query, k) if self.screen_text is not None else []

    def search_visual(self, query: str, k: int = 10, level: str = "frame") -> list[Hit]:
        """Frames (or clips) whose CLIP embedding matches ``query`` ([] without CLIP)."""
        if self.visual is None:
            return []
        from .visual import open_embedder

        embedder = open_embedder(self.models)
        if embedder is None:
            return []
        return self.visual.search(query, k, level=level, embedder=embedder)

    def _lists(self, query: str, k: int, modalities: Sequence[str] | None) -> list[list[Hit]]:
        wanted = set(modalities or ("speech", "text", "visual"))
        unknown = wanted - {"speech", "text", "visual"}
        if unknown:
            raise ValueError(f"Unknown modalities {sorted(unknown)}; use speech, text, visual")
        lists = []
        if "speech" in wanted:
            lists.append(self.search_speech(query, k))
        if "text" in wanted:
            lists.append(self.search_text(query, k))
        if "visual" in wanted:
            lists.append(self.search_visual(query, k))
        return [hits for hits in lists if hits]

    def search(self, query: str, k: int = 10, modalities: Sequence[str] | None = None) -> list[Hit]:
        """Hits of all (or the given) modalities, ordered by reciprocal-rank fusion.

        Returns:
            At most ``k`` hits; each keeps its modality and source, ``score`` is its RRF score.
        """
        scored = rrf_scores(self._lists(query, k, modalities))
        scored.sort(key=lambda hs: (-hs[1], hs[0].start))
        return [
            Hit(h.start, h.end, h.modality, h.text, s, r, h.source)
            for r, (h, s) in enumerate(scored[:k])
        ]

    def search_spans(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        modalities: Sequence[str] | None = None,
        gap: float = 1.0,
    ) -> list[Span]:
        """Fused time spans for one query or several sub-queries, best first."""
        queries = [queries] if isinstance(queries, str) else list(queries)
        lists = [hits for q in queries for hits in self._lists(q, k, modalities)]
        return fuse(lists, gap=gap, limit=k)


# --------------------------------------------------------------------------- building


def index_video(
    path: str | Path,
    settings: Settings | None = None,
    progress: Progress | None = None,
    options: IndexOptions | None = None,
    models: Models | None = None,
) -> IndexHandle:
    """Build what is missing or stale in the index of ``path`` and load all of it.

    Args:
        path: The video.
        settings: Model names, threads, cache root (default ``Settings.from_env()``).
        progress: ``progress(stage, done, total)``; stages are :data:`STAGES`. Raising from it
            stops indexing (checkpoints keep finished work for the next call).
        options: Index parameters.
        models: The owner of loaded models (ASR, OCR, CLIP, text embedder); pass the same one
            to every call so a batch loads each model once. None: a new one for this video.

    Returns:
        The loaded :class:`IndexHandle`.

    Raises:
        VideoNotFoundError, NotAVideoError, CorruptVideoError, EmptyVideoError: Bad video.
    """
    from ..tools.video import probe
    from .fingerprint import video_key

    settings = settings or (models.settings if models is not None else Settings.from_env())
    models = models if models is not None else Models(settings)
    options = options or IndexOptions()
    started = time.perf_counter()
    info = probe(path)
    store = VideoStore(settings.cache_root, video_key(settings.cache_root, info.path))
    reporter = _Reporter(progress)
    builder = _Builder(info, store, settings, options, reporter, models)
    recipes = builder.recipes()
    for attempt in (1, 2):
        # A part that fails its checksums counts as missing here and is rebuilt.
        if not builder.all_current(recipes):
            with store.lock():
                builder.build(recipes)
        try:
            handle = builder.load(recipes)
            break
        except _DamagedPart as e:
            if attempt == 2 or builder.work.get(e.part) in ("built", "resumed"):
                raise IndexDamagedError(info.path, e.part, e.problem, store.directory) from e
            logger.warning(
                "The %s index of %s does not load (%s); rebuilding it from the video",
                e.part,
                info.path,
                e.problem,
            )
            with store.lock():
                store.discard_part(e.path)
    handle.seconds["total"] = time.perf_counter() - started
    return handle


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
    builder = _Builder(info, store, settings, options or IndexOptions(), _Reporter(None), models)
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


class _Builder:
    def __init__(
        self,
        info: Any,
        store: VideoStore,
        settings: Settings,
        options: IndexOptions,
        reporter: _Reporter,
        models: Models,
    ) -> None:
        self.info, self.store, self.settings = info, store, settings
        self.options, self.report, self.models = options, reporter, models
        self.work: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.available: dict[str, str] = {}
        self.meta = store.video_meta() or {}

    # ------------------------------------------------------------------ recipes

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

    # ------------------------------------------------------------------ visual

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
            clips, _ = _read_shots(part)
        except _UNREADABLE:  # a part from before checksums: _build_shots rebuilds it
            return None
        return [[round(c.start, 3), round(c.end, 3)] for c in clips]

    def _open_clip(self, recipes: dict[str, Any]) -> Any:
        """The CLIP embedder when the visual part is to be built here, else None."""
        if self._visual_state(recipes) != "build":
            return None
        try:
            from . import visual
        except ImportError as e:
            self._skip_visual(f"visual index module unavailable ({e})")
            return None
        embedder = visual.open_embedder(self.models, self._engine_threads())
        if embedder is None:
            import importlib.util

            if importlib.util.find_spec("open_clip") is None:
                reason = "the open_clip package is not installed (pip install 'viewfinder[clip]')"
            else:
                reason = f"no CLIP weights for {self.settings.clip!r} (see `viewfinder models`)"
            self._skip_visual(reason)
        return embedder

    def _visual_options(self) -> Any:
        from .visual import VisualIndexOptions

        return self.options.visual or VisualIndexOptions()

    def _frame_spool(self, embedder: Any) -> FrameSpool | None:
        """A spool the shot scan fills with the frames CLIP needs (None without CLIP)."""
        if embedder is None:
            return None
        from ..tools.video import output_size
        from .visual import decode_side, sample_times

        times = sample_times(self.info.duration, self._visual_options().fps)
        size = output_size(self.info.width, self.info.height, decode_side(self.info, embedder))
        directory = self.store.checkpoint("frame-spool", {"size": list(size)}).directory
        return FrameSpool(directory, times, size)

    def _visual_stage(
        self,
        clips: list[Clip],
        embedder: Any,
        readers: ThreadReaders,
        spool: FrameSpool | None,
    ) -> Stage | None:
        if embedder is None:
            return None
        from . import visual

        def decode(times: list[float], max_side: int) -> list[np.ndarray]:
            caught = spool.frames_at(times) if spool is not None else None
            return caught if caught is not None else readers.frames_at(times, max_side)

        def make() -> Any:
            return visual.VisualJob(
                self.store,
                self.info,
                decode,
                embedder,
                options=self._visual_options(),
                clips=clips,
                progress=self.report.stage("frames"),
            )

        def finish(job: Any) -> None:
            job.finish()
            self.work["visual"] = "built"
            if spool is not None:
                spool.remove()

        return Stage("frames", make, finish)

    def _skip_visual(self, reason: str) -> None:
        logger.info("Visual index skipped: %s", reason)
        self.available["visual"] = reason
        skipped = dict(self.meta.get("visual_skipped") or {})
        skipped[self.settings.clip] = reason
        self.meta["visual_skipped"] = skipped

    # ------------------------------------------------------------------ build

    def build(self, recipes: dict[str, dict[str, Any] | None]) -> None:
        """Build the missing parts: speech starts in a helper thread while the main thread
        scans for shots; then both threads share speech, screen text and frames."""
        from ..tools.video import open_video

        self.meta = self.store.video_meta() or {}  # another process may have written it
        self.meta.update(
            path=str(self.info.path), info=_info_dict(self.info), indexed_at=time.time()
        )
        board = StageBoard()
        readers = ThreadReaders(lambda: open_video(self.info.path, self.settings.video_backend))
        # CLIP frames come from the shot scan's spool (PyAV) when it runs; frames it did not
        # catch, and every frame of a rebuilt visual part, are decoded by PyAV too, so the
        # embeddings do not depend on which path or which installed backend produced them.
        frame_readers = ThreadReaders(
            lambda: open_video(self.info.path, self.settings.video_backend or "pyav")
        )
        pool = (
            ThreadPoolExecutor(1, thread_name_prefix="viewfinder-index")
            if self.options.overlap
            else None
        )
        helper = pool.submit(lambda: [stage.work() for stage in board]) if pool else None
        stages: list[Stage] = []
        spool: FrameSpool | None = None
        try:
            if (
                recipes.get(SUBTITLES) is not None
                and self.store.find_part(SUBTITLES, recipes[SUBTITLES]) is None
            ):
                self._build_subtitles(recipes[SUBTITLES])
            speech = self._speech_stage(recipes)
            board.post(speech)
            clip = self._open_clip(recipes)
            if clip is not None and self.store.find_part("shots", recipes["shots"]) is None:
                spool = self._frame_spool(clip)
            clips, scan = self._build_shots(recipes["shots"], spool)
            text = self._screen_text_stage(recipes, clips, scan, readers)
            visual = self._visual_stage(clips, clip, frame_readers, spool)
            board.post(text)
            board.post(visual)
            board.close()
            # The main thread starts where the helper does not; both end up sharing whatever
            # stage still has chunks left.
            order = (text, visual, speech) if helper else (speech, text, visual)
            stages = [stage for stage in order if stage is not None]
            for stage in stages:
                stage.work()
            if helper is not None:
                helper.result()
            for stage in stages:
                if stage.seconds is not None:
                    self.seconds[stage.name] = stage.seconds
        except BaseException:
            self.report.cancel.set()
            board.close()
            if helper is not None:
                # the first failure is the one to raise
                with contextlib.suppress(BaseException):
                    helper.result()
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            readers.close()
            frame_readers.close()
            if spool is not None:
                spool.remove()
            self.store.write_video_meta(self.meta)

    def _engine_threads(self) -> int:
        """CPU threads per engine call: one per core each when two threads share the work."""
        threads = self.settings.threads
        return max(1, threads // 2) if self.options.overlap else threads

    def _build_shots(
        self, recipe: dict[str, Any], spool: FrameSpool | None = None
    ) -> tuple[list[Clip], dict[str, np.ndarray]]:
        found = self.store.find_part("shots", recipe)
        if found is not None:
            try:
                return self._read_part("shots", found, _read_shots)
            except _DamagedPart as e:  # the build holds the lock: rebuild it right here
                logger.warning("The shots index does not load (%s); rebuilding it", e.problem)
                self.store.discard_part(found)
        t0 = time.perf_counter()
        try:
            scan = scan_video(
                self.info.path,
                self.options.shots,
                self.report.stage("decode"),
                on_frame=spool.feed if spool is not None else None,
            )
        finally:
            if spool is not None:
                spool.close()
        self.seconds["decode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        clips = clips_from_cuts(scan.cuts, scan.duration, self.options.shots)
        arrays = {"times": scan.times, "change": scan.change}

        def write(directory: Path) -> None:
            atomic_write_json(directory / "clips.json", [c.as_dict() for c in clips])
            atomic_write_json(
                directory / "cuts.json", {"duration": scan.duration, "cuts": list(scan.cuts)}
            )
            np.savez(directory / "scan.npz", **arrays)

        self.store.write_part(
            "shots", recipe, write, summary={"clips": len(clips), "cuts": len(scan.cuts)}
        )
        arrays["cuts"] = np.asarray(scan.cuts, dtype=np.float64)
        self.report("shots", len(clips), len(clips))
        self.work["shots"] = "built"
        self.seconds["shots"] = time.perf_counter() - t0
        return clips, arrays

    def _speech_stage(self, recipes: dict[str, Any]) -> Stage | None:
        recipe = recipes.get("speech")
        if recipe is None or self.store.find_part("speech", recipe) is not None:
            return None

        def make() -> SpeechJob:
            from ..tools.video import load_audio

            audio = load_audio(self.info.path)
            if audio is None or audio.size == 0:
                audio = np.zeros(0, np.float32)
            checkpoint = self.store.checkpoint("speech", recipe)
            self.work["speech"] = "resumed" if checkpoint.load() else "built"
            transcriber = self.models.load("asr", self._asr_options())

            def check_cancel(_fraction: float) -> None:
                if self.report.cancel.is_set():  # stop mid-chunk when another stage failed
                    raise _Cancelled("speech")

            def transcribe(chunk: np.ndarray) -> list[Any]:
                return transcriber.transcribe(chunk, progress=check_cancel)

            return SpeechJob(
                audio, transcribe, checkpoint, self.options.speech, self.report.stage("speech")
            )

        def finish(job: SpeechJob) -> None:
            segments = job.segments()
            vectors, embedder = self._embed([s.text for s in segments], recipe)
            self.store.write_part(
                "speech",
                recipe,
                lambda d: write_speech(d, segments, vectors, embedder),
                summary={"segments": len(segments)},
            )

        return Stage("speech", make, finish)

    def _build_subtitles(self, recipe: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        segments = subtitle_segments(self.options.subtitles or ())
        vectors, embedder = self._embed([s.text for s in segments], recipe)
        self.store.write_part(
            SUBTITLES,
            recipe,
            lambda d: write_speech(d, segments, vectors, embedder),
            summary={"segments": len(segments)},
        )
        self.report("speech", 1, 1)
        self.work[SUBTITLES] = "built"
        self.seconds["speech"] = time.perf_counter() - t0

    def _screen_text_stage(
        self,
        recipes: dict[str, Any],
        clips: list[Clip],
        scan: dict[str, np.ndarray],
        readers: ThreadReaders,
    ) -> Stage | None:
        recipe = recipes.get("screen_text")
        if recipe is None or self.store.find_part("screen_text", recipe) is not None:
            return None
        opts = self.options.screen_text
        keyframes = [t for c in clips for t in c.keyframes]
        cuts = [float(c) for c in scan.get("cuts", ())]
        times = choose_frames(scan["times"], scan["change"], keyframes, self.info.duration, opts)

        def make() -> ScreenTextJob:
            from ..tools.ocr import ReadMemo

            checkpoint = self.store.checkpoint("screen_text", recipe)
            self.work["screen_text"] = "resumed" if checkpoint.load() else "built"
            engine = self.models.load("ocr", self._ocr_options())
            return ScreenTextJob(
                times,
                lambda ts: readers.frames_at(ts, max_side=opts.frame_max_side),
                lambda frame, memo=None: engine.read_fine(
                    frame, detect_max_side=opts.detect_max_side, memo=memo
                ),
                checkpoint,
                opts,
                self.report.stage("screen text"),
                make_memo=ReadMemo if opts.reuse_unchanged else None,
            )

        def finish(job: ScreenTextJob) -> None:
            spans = merge_spans(job.readings(), self.info.duration, opts, cuts)
            vectors, embedder = self._embed([s.text for s in spans], recipe)
            self.store.write_part(
                "screen_text",
                recipe,
                lambda d: write_screen_text(d, spans, vectors, embedder, times),
                summary={"spans": len(spans), "frames_read": len(times)},
            )

        return Stage("screen text", make, finish)

    def _embed(self, texts: list[str], recipe: dict[str, Any]) -> tuple[Any, str | None]:
        if recipe.get("embedder") is None or not texts:
            return None, (recipe.get("embedder") or {}).get("name")
        embedder = self.models.load("text-embedding", name=recipe["embedder"]["name"])
        return embedder.encode(texts), embedder.name

    # ------------------------------------------------------------------ load

    def load(self, recipes: dict[str, dict[str, Any] | None]) -> IndexHandle:
        """Load every part (each verified; raises _DamagedPart for one that fails)."""
        clips, _ = self._load_part("shots", recipes["shots"], _read_shots)
        speech = screen = visual = None
        speech_part = SUBTITLES if SUBTITLES in recipes else "speech"
        if recipes.get(speech_part) is not None:
            speech = self._load_part(
                speech_part, recipes[speech_part], _text_index_reader(SpeechIndex.load, self.models)
            )
            empty = "no subtitle lines" if speech_part == SUBTITLES else "no speech recognised"
            self.available["speech"] = "ok" if speech.segments else empty
        if recipes.get("screen_text") is not None:
            screen = self._load_part(
                "screen_text",
                recipes["screen_text"],
                _text_index_reader(ScreenTextIndex.load, self.models),
            )
            self.available["text"] = "ok" if screen.spans else "no on-screen text read"
        self._refresh_video_meta()
        state = self._visual_state(recipes)
        if state == "have":
            from .visual import VisualIndex

            manifest = self.store.manifest("visual")
            path = self.store.part_path("visual", manifest["recipe"])
            visual = self._read_part("visual", path, VisualIndex.load)
            self.available["visual"] = "ok"
        elif state == "build" and self.work.get("visual") == "built":
            raise _DamagedPart("visual", self.store.directory / "visual", self._problem("visual"))
        for part, have in (
            ("shots", clips),
            (speech_part, speech),
            ("screen_text", screen),
            ("visual", visual),
        ):
            self.work.setdefault(part, "loaded" if have is not None else "skipped")
        return IndexHandle(
            self.info,
            self.store,
            clips,
            speech,
            screen,
            visual,
            dict(self.available),
            dict(self.work),
            dict(self.seconds),
            self.settings,
            self.models,
        )

    def _load_part(self, name: str, recipe: dict[str, Any], read: Callable[[Path], Any]) -> Any:
        """``read`` of the intact build of ``name``; _DamagedPart when it is missing or fails."""
        found = self.store.find_part(name, recipe)
        if found is None:
            raise _DamagedPart(name, self.store.part_path(name, recipe), self._problem(name))
        return self._read_part(name, found, read)

    def _read_part(self, name: str, path: Path, read: Callable[[Path], Any]) -> Any:
        """``read(path)``; a part from before checksums that reads gets them recorded."""
        try:
            value = read(path)
        except _UNREADABLE as e:
            raise _DamagedPart(name, path, f"{type(e).__name__}: {e}") from e
        if not self.store.check(path).sealed:
            self.store.seal(path)
        return value

    def _problem(self, name: str) -> str:
        """What is wrong with the builds of ``name`` (for a part that should be there)."""
        for build in self.store.builds(name):
            check = self.store.check(build)
            if not check.ok:
                return check.problem or "damaged"
        return "it is missing"

    def _refresh_video_meta(self) -> None:
        """Read video.json; rewrite it when it was lost or damaged (it names the video in
        ``viewfinder index --list`` and remembers why CLIP was skipped)."""
        stored = self.store.video_meta()
        if stored is not None:
            self.meta = stored
            return
        self.meta.update(path=str(self.info.path), info=_info_dict(self.info))
        self.meta.setdefault("indexed_at", time.time())
        try:
            self.store.write_video_meta(self.meta)
        except (OSError, ViewfinderError) as e:  # a read-only cache still serves the index
            logger.info("Could not rewrite video.json (%s)", e)


def _read_shots(directory: Path) -> tuple[list[Clip], dict[str, np.ndarray]]:
    """Clips and scan arrays of a shots part (raises on anything unreadable or empty)."""
    clips = [Clip.from_dict(d) for d in json.loads((directory / "clips.json").read_bytes())]
    if not clips:
        raise ValueError("clips.json lists no clips (a video has at least one)")
    with np.load(directory / "scan.npz", allow_pickle=False) as scan:
        arrays = {name: scan[name] for name in scan.files}
    if "times" not in arrays or "change" not in arrays:
        raise ValueError("scan.npz lacks its arrays")
    cuts = json.loads((directory / "cuts.json").read_bytes())["cuts"]
    arrays["cuts"] = np.asarray(cuts, dtype=np.float64)
    return clips, arrays


def _text_index_reader(load: Callable[..., Any], models: Models) -> Callable[[Path], Any]:
    """A reader of a speech or screen-text part that also checks its vectors match its texts
    (its embedder, when a query needs it, comes from ``models``)."""

    def read(directory: Path) -> Any:
        index = load(directory, models)
        vectors = index.vectors
        if index.embedder_name and index.items and vectors is None:
            raise ValueError("vectors.npy is missing")
        if vectors is not None and (vectors.ndim != 2 or len(vectors) != len(index.items)):
            raise ValueError(f"vectors.npy has shape {vectors.shape} for {len(index.items)} texts")
        return index

    return read




def _info_dict(info: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(info).items()}
