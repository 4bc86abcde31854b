"""Resumable runner: per-item records, resume after a kill, errors recorded, video grouping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from viewfinder.answer import Answer
from viewfinder.eval.datasets import Dataset, Item
from viewfinder.eval.runner import Answerer, ResultsLog, RunConfig, run


@dataclass(frozen=True)
class ScriptedAnswerer(Answerer):
    """Answers from a script {id: letter | "raise:Type:msg" | "kill" | "exit"}; logs calls."""

    script: dict
    calls: Path  # one line per prepare / answer call, shared across processes

    def _log(self, what: str) -> None:
        with open(self.calls, "a") as f:
            f.write(what + "\n")

    def prepare(self, video: Path, subtitles=None) -> None:
        extra = f" with {len(subtitles)} subtitle lines" if subtitles is not None else ""
        self._log(f"prepare {video.name}{extra}")

    def answer(self, item: Item) -> Answer:
        self._log(f"answer {item.id}")
        step = self.script[item.id]
        if step == "kill":  # the whole runner dies mid-item, like a SIGKILL from the OOM killer
            os.kill(os.getpid(), signal.SIGKILL)
        if step == "exit":  # a worker process dies (a native crash in a decoder)
            os._exit(3)
        if step.startswith("raise:"):
            _, kind, msg = step.split(":", 2)
            raise {"ValueError": ValueError, "RuntimeError": RuntimeError}[kind](msg)
        return Answer(
            text=f"{step}) option",
            choice=step,
            confidence=0.5,
            usage={"visual_tokens": 100, "text_tokens": 20, "seconds": {"answer": 0.1}},
        )


@dataclass(frozen=True)
class ScriptedFactory:
    script: dict
    calls: Path

    def __call__(self) -> Answerer:
        return ScriptedAnswerer(self.script, self.calls)


def make_dataset(root: Path, n_videos: int = 3, per_video: int = 2) -> Dataset:
    items = []
    for v in range(n_videos):
        video = root / f"v{v}.mp4"
        video.write_bytes(b"x")
        for q in range(per_video):
            items.append(
                Item(f"v{v}q{q}", "Which?", ("a", "b", "c", "d"), "B", video, {"task": f"t{q}"})
            )
    return Dataset("mlvu", tuple(items), ())


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_every_item_logged_and_each_video_indexed_once(tmp_path: Path, executor: str) -> None:
    """All items are answered and scored; each video is prepared (indexed) exactly once."""
    ds = make_dataset(tmp_path)
    script = {it.id: "B" if it.id.endswith("q0") else "C" for it in ds.items}
    log = tmp_path / "results.jsonl"
    summary = run(
        ds,
        ScriptedFactory(script, tmp_path / "calls"),
        RunConfig("mlvu", log, executor=executor, workers=2),
    )
    assert (summary.answered, summary.failed, summary.already_done) == (6, 0, 0)
    records = ResultsLog(log).load()
    assert sorted(records) == sorted(it.id for it in ds.items)
    assert [records[i]["correct"] for i in ("v0q0", "v0q1")] == [True, False]
    assert records["v1q0"]["usage"]["visual_tokens"] == 100
    prepares = [c for c in calls(tmp_path / "calls") if c.startswith("prepare")]
    assert sorted(prepares) == ["prepare v0.mp4", "prepare v1.mp4", "prepare v2.mp4"]


def test_subtitles_in_item_meta_reach_prepare_not_the_log(tmp_path: Path) -> None:
    """A video's subtitles (Item.meta["subtitles"]) are handed to prepare in the worker
    process, and kept out of the results log."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    subs = [[0.0, 1.5, "hello"], [2.0, 3.0, "again"]]
    items = tuple(
        Item(f"q{n}", "Which?", ("a", "b"), "A", video, {"task": "t", "subtitles": subs})
        for n in range(2)
    )
    log = tmp_path / "results.jsonl"
    run(
        Dataset("longvideobench", items, ()),
        ScriptedFactory({"q0": "A", "q1": "B"}, tmp_path / "calls"),
        RunConfig("longvideobench", log, executor="local", workers=1),
    )
    assert [c for c in calls(tmp_path / "calls") if c.startswith("prepare")] == [
        "prepare v.mp4 with 2 subtitle lines"
    ]
    assert all(r["meta"] == {"task": "t"} for r in ResultsLog(log).load().values())


def test_item_error_is_recorded_and_run_continues(tmp_path: Path) -> None:
    """An exception on one item is logged with its type and message; later items still run."""
    ds = make_dataset(tmp_path, n_videos=2)
    script = {it.id: "B" for it in ds.items} | {"v0q0": "raise:ValueError:frame 12 undecodable"}
    log = tmp_path / "results.jsonl"
    summary = run(ds, ScriptedFactory(script, tmp_path / "calls"), RunConfig("mlvu", log))
    assert (summary.answered, summary.failed) == (3, 1)
    bad = ResultsLog(log).load()["v0q0"]
    assert bad["status"] == "error" and bad["correct"] is False
    assert bad["error"] == {
        "type": "ValueError",
        "message": "frame 12 undecodable",
        "stage": "answer",
    }
    # Errors count as done on resume unless asked to retry them.
    script["v0q0"] = "B"
    again = run(ds, ScriptedFactory(script, tmp_path / "calls"), RunConfig("mlvu", log))
    assert again.answered == 0 and again.already_done == 4
    retry = run(
        ds, ScriptedFactory(script, tmp_path / "calls"), RunConfig("mlvu", log, retry_failed=True)
    )
    assert retry.answered == 1
    assert ResultsLog(log).load()["v0q0"]["status"] == "ok"


def test_dead_worker_marks_its_items_and_others_finish(tmp_path: Path) -> None:
    """A worker process that dies: its unfinished items become errors, other videos finish."""
    ds = make_dataset(tmp_path, n_videos=3)
    script = {it.id: "B" for it in ds.items} | {"v1q0": "exit"}
    log = tmp_path / "results.jsonl"
    summary = run(
        ds,
        ScriptedFactory(script, tmp_path / "calls"),
        RunConfig("mlvu", log, executor="local", workers=1),
    )
    records = ResultsLog(log).load()
    assert sorted(records) == sorted(it.id for it in ds.items)
    assert records["v1q0"]["error"]["message"] == "worker process exited with code 3"
    assert records["v1q1"]["status"] == "error"  # same group, never reached
    assert records["v2q1"]["status"] == "ok"  # a fresh worker took over the queue
    assert summary.failed == 2


RESUME_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_eval_runner import ScriptedFactory, make_dataset
from viewfinder.eval.runner import RunConfig, run
root = Path({root!r})
ds = make_dataset(root)
script = {{it.id: "B" for it in ds.items}}
script["v1q1"] = {step!r}
run(ds, ScriptedFactory(script, root / "calls"), RunConfig("mlvu", root / "results.jsonl",
    executor="inline"))
"""


def test_killed_run_resumes_without_redoing_work(tmp_path: Path) -> None:
    """SIGKILL mid-item loses only that item; the re-run answers only what is missing."""

    def launch(step: str) -> int:
        code = RESUME_SCRIPT.format(tests=str(Path(__file__).parent), root=str(tmp_path), step=step)
        return subprocess.run([sys.executable, "-c", code], timeout=120).returncode

    assert launch("kill") == -signal.SIGKILL
    log = ResultsLog(tmp_path / "results.jsonl")
    assert sorted(log.load()) == ["v0q0", "v0q1", "v1q0"]  # v1q1 was in flight
    first_calls = calls(tmp_path / "calls")
    assert launch("B") == 0
    second_calls = calls(tmp_path / "calls")[len(first_calls) :]
    assert [c for c in second_calls if c.startswith("answer")] == [
        "answer v1q1",
        "answer v2q0",
        "answer v2q1",
    ]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 and len({json.loads(x)["id"] for x in lines}) == 6


def test_torn_last_line_is_dropped_and_trimmed(tmp_path: Path) -> None:
    """A half-written last line (kill during write) is ignored and cut before the next append."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "status": "ok"}\n{"id": "b", "sta')
    log = ResultsLog(path)
    assert list(log.load()) == ["a"]
    log.append({"id": "c", "status": "ok"})
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["a", "c"]


@pytest.mark.slow
def test_ray_executor_runs_on_local_cluster(tmp_path: Path) -> None:
    """--executor ray: actors on a local ray.init(num_cpus=1) answer and stream every record."""
    ray = pytest.importorskip("ray")
    import test_eval_runner

    ray.cloudpickle.register_pickle_by_value(test_eval_runner)  # workers cannot import tests/
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        ds = make_dataset(tmp_path, n_videos=2)
        script = {it.id: "B" for it in ds.items} | {"v0q1": "raise:RuntimeError:no audio"}
        log = tmp_path / "results.jsonl"
        summary = run(
            ds,
            ScriptedFactory(script, tmp_path / "calls"),
            RunConfig("mlvu", log, executor="ray", workers=1),
        )
    finally:
        ray.shutdown()
    records = ResultsLog(log).load()
    assert (summary.answered, summary.failed) == (3, 1)
    assert records["v0q1"]["error"]["type"] == "RuntimeError"
    assert records["v1q1"]["correct"] is True
    assert sorted(c for c in calls(tmp_path / "calls") if c.startswith("prepare")) == [
        "prepare v0.mp4",
        "prepare v1.mp4",
    ]
