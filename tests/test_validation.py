"""Bad flags and settings fail before any work: one `error:` line on stderr, exit 1, no model.

Each case runs the real command line in this process with every way of doing work patched to
fail the test (loading a model, asking, indexing), so a check that comes too late is caught.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from viewfinder import cli
from viewfinder.answer import Answer

SAMPLE = Path(__file__).resolve().parents[1] / "media" / "sample.mp4"


class WorkStarted(AssertionError):
    """Raised by the patched engine: the command got past validation."""


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Any model load, question or index build fails the test; the cache is a fresh folder."""
    from viewfinder.indexes import build
    from viewfinder.qa import VideoQA
    from viewfinder.runtime import Models

    def refuse(what):
        def fail(*args, **kwargs):
            raise WorkStarted(f"{what} ran before the bad input was reported")

        return fail

    monkeypatch.setattr(Models, "_open", refuse("a model load"))
    monkeypatch.setattr(VideoQA, "ask", refuse("VideoQA.ask"))
    monkeypatch.setattr(VideoQA, "index", refuse("VideoQA.index"))
    monkeypatch.setattr(build, "index_video", refuse("index_video"))
    monkeypatch.setenv("VIEWFINDER_CACHE", str(tmp_path / "cache"))
    for name in ("BUDGET", "LLM", "ASR", "OCR", "VLM", "FRAMES", "MAX_STEPS"):
        monkeypatch.delenv(f"VIEWFINDER_{name}", raising=False)


def one_error(capsys, code: int, *words: str) -> str:
    """Exit code 1, nothing on stdout, exactly one stderr line: 'error: ...' with ``words``."""
    out, err = capsys.readouterr()
    assert code == 1, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def ask(*extra: str, question: str = "What is typed in the terminal?") -> int:
    return cli.main(["ask", str(SAMPLE), question, "--quiet", *extra])


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--llm", "qwen9-huge"], ["'qwen9-huge' not found", "qwen2.5-1.5b"]),
        (["--asr", "whisper-giant"], ["'whisper-giant' not found", "whisper-base"]),
        (["--llm", "./no-such-model.gguf"], ["path does not exist"]),
        (["--budget", "-5"], ["budget", "-5", "--budget"]),
        (["--budget", "0"], ["budget", "at least 1"]),
        (["--frames", "0"], ["frames", "--frames"]),
        (["--max-steps", "0"], ["max_steps", "--max-steps"]),
        (["-o", "red", "-o", "blue", "-o", " Red "], ["--option 1 and --option 3", "different"]),
        (["--explain", "timeline.txt"], ["unknown suffix", ".png"]),
    ],
)
def test_bad_flag_is_one_error_line_before_any_model(no_work, capsys, flags, words):
    """Unknown model names, out-of-range numbers, repeated options, a bad --explain suffix."""
    one_error(capsys, ask(*flags), *words)


def test_a_question_too_long_for_the_model_is_refused_up_front(no_work, capsys):
    """20,000 characters: the message says to shorten it, not to change LLMOptions(n_ctx)."""
    line = one_error(capsys, ask(question="why? " * 4000), "19999 characters", "Shorten")
    assert "n_ctx" not in line and "LLMOptions" not in line


def test_a_question_at_the_limit_is_accepted(no_work, capsys):
    """The limit is the answering model's room, not lower: 3000 characters reach the engine."""
    from viewfinder.qa import MAX_QUESTION_CHARS

    with pytest.raises(WorkStarted):
        ask(question="x" * MAX_QUESTION_CHARS)


def test_emoji_are_counted_by_the_room_they_take(no_work, capsys):
    """1000 emoji are 1000 characters but 4000 bytes (up to 4000 tokens): refused before any
    model loads, saying why; 3000 bytes of accented text at the limit reach the engine."""
    from viewfinder.qa import MAX_QUESTION_CHARS

    line = one_error(capsys, ask(question="\U0001f600" * 1000), "4000 bytes", "Shorten")
    assert "1000 characters" in line and "emoji" in line
    with pytest.raises(WorkStarted):
        ask(question="é" * (MAX_QUESTION_CHARS // 2))


def test_bad_setting_in_the_environment(no_work, capsys, monkeypatch):
    """VIEWFINDER_BUDGET=-5 is refused the same way, naming the variable."""
    monkeypatch.setenv("VIEWFINDER_BUDGET", "-5")
    one_error(capsys, ask(), "VIEWFINDER_BUDGET")


def test_unwritable_cache_is_one_line_naming_the_variable(no_work, capsys, monkeypatch, tmp_path):
    """A cache path under a file: the clear message, not a NotADirectoryError traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VIEWFINDER_CACHE", str(blocker / "cache"))
    one_error(capsys, ask(), "Cannot write to the cache directory", "VIEWFINDER_CACHE")
    one_error(capsys, cli.main(["index", str(SAMPLE)]), "VIEWFINDER_CACHE")


def test_explain_into_a_folder_that_cannot_exist(no_work, capsys, tmp_path):
    """--explain under a regular file is refused before the question is asked."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_error(capsys, ask("--explain", str(blocker / "sub" / "t.png")), "is not a folder")


def test_explain_onto_a_folder(no_work, capsys, tmp_path):
    """--explain naming an existing folder is refused before the question is asked."""
    (tmp_path / "shots.png").mkdir()
    one_error(capsys, ask("--explain", str(tmp_path / "shots.png")), "it is a folder")


def test_index_error_goes_to_stderr_with_the_prefix(no_work, capsys, tmp_path):
    """`viewfinder index` reports a bad video as an 'error:' line on stderr, exit 1."""
    one_error(capsys, cli.main(["index", str(tmp_path / "missing.mp4")]), "Video not found")


def test_late_explain_failure_still_prints_the_answer(monkeypatch, capsys, tmp_path):
    """Writing the explanation fails after answering: the answer is printed, then one error."""
    from viewfinder.agent import explain as explain_module
    from viewfinder.qa import VideoQA

    monkeypatch.setenv("VIEWFINDER_CACHE", str(tmp_path / "cache"))
    answer = Answer(text="ls /usr", confidence=0.8, usage={"seconds": {"total": 1.0}})
    monkeypatch.setattr(VideoQA, "ask", lambda self, *a, **k: answer)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(explain_module, "explain", disk_full)
    code = ask("--strategy", "uniform", "--explain", str(tmp_path / "out" / "t.png"))
    out, err = capsys.readouterr()
    assert code == 1
    assert "Answer: ls /usr" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the answer is above")
    assert "No space left on device" in lines[0]
