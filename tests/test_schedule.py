"""Index stages shared by threads: every chunk done once, the part written once, failures kept."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from viewfinder.indexes.schedule import Stage, StageBoard, ThreadReaders


class ChunkJob:
    """Numbered chunks; records which thread did each one."""

    def __init__(self, chunks: int, seconds: float = 0.01, fail_at: int | None = None) -> None:
        self.todo = list(range(chunks))
        self.done: dict[int, str] = {}
        self.lock = threading.Lock()
        self.seconds, self.fail_at = seconds, fail_at

    def work(self) -> None:
        while True:
            with self.lock:
                if not self.todo:
                    return
                chunk = self.todo.pop(0)
            if chunk == self.fail_at:
                raise RuntimeError(f"chunk {chunk} failed")
            time.sleep(self.seconds)
            with self.lock:
                self.done[chunk] = threading.current_thread().name


def test_two_threads_share_a_stage_and_it_is_finished_once() -> None:
    """Both threads take chunks of one long stage; the part is written once, after all chunks."""
    job = ChunkJob(40)
    finished: list[int] = []
    stage = Stage("speech", lambda: job, lambda j: finished.append(len(j.done)))
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: stage.work(), range(2)))
    assert sorted(job.done) == list(range(40))
    assert len(set(job.done.values())) == 2  # the second core really helped
    assert finished == [40]
    assert stage.seconds is not None and stage.seconds > 0


def test_a_failed_chunk_never_writes_a_part() -> None:
    """A chunk that raises propagates and the stage is not finished with a hole in it."""
    finished: list[int] = []
    stage = Stage("frames", lambda: ChunkJob(5, fail_at=2), lambda j: finished.append(1))
    with pytest.raises(RuntimeError, match="chunk 2"):
        stage.work()
    stage.work()  # a later caller does not finish the broken stage either
    assert finished == [] and stage.seconds is None


def test_make_runs_once_and_none_means_nothing_to_do() -> None:
    """The job is made by the first caller only; a stage whose make returns None is a no-op."""
    made: list[int] = []
    stage = Stage("frames", lambda: made.append(1), lambda j: pytest.fail("finished"))
    stage.work()
    stage.work()
    assert made == [1]


def test_board_hands_stages_to_the_helper_as_they_are_posted() -> None:
    """The helper starts on the first stage before the others exist and ends after close()."""
    board = StageBoard()
    seen: list[str] = []
    helper = threading.Thread(target=lambda: seen.extend(s.name for s in board))
    helper.start()
    board.post(Stage("speech", lambda: None, lambda j: None))
    time.sleep(0.05)
    assert seen == ["speech"]
    board.post(None)
    board.post(Stage("screen text", lambda: None, lambda j: None))
    board.close()
    helper.join(timeout=5)
    assert not helper.is_alive() and seen == ["speech", "screen text"]


def test_thread_readers_open_one_reader_per_thread_and_close_all() -> None:
    """Each thread decodes with its own reader; close() closes every one of them."""

    class Reader:
        def __init__(self) -> None:
            self.closed = False
            self.thread = threading.current_thread().name

        def frames_at(self, times: list[float], max_side: int | None = None) -> list[str]:
            assert threading.current_thread().name == self.thread
            return [f"{self.thread}:{t}" for t in times]

        def close(self) -> None:
            self.closed = True

    opened: list[Reader] = []
    readers = ThreadReaders(lambda: opened.append(Reader()) or opened[-1])
    with ThreadPoolExecutor(2) as pool:
        barrier = threading.Barrier(2)

        def decode(t: float) -> list[str]:
            barrier.wait()  # both threads are alive at once, so each opens its own reader
            return readers.frames_at([t, t]) + readers.frames_at([t])

        results = list(pool.map(decode, [1.0, 2.0]))
    assert len(opened) == 2 and all(len(r) == 3 for r in results)
    readers.close()
    assert all(r.closed for r in opened)
