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
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexDamagedError
from ..progress import Progress, StageProgress
from ..runtime import Models
from ..settings import Settings
from ..tools.shots import Clip, clips_from_cuts, scan_video
from .handle import IndexHandle as IndexHandle
from .parts import SUBTITLES as SUBTITLES
from .parts import DamagedPart, PartLoading, info_dict, read_shots
from .recipes import SHOTS_FORMAT as SHOTS_FORMAT
from .recipes import IndexOptions as IndexOptions
from .recipes import PartRecipes
from .recipes import index_state as index_state
from .schedule import Stage, StageBoard, ThreadReaders
from .screen_text import (
    ScreenTextJob,
    choose_frames,
    merge_spans,
    write_screen_text,
)
from .spool import FrameSpool
from .store import VideoStore, atomic_write_json
from .transcript import (
    SpeechJob,
    subtitle_segments,
    write_speech,
)

logger = logging.getLogger(__name__)

STAGES = ("decode", "shots", "speech", "screen text", "frames")


class _Cancelled(Exception):
    """Another stage failed or was interrupted; stop this one at its next progress report."""


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
        except DamagedPart as e:
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


class _Builder(PartRecipes, PartLoading):
    def __init__(
        self,
        info: Any,
        store: VideoStore,
        settings: Settings,
        options: IndexOptions,
        reporter: _Reporter,
        models: Models,
    ) -> None:
        super().__init__(info, store, settings, options, models)
        self.report = reporter
        self.work: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    # ------------------------------------------------------------------ visual

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
            path=str(self.info.path), info=info_dict(self.info), indexed_at=time.time()
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

    def _build_shots(
        self, recipe: dict[str, Any], spool: FrameSpool | None = None
    ) -> tuple[list[Clip], dict[str, np.ndarray]]:
        found = self.store.find_part("shots", recipe)
        if found is not None:
            try:
                return self._read_part("shots", found, read_shots)
            except DamagedPart as e:  # the build holds the lock: rebuild it right here
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
