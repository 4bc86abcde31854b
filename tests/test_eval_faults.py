"""`viewfinder eval` under faults: a killed runner takes its workers with it, and annotation
paths that leave --videos are recorded as failed items, never opened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from viewfinder.answer import Answer
from viewfinder.errors import UnsafePathError
from viewfinder.eval.datasets import Item, load_jsonl
from viewfinder.eval.paths import inside_root
from viewfinder.eval.runner import Answerer, ResultsLog, RunConfig, run

TESTS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class HangingAnswerer(Answerer):
    """Writes its pid on prepare, then blocks forever in answer (a model call that never ends)."""

    pids: Path  # folder: one file per worker process, named by its pid

    def prepare(self, video: Path, subtitles=None) -> None:
        (self.pids / str(os.getpid())).write_text(video.name)

    def answer(self, item: Item) -> Answer:
        while True:
            time.sleep(60)


@dataclass(frozen=True)
class HangingFactory:
    pids: Path

    def __call__(self) -> Answerer:
        return HangingAnswerer(self.pids)


RUNNER_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_eval_faults import HangingFactory
from test_eval_runner import make_dataset
from viewfinder.eval import lifeline, runner
if {watchdog_only!r}:
    lifeline.set_parent_death_signal = lambda: False  # as on a system without prctl
else:
    lifeline.PARENT_POLL_SECONDS = 3600.0  # the watchdog stays asleep: the kernel alone acts
root = Path({root!r})
runner.run(make_dataset(root), HangingFactory(root / "pids"),
           runner.RunConfig("mlvu", root / "results.jsonl", executor="local", workers=2))
"""


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody has reaped yet counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


@pytest.mark.parametrize(
    "watchdog_only",
    [
        pytest.param(
            False,
            id="pdeathsig",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only"
            ),
        ),
        pytest.param(True, id="watchdog"),
    ],
)
def test_killed_runner_takes_its_workers_with_it(tmp_path: Path, watchdog_only: bool) -> None:
    """kill -9 of the runner while both workers are busy: both workers exit within seconds.

    Each mechanism is shown alone: ``pdeathsig`` puts the watchdog to sleep, so the kernel's
    parent-death signal must do it; ``watchdog`` disables that signal, so the portable
    fallback (a thread that notices the runner is gone) must.
    """
    (tmp_path / "pids").mkdir()
    code = RUNNER_SCRIPT.format(tests=str(TESTS), root=str(tmp_path), watchdog_only=watchdog_only)
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "pids").iterdir())) < 2:
            assert parent.poll() is None, "the runner exited before its workers were busy"
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.1)
        workers = [int(p.name) for p in (tmp_path / "pids").iterdir()]
        assert all(not _gone(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if not _gone(pid)]
        assert not left, f"workers {left} outlived the killed runner"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in (tmp_path / "pids").iterdir():  # never leave a worker behind a failed test
            if not _gone(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# annotation paths


@dataclass(frozen=True)
class OpenLogger(Answerer):
    """Records every video it is asked to prepare, and answers 'A'."""

    opened: Path

    def prepare(self, video: Path, subtitles=None) -> None:
        with open(self.opened, "a") as f:
            f.write(f"{video}\n")

    def answer(self, item: Item) -> Answer:
        return Answer(text="A", choice="A", confidence=0.5)


@dataclass(frozen=True)
class OpenLoggerFactory:
    opened: Path

    def __call__(self) -> Answerer:
        return OpenLogger(self.opened)


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """A --videos folder with one good video, a symlink out of it, and annotations that try
    ``..``, an absolute path and the symlink."""
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    (videos / "good.mp4").write_bytes(b"x")
    secret = tmp_path / "outside" / "secret.mp4"
    secret.parent.mkdir()
    secret.write_bytes(b"not yours")
    (videos / "escape.mp4").symlink_to(secret)
    (videos / "sub" / "alias.mp4").symlink_to(videos / "good.mp4")  # a link that stays inside
    records = [
        ("good", "good.mp4"),
        ("dotdot", "../outside/secret.mp4"),
        ("absolute", str(secret)),
        ("symlink", "escape.mp4"),
        ("inner_link", "sub/alias.mp4"),
        ("inner_dots", "sub/../good.mp4"),
    ]
    ann = tmp_path / "ann.jsonl"
    ann.write_text(
        "".join(
            json.dumps(
                {"id": i, "video": v, "question": "Q?", "options": ["x", "y"], "answer": "A"}
            )
            + "\n"
            for i, v in records
        )
    )
    return ann, videos


def test_paths_outside_videos_are_failed_items_and_never_opened(tmp_path, hostile):
    """``..``, an absolute path and a symlink out of --videos: each a failed item with the
    reason; the run goes on and answers the items whose videos are inside."""
    ann, videos = hostile
    dataset = load_jsonl(ann, videos)
    opened = tmp_path / "opened.txt"
    log = tmp_path / "results.jsonl"
    summary = run(
        dataset,
        OpenLoggerFactory(opened),
        RunConfig("jsonl", log, executor="inline", videos_root=videos),
    )
    records = ResultsLog(log).load()
    refused = {"dotdot", "absolute", "symlink"}
    for item_id in refused:
        err = records[item_id]["error"]
        assert records[item_id]["status"] == "error"
        assert err["type"] == "UnsafePathError" and err["stage"] == "input"
        assert "outside --videos" in err["message"]
    assert {i for i, r in records.items() if r["status"] == "ok"} == {
        "good",
        "inner_link",
        "inner_dots",
    }
    assert (summary.answered, summary.failed, summary.already_done) == (3, 3, 0)
    assert "secret" not in opened.read_text()  # the engine never saw the outside file


def test_eval_cli_applies_the_rule_to_videos(tmp_path, hostile):
    """`viewfinder eval jsonl --videos DIR`: the command line passes DIR as the root."""
    import argparse
    import io

    from viewfinder.cli import evaluate as cli

    ann, videos = hostile
    parser = argparse.ArgumentParser(prog="viewfinder")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["eval", "jsonl", "--annotations", str(ann), "--videos", str(videos)]
        + ["--out", str(tmp_path / "out"), "--executor", "inline"]
    )
    opened = tmp_path / "opened.txt"
    assert cli.run(args, make_factory=lambda s: OpenLoggerFactory(opened), out=io.StringIO()) == 0
    (results,) = (tmp_path / "out").glob("results_*.jsonl")
    records = ResultsLog(results).load()
    assert sorted(i for i, r in records.items() if r["status"] == "error") == [
        "absolute",
        "dotdot",
        "symlink",
    ]
    assert "secret" not in opened.read_text()


def test_inside_root_rule(tmp_path):
    """The rule itself: resolved path strictly inside the resolved root, symlinks followed."""
    root = tmp_path / "videos"
    root.mkdir()
    assert inside_root(root, root / "a" / ".." / "b.mp4") == (root / "b.mp4").resolve()
    (tmp_path / "link_to_root").symlink_to(root)  # a root reached through a link is fine
    assert inside_root(tmp_path / "link_to_root", tmp_path / "link_to_root" / "c.mp4")
    for bad in (root / ".." / "x.mp4", Path("/etc/passwd"), root):
        with pytest.raises(UnsafePathError, match="outside --videos"):
            inside_root(root, bad)


def test_unwritable_out_fails_before_any_item_runs(tmp_path, hostile):
    """--out under a regular file: one typed error before the engine is even built."""
    from viewfinder.errors import OutputPathError

    ann, videos = hostile
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    def no_engine():
        raise AssertionError("the engine was built although the results cannot be written")

    with pytest.raises(OutputPathError, match="Pass --out a folder"):
        run(
            load_jsonl(ann, videos),
            no_engine,
            RunConfig("jsonl", blocker / "out" / "results.jsonl", executor="inline"),
        )


def test_eval_bad_budget_fails_before_the_dataset_loads(tmp_path, capsys):
    """`viewfinder eval ... --budget -5`: one error line before annotations are even read."""
    from viewfinder import cli as main_cli

    code = main_cli.main(
        ["eval", "jsonl", "--annotations", str(tmp_path / "absent.jsonl")]
        + ["--videos", str(tmp_path), "--out", str(tmp_path / "out"), "--budget", "-5"]
    )
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: budget must be")
