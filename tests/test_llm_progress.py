"""Model calls report token progress, and pick their thread count from the free cores."""

from __future__ import annotations

import pytest

from viewfinder.errors import ModelNotInstalledError
from viewfinder.tools import cpu
from viewfinder.tools import llm as llm_module
from viewfinder.tools.llm import LLMOptions, load_llm

SYSTEM = "You answer questions about a video from what was said in it."


def _prompt(day: str) -> str:
    lines = "\n".join(f"[00:{i:02d}] speech: filler sentence number {i}" for i in range(12))
    return (
        "Question: On which day is the meeting?\n(A) Monday\n(B) Friday\n\n"
        f"Transcript:\n{lines}\n[00:30] speech: the meeting is on {day}\n\n"
        "Only give the best option."
    )


@pytest.fixture(scope="module")
def qwen():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (extra 'llm')")
    try:
        return load_llm("qwen2.5-0.5b", LLMOptions(threads=2), backend="llama.cpp").load()
    except ModelNotInstalledError as e:
        pytest.skip(str(e))


@pytest.mark.slow
def test_choose_reports_prompt_progress_and_scores_as_without(qwen, monkeypatch) -> None:
    """Reading the prompt in reported chunks gives the same option probabilities as one
    pass, and the reports climb to the number of prompt tokens read."""
    monkeypatch.setattr(llm_module, "PROGRESS_CHUNK", 16)
    reports: list[tuple[int, int]] = []
    chunked = qwen.choose(
        SYSTEM, _prompt("Friday"), "AB", progress=lambda d, t: reports.append((d, t))
    )
    qwen.choose(SYSTEM, _prompt("Monday"), "AB")  # a different prompt: nothing reusable
    qwen.choose(SYSTEM, "unrelated", "AB")
    whole = qwen.choose(SYSTEM, _prompt("Friday"), "AB")
    assert chunked["B"] > 0.5 and chunked["B"] == pytest.approx(whole["B"], abs=0.02)
    assert len(reports) >= 3 and [d for d, _ in reports] == sorted(d for d, _ in reports)
    assert reports[-1][0] == reports[-1][1] > 50
    assert 1 <= qwen.threads_in_use <= 2


@pytest.mark.slow
def test_generate_reports_each_token_and_ends_full(qwen) -> None:
    reports: list[tuple[int, int]] = []
    gen = qwen.generate(
        SYSTEM,
        _prompt("Friday") + " Which day?",
        max_tokens=8,
        progress=lambda d, t: reports.append((d, t)),
    )
    assert gen.tokens_out >= 1
    assert reports[-1][0] == reports[-1][1]  # the bar ends full, even when it stops early
    assert sum(1 for d, t in reports if t > d) >= gen.tokens_out - 1
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)


def _fake_proc(monkeypatch, machine_per_second: float, own_per_second: float) -> None:
    """A clock and /proc counters where the machine and this process burn given cores."""
    now = [0.0]

    def tick() -> None:
        now[0] += 1.0

    monkeypatch.setattr(cpu.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(cpu.time, "sleep", lambda s: tick())
    monkeypatch.setattr(cpu, "cpu_count", lambda: 2)
    monkeypatch.setattr(cpu, "_machine_busy_ticks", lambda: int(100 * machine_per_second * now[0]))
    monkeypatch.setattr(cpu, "_own_ticks", lambda: int(100 * own_per_second * now[0]))


@pytest.mark.parametrize(
    ("machine", "own", "threads"),
    [
        (0.05, 0.0, 2),  # idle: both cores
        (1.0, 0.0, 1),  # one competing CPU-bound process: one thread
        (2.0, 2.0, 2),  # only this process was busy (earlier calls): both again
        (2.0, 0.0, 1),  # every core taken by others: still one, never zero
    ],
)
def test_thread_count_follows_what_others_leave_free(monkeypatch, machine, own, threads) -> None:
    _fake_proc(monkeypatch, machine, own)
    free = cpu.FreeCores()
    free._ticks = 100
    assert free.threads(2) == threads
    assert free.threads(1) == 1
