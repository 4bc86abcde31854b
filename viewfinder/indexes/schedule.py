"""Keep every core busy until the whole index is built: stages shared by worker threads.

Speech, screen text and frames each split into chunks (audio chunks, batches of frames to
OCR, chunks of frames to embed) that any thread can take (``SpeechJob``, ``ScreenTextJob``,
``VisualJob``). The indexer runs two threads over the same stages in different orders: the
helper starts on speech while the main thread scans for shots, then reads screen text and
embeds frames; whichever thread runs out of its own work takes chunks of the other's, so
neither core idles while the other still has a long stage to go (before this, the speech
thread often ran alone on one core for the last third of a build).

Each engine runs one CPU thread per call when stages overlap: two single-threaded calls on
two cores beat one two-threaded call (Whisper base: 19.7 CPU-s single-threaded vs 25.8 CPU-s
two-threaded for the same 5 minutes of speech).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol


class Job(Protocol):
    """Chunks of work that several threads may take at once."""

    def work(self) -> None:
        """Take and do chunks until none are left."""


class Stage:
    """A job made on first use (loading audio or a model), shareable by threads, timed.

    The thread that completes the last chunk also calls ``finish``, so a stage's part is
    written as soon as it is done (an interrupted build keeps it) whichever thread did it.

    Args:
        name: Progress-stage name (``"speech"``, ``"screen text"``, ``"frames"``).
        make: Builds the job; returns None when there is nothing to do.
        finish: Called once with the job when its last chunk is done (assembles and writes
            the index part).
    """

    def __init__(
        self,
        name: str,
        make: Callable[[], Job | None],
        finish: Callable[[Any], None],
    ) -> None:
        self.name = name
        self._make, self._finish = make, finish
        self._lock = threading.Lock()
        self._made = self._broken = self._finished = False
        self._active = 0
        self._job: Job | None = None
        self._started: float | None = None
        # Wall seconds from the job's making to its part being written (None until then).
        self.seconds: float | None = None

    def work(self) -> None:
        """Make the job if no thread has yet, take chunks until none are left, and write
        the result if this thread was the last one working on it."""
        with self._lock:  # a second thread waits here while the first one makes the job
            if not self._made:
                self._made = True
                self._started = time.perf_counter()
                try:
                    self._job = self._make()
                except BaseException:
                    self._broken = True
                    raise
            job = None if self._broken else self._job
            if job is None:
                return
            self._active += 1
        try:
            job.work()
        except BaseException:
            with self._lock:
                self._active -= 1
                self._broken = True
            raise
        with self._lock:
            self._active -= 1
            last = self._active == 0 and not (self._finished or self._broken)
            self._finished = self._finished or last
        if last:
            self._finish(job)
            self.seconds = time.perf_counter() - (self._started or 0.0)


class StageBoard:
    """Stages posted as they become ready; a helper thread iterates them in posting order."""

    def __init__(self) -> None:
        self._stages: list[Stage] = []
        self._cond = threading.Condition()
        self._closed = False

    def post(self, stage: Stage | None) -> None:
        """Make ``stage`` available to the helper (None is ignored)."""
        if stage is None:
            return
        with self._cond:
            self._stages.append(stage)
            self._cond.notify_all()

    def close(self) -> None:
        """No more stages: the helper's iteration ends after the posted ones."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Stage]:
        seen = 0
        while True:
            with self._cond:
                while not self._closed and seen >= len(self._stages):
                    self._cond.wait()
                if seen >= len(self._stages):
                    return
                stage = self._stages[seen]
            yield stage
            seen += 1


class ThreadReaders:
    """One open video reader per thread (a reader is not thread-safe), closed together.

    Args:
        open_reader: Opens a reader of the video (``tools.video.open_video(path, backend)``).
    """

    def __init__(self, open_reader: Callable[[], Any]) -> None:
        self._open = open_reader
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []

    def frames_at(self, times: Sequence[float], max_side: int | None = None) -> list[Any]:
        """Frames at ``times`` decoded by this thread's reader."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._open()
            with self._lock:
                self._all.append(reader)
        return reader.frames_at(list(times), max_side=max_side)

    def close(self) -> None:
        """Close every reader opened so far."""
        with self._lock:
            readers, self._all = self._all, []
        for reader in readers:
            reader.close()
