"""What the HTTP API, the MCP server and the web page share: one library, one VideoQA (so one
``runtime.Models``), one index job queue, bounded asks and the answers kept for explanation.

Transport-free: methods take ids and plain values and return JSON-able dicts; errors are
ViewfinderError subclasses that each transport maps to its own status or tool error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidQuestionError, ViewfinderError
from ..qa import STRATEGIES, VideoQA
from .jobs import Job, JobQueue
from .library import Library, LibraryVideo

logger = logging.getLogger(__name__)

PARTS_NEEDED = ("shots", "speech", "screen_text", "visual")


@dataclass(frozen=True)
class ServiceLimits:
    """Bounds that keep one client from exhausting the server."""

    # Longest question, in characters.
    max_question_chars: int = 2000
    # Longest answer option, in characters.
    max_option_chars: int = 500
    # Questions answered at the same time (each holds the answering model).
    max_concurrent_asks: int = 1
    # Questions allowed to wait for a free slot; beyond this an ask is refused (HTTP 429).
    max_waiting_asks: int = 4
    # Index jobs allowed to wait in the queue.
    max_queued_jobs: int = 16
    # Index jobs run at the same time.
    index_workers: int = 1
    # Answers kept for their explanation pages (oldest dropped first).
    kept_answers: int = 64
    # Hits returned per search.
    max_search_hits: int = 50
    # Seconds a refused client is told to wait before retrying (Retry-After).
    retry_after_seconds: int = 5


class BusyError(ViewfinderError):
    """Every ask slot and waiting place is taken; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotIndexedError(ViewfinderError):
    """The video's index is not built yet; queue an index job first."""


class AnswerNotFoundError(ViewfinderError, LookupError):
    """No kept answer has this id (it expired or never existed)."""


@dataclass
class _KeptAnswer:
    answer: Any
    video: LibraryVideo
    question: str
    strategy: str
    renders: dict[str, bytes]


class _AskGate:
    """``running`` slots plus ``waiting`` places; a caller beyond both is refused at once."""

    def __init__(self, running: int, waiting: int) -> None:
        self._slots = threading.Semaphore(max(1, running))
        self._admitted = threading.BoundedSemaphore(max(1, running) + max(0, waiting))

    @contextlib.contextmanager
    def enter(self, refusal: BusyError) -> Iterator[None]:
        """Hold a slot for the block (waiting for one if a place is free); else raise."""
        if not self._admitted.acquire(blocking=False):
            raise refusal
        try:
            with self._slots:
                yield
        finally:
            self._admitted.release()


class Service:
    """The library, the models and the job queue behind every interface.

    Args:
        library: The videos served.
        qa: The one VideoQA (and so the one ``runtime.Models``) of this process.
        limits: Request bounds.
        state_dir: Where the job queue is saved (None: ``<cache>/serve``).
    """

    def __init__(
        self,
        library: Library,
        qa: VideoQA | None = None,
        limits: ServiceLimits | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.library = library
        self.qa = qa or VideoQA()
        self.limits = limits or ServiceLimits()
        self.state_dir = state_dir or self.qa.settings.cache_root / "serve"
        self._gate = _AskGate(self.limits.max_concurrent_asks, self.limits.max_waiting_asks)
        self._answers: OrderedDict[str, _KeptAnswer] = OrderedDict()
        self._variants: dict[str, VideoQA] = {}
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()  # matplotlib is not thread-safe
        self._status: dict[tuple[str, float, int], tuple[float, dict[str, Any]]] = {}
        self._handles: dict[tuple[str, float, int], Any] = {}
        self.started_at = time.time()
        self.jobs = JobQueue(
            self._run_index,
            workers=self.limits.index_workers,
            max_queued=self.limits.max_queued_jobs,
            state_path=self.state_dir / "jobs.json",
        )

    def close(self) -> None:
        self.jobs.close()

    # ------------------------------------------------------------------ library

    def list_videos(self) -> list[dict[str, Any]]:
        """Every video with its duration and index status (rescans the roots)."""
        return [self.describe(v) for v in self.library.scan()]

    def video(self, vid: str) -> dict[str, Any]:
        return self.describe(self.library.get(vid))

    def describe(self, video: LibraryVideo) -> dict[str, Any]:
        """Id, relative path, duration and per-part index state of ``video``."""
        path = video.path
        stat = path.stat()
        key = (video.id, stat.st_mtime, stat.st_size)
        seen = self._status.get(key)
        # An index may also be built by another process (the CLI, another server on the same
        # cache): a video not yet indexed is looked at again after a few seconds.
        if seen is None or (not seen[1]["indexed"] and time.monotonic() - seen[0] > 5.0):
            seen = (time.monotonic(), self._index_status(path))
            self._status[key] = seen
        cached = seen[1]
        job = self.jobs.latest(video.id)
        return {
            "id": video.id,
            "path": video.relpath,
            "root": self.library.roots.index(video.root),
            "size_bytes": stat.st_size,
            **cached,
            "job": job.as_dict() if job is not None else None,
        }

    def _index_status(self, path: Path) -> dict[str, Any]:
        from ..indexes.build import index_state
        from ..tools.video import probe

        try:
            info = probe(path)
            parts = index_state(path, self.qa.settings, models=self.qa.models)
        except ViewfinderError as e:  # a broken file is listed with the reason, not hidden
            return {"duration": None, "indexed": False, "parts": {}, "error": str(e)}
        indexed = all(s == "current" or s.startswith("unavailable") for s in parts.values())
        return {"duration": round(info.duration, 3), "indexed": indexed, "parts": parts}

    def _forget_status(self, vid: str) -> None:
        with self._lock:
            for key in [k for k in self._status if k[0] == vid]:
                self._status.pop(key, None)
            for key in [k for k in self._handles if k[0] == vid]:
                self._handles.pop(key, None)

    # ------------------------------------------------------------------ index jobs

    def queue_index(self, vid: str) -> dict[str, Any]:
        """Queue an index job for the video (or return its unfinished one)."""
        video = self.library.get(vid)
        return self.jobs.submit(video.id).as_dict()

    def _run_index(self, job: Job, progress: Any) -> dict[str, Any]:
        video = self.library.get(job.video)
        try:
            handle = self.qa.index(video.path, progress=progress)
        finally:
            self._forget_status(video.id)
        return {
            "clips": len(handle.clips),
            "speech_segments": len(handle.speech_segments),
            "text_spans": len(handle.text_spans),
            "available": dict(handle.available),
            "work": dict(handle.work),
            "seconds": {k: round(v, 2) for k, v in handle.seconds.items()},
        }

    def handle(self, video: LibraryVideo) -> Any:
        """The loaded index of an indexed video (never builds one).

        Raises:
            NotIndexedError: some part is missing or stale.
        """
        if not self.describe(video)["indexed"]:
            raise NotIndexedError(
                f"{video.relpath} is not indexed yet; queue it with POST /videos/{video.id}/index "
                "(or the index_video tool) and wait for the job to finish."
            )
        stat = video.path.stat()
        key = (video.id, stat.st_mtime, stat.st_size)
        handle = self._handles.get(key)
        if handle is None:  # loaded once per file version (qa.index re-hashes the file)
            handle = self._handles[key] = self.qa.index(video.path)
        return handle

    # ------------------------------------------------------------------ questions

    def ask(
        self,
        vid: str,
        question: str,
        options: Sequence[str] | None = None,
        budget: int | None = None,
        strategy: str | None = None,
    ) -> dict[str, Any]:
        """The ``ask --json`` object, plus ``id`` and ``explain`` links.

        Raises:
            BusyError: all ask slots and waiting places are taken.
            NotInLibraryError, NotIndexedError, InvalidQuestionError: bad request.
        """
        lim = self.limits
        if len(question or "") > lim.max_question_chars:
            raise InvalidQuestionError(
                f"The question has {len(question)} characters; the limit is "
                f"{lim.max_question_chars}. Shorten it."
            )
        if options is not None and any(len(str(o)) > lim.max_option_chars for o in options):
            raise InvalidQuestionError(
                f"An option is longer than {lim.max_option_chars} characters; shorten it."
            )
        video = self.library.get(vid)
        qa = self._variant(budget, strategy)
        if qa.settings.strategy == "agent":
            self.handle(video)  # refuse before waiting for a slot: the agent needs the index
        busy = BusyError(
            f"{lim.max_concurrent_asks} question(s) are being answered and "
            f"{lim.max_waiting_asks} are waiting; retry in {lim.retry_after_seconds} s.",
            lim.retry_after_seconds,
        )
        with self._gate.enter(busy):
            answer = qa.ask(video.path, question, options)
        answer_id = uuid.uuid4().hex[:16]
        with self._lock:
            self._answers[answer_id] = _KeptAnswer(
                answer, video, question, qa.settings.strategy, {}
            )
            while len(self._answers) > lim.kept_answers:
                self._answers.popitem(last=False)
        out = answer.as_dict()
        out["usage"] = _public_usage(out["usage"], video)
        out["id"] = answer_id
        out["video"] = video.id
        out["explain"] = {
            "html": f"/answers/{answer_id}/explain.html",
            "png": f"/answers/{answer_id}/explain.png",
        }
        return out

    def _variant(self, budget: int | None, strategy: str | None) -> VideoQA:
        """The VideoQA for a request's budget/strategy, sharing the one ``Models``."""
        if budget is None and strategy is None:
            return self.qa
        if strategy is not None and strategy not in STRATEGIES:
            raise InvalidQuestionError(
                f"Unknown strategy {strategy!r}; choose one of {list(STRATEGIES)}"
            )
        if budget is not None and not 16 <= budget <= 65536:
            raise InvalidQuestionError(f"budget {budget} is out of range; use 16-65536 tokens.")
        changes = {k: v for k, v in {"budget": budget, "strategy": strategy}.items() if v}
        settings = dataclasses.replace(self.qa.settings, **changes)
        key = repr(sorted(changes.items()))
        with self._lock:
            qa = self._variants.get(key)
            if qa is None:
                # One process, one Models: loaded models are shared, never loaded twice; the
                # index handles too (a budget or strategy does not change an index).
                qa = VideoQA(settings, models=self.qa.models)
                qa._indexes = self.qa._indexes
                self._variants[key] = qa
            return qa

    def explanation(self, answer_id: str, fmt: str) -> bytes:
        """The explanation of a kept answer as ``png`` or ``html`` bytes (rendered once)."""
        with self._lock:
            kept = self._answers.get(answer_id)
        if kept is None:
            raise AnswerNotFoundError(
                f"No answer {answer_id!r} is kept (the server keeps the last "
                f"{self.limits.kept_answers}); ask again."
            )
        with self._render_lock:
            if fmt not in kept.renders:
                kept.renders.update(self._render(kept))
        return kept.renders[fmt]

    def _render(self, kept: _KeptAnswer) -> dict[str, bytes]:
        import io

        from ..agent.explain import render_figure, render_html

        index = self.qa.index(kept.video.path) if kept.strategy == "agent" else None
        fig = render_figure(kept.answer, kept.video.path, index=index, question=kept.question)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=fig.dpi)
        import matplotlib.pyplot as plt

        plt.close(fig)
        png = buffer.getvalue()
        html = render_html(kept.answer, png, kept.question).encode()
        return {"png": png, "html": html}

    # ------------------------------------------------------------------ search and transcript

    def search(self, query: str, vid: str | None = None, k: int = 10) -> list[dict[str, Any]]:
        """Fused speech / screen-text / visual hits across the library (or one video)."""
        if not query or not query.strip():
            raise InvalidQuestionError("The search query is empty; pass q=words to look for.")
        if len(query) > self.limits.max_question_chars:
            raise InvalidQuestionError(
                f"The query is longer than {self.limits.max_question_chars} characters."
            )
        k = max(1, min(int(k), self.limits.max_search_hits))
        videos = [self.library.get(vid)] if vid else self.library.scan()
        hits: list[dict[str, Any]] = []
        for video in videos:
            if vid is None and not self.describe(video)["indexed"]:
                continue  # across the library, unindexed videos are skipped (listed as such)
            for h in self.handle(video).search(query, k):
                hits.append(
                    {
                        "video": video.id,
                        "path": video.relpath,
                        "start": round(h.start, 2),
                        "end": round(h.end, 2),
                        "modality": h.modality,
                        "text": h.text,
                        "score": round(float(h.score), 5),
                    }
                )
        hits.sort(key=lambda h: (-h["score"], h["video"], h["start"]))
        return hits[:k]

    def transcript(self, vid: str, start: float = 0.0, end: float | None = None) -> dict[str, Any]:
        """Speech segments and on-screen text spans that overlap ``[start, end]`` seconds."""
        video = self.library.get(vid)
        handle = self.handle(video)
        stop = float("inf") if end is None else float(end)
        if stop < start:
            raise InvalidQuestionError(f"end ({end}) is before start ({start}).")

        def overlaps(item: Any) -> bool:
            return item.end >= start and item.start <= stop

        return {
            "video": video.id,
            "start": start,
            "end": end,
            "speech": [
                {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text}
                for s in handle.speech_segments
                if overlaps(s)
            ],
            "screen_text": [
                {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text}
                for s in handle.text_spans
                if overlaps(s)
            ],
        }

    # ------------------------------------------------------------------ models

    def models(self) -> dict[str, Any]:
        """Loaded roles (name, path, sha256), missing ones with the reason, and the settings."""
        s = self.qa.settings
        return {
            "loaded": self.qa.models.describe(),
            "configured": {
                "asr": s.asr,
                "ocr": s.ocr,
                "llm": s.llm,
                "text_embedding": s.text_embedding,
                "clip": s.clip,
                "vlm": s.vlm,
                "strategy": s.strategy,
                "budget": s.budget,
            },
        }


def _public_usage(usage: dict[str, Any], video: LibraryVideo) -> dict[str, Any]:
    """``usage`` with the video's absolute path replaced by its library-relative one."""
    out = dict(usage)
    if isinstance(out.get("video"), dict):
        out["video"] = {**out["video"], "path": video.relpath}
    return out
