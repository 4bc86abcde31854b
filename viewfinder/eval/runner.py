"""Resumable batch runner: items grouped by video, results appended to a JSONL log.

- The log holds one JSON object per answered item, keyed by ``id``, written with flush +
  fsync as each item finishes: a killed run loses at most the item in flight, and re-running
  skips every id already in the log (``retry_failed`` re-runs the ones that errored).
- An exception while indexing or answering is recorded on the item (type + message) and the
  run goes on; a worker process that dies marks its unfinished items as errors.
- Items are grouped by video, and each group goes to one worker, so a video is indexed once.
- A local worker ends when the runner does, ``kill -9`` included (:func:`exit_with_parent`);
  an item whose video resolves outside ``--videos`` is recorded as failed, never opened.
- Executors: ``inline`` (this process), ``local`` (a process pool; the default) and ``ray``
  (actors on a Ray cluster; ``ray.init`` is called unless Ray is already initialised).

The answering engine is reached through an :class:`Answerer` built by a picklable factory in
each worker, so tests can drive the runner with a scripted answerer and no models.

One module on purpose (~520 lines): the three executors are small and share the grouping,
resume and record logic that keeps a killed run's log consistent.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..answer import Answer
from ..errors import OutputPathError, UnsafePathError, ViewfinderError, require
from ..settings import Settings
from .datasets import LETTERS, Dataset, Item
from .lifeline import exit_with_parent
from .metrics import is_correct, parse_response
from .paths import inside_root

logger = logging.getLogger(__name__)

EXECUTORS = ("inline", "local", "ray")


class Answerer(ABC):
    """What the runner evaluates: index a video once, then answer its items."""

    def prepare(  # noqa: B027 - optional hook, default no-op
        self, video: Path, subtitles: Sequence[Sequence[Any]] | None = None
    ) -> None:
        """Build whatever per-video state answering needs (called once per video group).

        ``subtitles`` are the group's ``[start, end, text]`` lines when the benchmark gives
        them (``Item.meta["subtitles"]``): the video's speech evidence instead of ASR.
        """

    @abstractmethod
    def answer(self, item: Item) -> Answer:
        """Answer one item about ``item.video``."""


AnswererFactory = Callable[[], Answerer]


class VideoQAAnswerer(Answerer):
    """The real engine: :class:`viewfinder.VideoQA` with the given settings."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: the eval package must load without the engine's extras.
        from .. import VideoQA

        self._qa = VideoQA(settings)

    def prepare(self, video: Path, subtitles: Sequence[Sequence[Any]] | None = None) -> None:
        # Only agent and retrieve have an index to build; uniform reads the video on the first ask.
        if self._qa.settings.strategy in ("agent", "retrieve"):
            self._qa.index(video, subtitles=subtitles)

    def answer(self, item: Item) -> Answer:
        options = list(item.options) if item.options else None
        return self._qa.ask(
            item.video, item.question, options=options, subtitles=item.meta.get("subtitles")
        )


@dataclass(frozen=True)
class VideoQAFactory:
    """Picklable factory of :class:`VideoQAAnswerer` (one engine per worker process)."""

    settings: Settings  # strategy, budget, models and threads of the engine under test

    def __call__(self) -> Answerer:
        return VideoQAAnswerer(self.settings)


@dataclass(frozen=True)
class RunConfig:
    """How to run one (strategy, budget) over a dataset."""

    benchmark: str  # key of metrics.SPECS: decides the answer parser
    results_path: Path  # the append-only JSONL log (created if missing)
    executor: str = "local"  # "inline", "local" (process pool) or "ray"
    workers: int = 1  # parallel workers (processes or Ray actors)
    retry_failed: bool = False  # re-run ids whose logged record is an error
    ray_address: str | None = None  # Ray cluster address; None = start / reuse a local one
    # The --videos folder: an item whose video resolves outside it (``..``, an absolute path,
    # a symlink out) is recorded as failed, never opened. None = no check (library callers).
    videos_root: Path | None = None


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`run` did."""

    already_done: int  # ids found in the log and not re-run
    answered: int  # items answered in this call
    failed: int  # items that raised in this call
    seconds: float  # wall time of this call


class ResultsLog:
    """Append-only JSONL of per-item records; the last record of an id wins."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, dict[str, Any]]:
        """Records by id. A torn last line (a kill mid-write) is dropped with a warning."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines) - 1:
                    logger.warning("Dropping a torn last line in %s (interrupted write)", self.path)
                    continue
                raise ViewfinderError(
                    f"Results log {self.path} line {n + 1} is not JSON. Delete that line (or "
                    "the file, to start over) and re-run."
                ) from None
            records[str(rec["id"])] = rec
        return records

    def check_writable(self) -> None:
        """Create the log (empty) if needed, so an unwritable --out fails before any work."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as e:
            raise OutputPathError(
                f"Cannot write the results log {self.path}: {e.strerror or e}. Pass --out a "
                "folder you can write to."
            ) from e

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (flush + fsync) before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._trim_torn_tail()
        line = json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _trim_torn_tail(self) -> None:
        # A kill mid-write leaves a line without "\n"; appending after it would corrupt the
        # next record too, so cut the file back to its last complete line.
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)


def run(dataset: Dataset, factory: AnswererFactory, config: RunConfig) -> RunSummary:
    """Answer every runnable item of ``dataset`` not already in the results log.

    Args:
        dataset: the loaded benchmark (skipped items are not run; the report lists them).
        factory: builds the :class:`Answerer` inside each worker.
        config: executor, workers and where the log is.

    Returns:
        Counts for this call; the log holds the records.
    """
    if config.executor not in EXECUTORS:
        raise ViewfinderError(
            f"Unknown executor {config.executor!r}; choose one of {', '.join(EXECUTORS)}."
        )
    log = ResultsLog(config.results_path)
    log.check_writable()
    done = log.load()
    todo = [
        it
        for it in dataset.items
        if it.id not in done or (config.retry_failed and done[it.id]["status"] == "error")
    ]
    already_done = len(dataset.items) - len(todo)
    start = time.perf_counter()
    counts = {"ok": 0, "error": 0}

    def on_record(record: dict[str, Any]) -> None:
        log.append(record)
        counts[record["status"]] += 1

    if config.videos_root is not None:
        todo = _drop_outside(todo, config.videos_root, on_record)
    groups = group_by_video(todo)

    logger.info(
        "%s: %d items to run in %d video groups (%d already in %s)",
        dataset.name,
        len(todo),
        len(groups),
        already_done,
        log.path,
    )
    if groups:
        execute = {"inline": _run_inline, "local": _run_local, "ray": _run_ray}[config.executor]
        execute(groups, factory, config, on_record)
    return RunSummary(already_done, counts["ok"], counts["error"], time.perf_counter() - start)


def _drop_outside(items: list[Item], root: Path, on_record: Callable) -> list[Item]:
    """The items whose video is inside ``root``; the others are recorded as failed."""
    kept = []
    for it in items:
        try:
            inside_root(root, it.video)
        except UnsafePathError as e:
            logger.warning("Item %s refused: %s", it.id, e)
            on_record(error_record(it, e, stage="input"))
            continue
        kept.append(it)
    return kept


Group = tuple[str, Path, tuple[Item, ...]]


def group_by_video(items: Sequence[Item]) -> list[Group]:
    """Groups ``(key, video, items)`` in order of first appearance, one per video file."""
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(str(it.video), []).append(it)
    return [(key, Path(key), tuple(its)) for key, its in groups.items()]


def run_group(
    answerer: Answerer, benchmark: str, video: Path, items: Sequence[Item]
) -> Iterator[dict[str, Any]]:
    """Index ``video`` once, answer its items, yield one record per item (never raises)."""
    t0 = time.perf_counter()
    try:
        # Items of one video share its subtitles (a benchmark gives one file per video).
        answerer.prepare(video, subtitles=items[0].meta.get("subtitles") if items else None)
    except Exception as e:  # recorded per item: one bad video must not stop the run
        logger.warning("Indexing %s failed: %s: %s", video, type(e).__name__, e)
        for it in items:
            yield error_record(it, e, stage="index")
        return
    index_seconds = time.perf_counter() - t0
    for n, it in enumerate(items):
        t1 = time.perf_counter()
        try:
            answer = answerer.answer(it)
        except Exception as e:
            logger.warning("Item %s failed: %s: %s", it.id, type(e).__name__, e)
            yield error_record(it, e, stage="answer")
            continue
        record = ok_record(benchmark, it, answer, time.perf_counter() - t1)
        # Index time belongs to the video: charge it to the group's first item only.
        record["index_seconds"] = index_seconds if n == 0 else 0.0
        yield record


def ok_record(benchmark: str, item: Item, answer: Answer, seconds: float) -> dict[str, Any]:
    """The log record of an answered item, with its strict verdict.

    ``choice`` is the engine's raw multiple-choice response (the letter it scored highest);
    reports score it in both modes (``metrics.score_item``).
    """
    if item.options:
        valid = LETTERS[: len(item.options)]
        choice = answer.choice if answer.choice in tuple(valid) else None
        prediction = choice or parse_response(benchmark, answer.text, len(item.options))
    else:
        prediction = answer.text
    return {
        "id": item.id,
        "status": "ok",
        "video": str(item.video),
        "prediction": prediction,
        "gold": item.answer,
        "correct": False
        if item.meta.get("gold_error")
        else is_correct(prediction, item.answer, item.options),
        "response": answer.text,
        "choice": answer.choice,
        "confidence": float(answer.confidence),
        "seconds": seconds,
        "usage": answer.usage,
        "evidence": [e.as_dict() for e in answer.evidence],
        "meta": _public_meta(item.meta),
    }


def error_record(item: Item, exc: BaseException, stage: str) -> dict[str, Any]:
    """The log record of an item whose indexing or answering raised ``exc``."""
    return {
        "id": item.id,
        "status": "error",
        "video": str(item.video),
        "prediction": None,
        "gold": item.answer,
        "correct": False if item.answer or item.meta.get("gold_error") else None,
        "error": {"type": type(exc).__name__, "message": str(exc), "stage": stage},
        "meta": _public_meta(item.meta),
    }


def _public_meta(meta: dict[str, Any]) -> dict[str, Any]:
    # Subtitles can be thousands of lines: keep them out of every log record.
    return {k: v for k, v in meta.items() if k != "subtitles"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return repr(value)


# ---------------------------------------------------------------------------------------------
# executors


def _run_inline(
    groups: list[Group], factory: AnswererFactory, config: RunConfig, on_record: Callable
) -> None:
    answerer = factory()
    for _, video, items in groups:
        for record in run_group(answerer, config.benchmark, video, items):
            on_record(record)


def _local_worker(factory: AnswererFactory, benchmark: str, conn: Any, runner_pid: int) -> None:
    exit_with_parent(runner_pid)
    try:
        answerer = factory()
    except Exception as e:
        conn.send(("fatal", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    while True:
        task = conn.recv()
        if task is None:
            return
        key, video, items = task
        for record in run_group(answerer, benchmark, video, items):
            conn.send(("record", record))
        conn.send(("done", key))


def _run_local(
    groups: list[Group], factory: AnswererFactory, config: RunConfig, on_record: Callable
) -> None:
    # One pipe per worker and the parent hands out groups itself: a worker that dies (a
    # native crash in a decoder) can then never leave a shared queue lock held.
    import multiprocessing as mp
    from collections import deque
    from multiprocessing.connection import wait

    ctx = mp.get_context()
    todo = deque(groups)
    pending = {key: {it.id: it for it in items} for key, _, items in groups}
    workers: dict[Any, list[Any]] = {}  # parent end of the pipe -> [process, current group]

    def spawn() -> None:
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(
            target=_local_worker,
            args=(factory, config.benchmark, child_end, os.getpid()),
            daemon=True,
        )
        p.start()
        child_end.close()
        workers[parent_end] = [p, None]

    def dispatch(conn: Any) -> None:
        group = todo.popleft() if todo else None
        workers[conn][1] = group[0] if group else None
        conn.send(group)

    def handle(conn: Any, kind: str, value: Any) -> None:
        if kind == "fatal":
            raise ViewfinderError(
                f"The answerer could not start in a worker: {value}. Fix that first (try "
                "`viewfinder ask` on one video to see the full error)."
            )
        if kind == "record":
            pending.get(workers[conn][1], {}).pop(value["id"], None)
            on_record(value)
            return
        if kind == "done":
            for it in pending.pop(value, {}).values():  # lost in transit: never silent
                on_record(error_record(it, RuntimeError("no result returned"), "worker"))
        dispatch(conn)  # "ready" or "done": hand out the next group (or stop)

    def bury(conn: Any) -> None:
        p, key = workers.pop(conn)
        p.join()
        crash = RuntimeError(f"worker process exited with code {p.exitcode}")
        for it in pending.pop(key, {}).values():
            on_record(error_record(it, crash, stage="worker"))
        conn.close()
        if todo:
            spawn()

    for _ in range(max(1, min(config.workers, len(groups)))):
        spawn()
    try:
        while pending and workers:
            for conn in wait(list(workers), timeout=1.0):
                try:
                    kind, value = conn.recv()
                except (EOFError, OSError):
                    bury(conn)
                    continue
                handle(conn, kind, value)
    finally:
        for p, _ in workers.values():
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)


class _RayWorker:
    """Body of the Ray actor: one answerer per actor, streaming records per group."""

    def __init__(self, factory: AnswererFactory, benchmark: str) -> None:
        self.answerer = factory()
        self.benchmark = benchmark

    def ready(self) -> bool:
        return True

    def run_group(self, video: Path, items: tuple[Item, ...]) -> Iterator[dict[str, Any]]:
        yield from run_group(self.answerer, self.benchmark, video, items)


def _run_ray(
    groups: list[Group], factory: AnswererFactory, config: RunConfig, on_record: Callable
) -> None:
    ray = require("ray", "ray", "The ray executor (--executor ray)")
    if not ray.is_initialized():
        ray.init(address=config.ray_address, log_to_driver=False)
    actor_cls = ray.remote(num_cpus=1)(_RayWorker)
    n_actors = max(1, min(config.workers, len(groups)))

    def new_actor() -> Any:
        actor = actor_cls.remote(factory, config.benchmark)
        try:
            ray.get(actor.ready.remote())
        except Exception as e:
            raise ViewfinderError(
                f"The answerer could not start in a Ray actor: {e}. Check that viewfinder and "
                "its extras are installed on every Ray node."
            ) from e
        return actor

    work: queue.Queue[Group] = queue.Queue()
    for g in groups:
        work.put(g)
    out: queue.Queue[dict[str, Any]] = queue.Queue()
    failures: list[BaseException] = []

    def drive(actor: Any) -> None:
        while True:
            try:
                _, video, items = work.get_nowait()
            except queue.Empty:
                return
            remaining = {it.id: it for it in items}
            try:
                stream = actor.run_group.options(num_returns="streaming").remote(video, items)
                for ref in stream:
                    record = ray.get(ref)
                    remaining.pop(record["id"], None)
                    out.put(record)
            except Exception as e:  # actor died: record the group's unfinished items
                for it in remaining.values():
                    out.put(error_record(it, e, stage="worker"))
                try:
                    actor = new_actor()
                except ViewfinderError as fatal:
                    failures.append(fatal)
                    return

    actors = [new_actor() for _ in range(n_actors)]
    threads = [threading.Thread(target=drive, args=(a,), daemon=True) for a in actors]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads) or not out.empty():
        try:
            on_record(out.get(timeout=0.2))
        except queue.Empty:
            continue
    for a in actors:
        ray.kill(a)
    if failures:
        raise failures[0]
