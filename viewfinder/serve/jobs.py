"""Index jobs: a bounded queue run by worker threads, independent of the clients that asked.

A job outlives the request that queued it (a client may disconnect and come back with the
job id). Cancelling a queued job removes it at once; a running job stops at its next
progress report, which the index build turns into a clean stop that keeps its checkpoints.
The queue is saved to a JSON file on every state change, so a restarted server queues its
unfinished jobs again and the index build resumes from those checkpoints.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ViewfinderError
from ..indexes.store import atomic_write_json, read_json

logger = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})
# Finished jobs kept for GET /jobs/{id} after they end.
KEEP_FINISHED = 200


class QueueFullError(ViewfinderError):
    """The job queue holds its maximum number of waiting jobs."""


class JobNotFoundError(ViewfinderError, LookupError):
    """No job has this id."""


class JobCancelled(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised from a progress report to stop a running job that was cancelled."""


@dataclass
class Job:
    """One index job and its progress."""

    id: str
    video: str  # library id of the video
    state: str = QUEUED
    stage: str | None = None  # the stage reported last
    done: float = 0.0  # progress of that stage, in its own unit (seconds or items)
    total: float = 0.0
    # Stage -> {"done", "total"} for every stage reported so far.
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str | None = None
    result: dict[str, Any] | None = None  # what the runner returned (e.g. index summary)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    resumed: bool = False  # queued again by a restarted server
    cancel_requested: bool = False
    version: int = 0  # bumped on every change; lets event streams wait for news
    # When the current stage started and how far it was then (for the ETA).
    _stage_clock: tuple[float, float] = (0.0, 0.0)

    def eta_seconds(self) -> float | None:
        """Seconds left in the current stage, extrapolated from its rate so far."""
        if self.state != RUNNING or not self.total or self.done <= 0:
            return None
        since, done0 = self._stage_clock
        rate = (self.done - done0) / max(time.monotonic() - since, 1e-6)
        if rate <= 0:
            return None
        return round(max(self.total - self.done, 0.0) / rate, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "video": self.video,
            "state": self.state,
            "stage": self.stage,
            "done": round(self.done, 2),
            "total": round(self.total, 2),
            "eta_seconds": self.eta_seconds(),
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "error": self.error,
            "result": self.result,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "resumed": self.resumed,
            "cancel_requested": self.cancel_requested,
        }


Runner = Callable[[Job, Callable[[str, float, float], None]], dict[str, Any]]


class JobQueue:
    """Runs ``runner(job, progress)`` for queued jobs on ``workers`` threads.

    Args:
        runner: Does the work; reports ``progress(stage, done, total)``; returns a summary.
        workers: Jobs run at the same time.
        max_queued: Waiting jobs accepted before :meth:`submit` raises QueueFullError.
        state_path: JSON file the queue is saved to and restored from (None: not saved).
    """

    def __init__(
        self,
        runner: Runner,
        workers: int = 1,
        max_queued: int = 16,
        state_path: Path | None = None,
    ) -> None:
        self._runner = runner
        self._max_queued = max_queued
        self._state_path = state_path
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[str] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._restore()
        self._threads = [
            threading.Thread(target=self._work, name=f"viewfinder-job-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ client side

    def submit(self, video: str) -> Job:
        """Queue an index job for ``video``; an unfinished job for it is returned instead."""
        with self._cond:
            for job in self._jobs.values():
                if job.video == video and job.state not in FINISHED:
                    return job
            if len(self._waiting) >= self._max_queued:
                raise QueueFullError(
                    f"The index queue is full ({self._max_queued} jobs waiting); "
                    "retry when a job has finished."
                )
            job = Job(id=uuid.uuid4().hex[:12], video=video)
            self._jobs[job.id] = job
            self._waiting.append(job.id)
            self._changed(job, save=True)
            return job

    def get(self, job_id: str) -> Job:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFoundError(f"No job {job_id!r}; list jobs with GET /jobs.")
            return job

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._jobs.values())

    def latest(self, video: str) -> Job | None:
        """The most recent job of ``video``."""
        with self._cond:
            mine = [j for j in self._jobs.values() if j.video == video]
            return max(mine, key=lambda j: j.created_at) if mine else None

    def snapshot(self, job_id: str) -> tuple[int, dict[str, Any]]:
        """(version, state dict) of a job, read consistently."""
        with self._cond:
            job = self.get(job_id)
            return job.version, job.as_dict()

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one at its next progress report."""
        with self._cond:
            job = self.get(job_id)
            if job.state == QUEUED:
                self._waiting.remove(job.id)
                self._finish(job, CANCELLED)
            elif job.state == RUNNING:
                job.cancel_requested = True
                self._changed(job)
            return job

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers; a running job is asked to stop and stays queued for a restart."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    # ------------------------------------------------------------------ worker side

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._jobs[self._waiting.popleft()]
                job.state, job.started_at = RUNNING, time.time()
                self._changed(job, save=True)
            self._run(job)

    def _run(self, job: Job) -> None:
        def progress(stage: str, done: float, total: float) -> None:
            with self._cond:
                if job.cancel_requested or self._closed:
                    raise JobCancelled(job.id)
                if stage != job.stage:
                    job._stage_clock = (time.monotonic(), float(done))
                job.stage, job.done, job.total = stage, float(done), float(total)
                job.stages[stage] = {"done": round(done, 2), "total": round(total, 2)}
                self._changed(job)

        try:
            try:
                result = self._runner(job, progress)
            except Exception as e:
                # A stop we asked for may surface as another stage's own cancellation.
                if job.cancel_requested or self._closed:
                    raise JobCancelled(job.id) from e
                raise
        except JobCancelled:
            with self._cond:
                if self._closed and not job.cancel_requested:
                    job.state = QUEUED  # shutting down: the next server run resumes it
                    self._save()
                else:
                    self._finish(job, CANCELLED)
            return
        except Exception as e:  # one failed job must not stop the queue
            # A ViewfinderError message is the user's fix; anything else is a bug to log.
            if not isinstance(e, ViewfinderError):
                logger.exception("index job %s failed", job.id)
            with self._cond:
                job.error = str(e) or type(e).__name__
                self._finish(job, FAILED)
            return
        with self._cond:
            job.result = result
            self._finish(job, DONE)

    # ------------------------------------------------------------------ bookkeeping

    def _finish(self, job: Job, state: str) -> None:
        job.state, job.finished_at = state, time.time()
        self._changed(job, save=True)
        finished = sorted(
            (j for j in self._jobs.values() if j.state in FINISHED), key=lambda j: j.created_at
        )
        for old in finished[:-KEEP_FINISHED]:
            del self._jobs[old.id]

    def _changed(self, job: Job, save: bool = False) -> None:
        job.version += 1
        self._cond.notify_all()
        if save:
            self._save()

    def _save(self) -> None:
        if self._state_path is None:
            return
        rows = [
            {"id": j.id, "video": j.video, "state": j.state, "created_at": j.created_at}
            | ({"error": j.error} if j.error else {})
            for j in self._jobs.values()
        ]
        atomic_write_json(self._state_path, {"format": 1, "jobs": rows})

    def _restore(self) -> None:
        if self._state_path is None:
            return
        saved = read_json(self._state_path) or {}
        for row in saved.get("jobs", []):
            job = Job(id=row["id"], video=row["video"], created_at=row.get("created_at", 0.0))
            if row.get("state") in (QUEUED, RUNNING):
                job.resumed = row.get("state") == RUNNING or bool(row.get("resumed"))
                self._waiting.append(job.id)
            else:
                job.state, job.error = row.get("state", DONE), row.get("error")
            self._jobs[job.id] = job
        if self._waiting:
            logger.info("queued %d unfinished index jobs again", len(self._waiting))
