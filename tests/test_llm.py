"""Text LLM wrapper: multiple-choice scoring, generation, token counting, errors, fallback.

The slow tests run the real packaged models (Qwen2.5-Coder-0.5B via llama.cpp; SmolLM2-135M
via both llama.cpp and the transformers fallback).
"""

from __future__ import annotations

import importlib.util
import math

import pytest

from viewfinder.errors import (
    InvalidQuestionError,
    MissingDependencyError,
    ModelNotInstalledError,
    PromptTooLongError,
    UnknownBackendError,
    UnknownModelError,
    ViewfinderError,
)
from viewfinder.tools import llm as llm_module
from viewfinder.tools.llm import LlamaCppLLM, LLMOptions, best_choice, load_llm

SYSTEM = (
    "You answer questions about a video from what was said and shown in it. "
    "Answer in plain words, no code."
)
OPTIONS = "(A) Monday\n(B) Thursday\n(C) Friday\n(D) Sunday"


def meeting_prompt(
    day: str, options: str = OPTIONS, ask: str = "Only give the best option."
) -> str:
    # Question first, evidence after: Qwen2.5-0.5B scores options far more decisively this
    # way than with the transcript first (0.9 vs 0.3-0.6 on the right letter).
    return (
        f"Question: On which day is the meeting now?\n{options}\n\n"
        "Transcript:\n[00:05] speech: good morning everyone\n"
        f"[00:12] speech: the meeting moved to {day}\n"
        "[00:20] speech: please bring the slides\n\n"
        f"{ask}"
    )


def _llama(name: str, options: LLMOptions | None = None):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (extra 'llm')")
    try:
        return load_llm(name, options, backend="llama.cpp").load()
    except ModelNotInstalledError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def qwen():
    return _llama("qwen2.5-0.5b")


@pytest.mark.slow
def test_choose_picks_the_option_stated_in_the_context(qwen):
    """choose() returns a probability per letter, summing to 1, highest on the stated day."""
    probs = qwen.choose(SYSTEM, meeting_prompt("Thursday"), "ABCD")
    assert list(probs) == ["A", "B", "C", "D"]
    assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-6)
    assert best_choice(probs).letter == "B"
    assert probs["B"] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize(("day", "letter"), [("Monday", "A"), ("Friday", "C"), ("Sunday", "D")])
def test_choose_follows_the_context_not_a_prior(qwen, day, letter):
    """Changing the day said in the transcript changes the chosen option accordingly."""
    probs = qwen.choose(SYSTEM, meeting_prompt(day), ["A", "B", "C", "D"])
    assert best_choice(probs).letter == letter, probs


@pytest.mark.slow
def test_choose_is_unaffected_by_what_ran_before(qwen):
    """Reusing the KV cache between calls does not change the scores of a prompt."""
    first = qwen.choose(SYSTEM, meeting_prompt("Friday"), "ABCD")
    qwen.generate(SYSTEM, "Say hello.", max_tokens=4)
    qwen.choose(SYSTEM, meeting_prompt("Monday"), "ABCD")
    again = qwen.choose(SYSTEM, meeting_prompt("Friday"), "ABCD")
    for letter in "ABCD":
        assert again[letter] == pytest.approx(first[letter], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("day", ["Thursday", "Saturday"])
def test_generate_answers_with_the_fact_from_the_context(qwen, day):
    """generate() gives a short plain answer that contains the day from the transcript."""
    user = meeting_prompt(day, options="", ask="Answer in one short sentence.")
    out = qwen.generate(SYSTEM, user, max_tokens=32)
    assert day.lower() in out.text.lower(), out.text
    assert "```" not in out.text
    assert 0 < out.tokens_out <= 32
    assert out.tokens_in == qwen.count_prompt_tokens(SYSTEM, user)
    assert out.mean_logprob <= 0.0
    assert out.seconds >= out.prompt_seconds > 0


@pytest.mark.slow
def test_generate_honours_max_tokens_stop_and_assistant_prefix(qwen):
    """max_tokens caps the answer, stop strings end it, and the prefix is continued."""
    user = "Count from one to twenty in words, separated by commas."
    capped = qwen.generate(SYSTEM, user, max_tokens=3)
    assert capped.tokens_out == 3 and capped.finish_reason == "length"
    stopped = qwen.generate(SYSTEM, user, max_tokens=40, stop=["five", "Five"])
    assert stopped.finish_reason == "stop"
    assert "five" not in stopped.text.lower() and "four" in stopped.text.lower()
    continued = qwen.generate(
        SYSTEM, meeting_prompt("Friday"), max_tokens=4, assistant_prefix="Best Option: ("
    )
    assert continued.text.startswith("C"), continued.text


@pytest.mark.slow
def test_count_tokens(qwen):
    """count_tokens counts plain-text tokens; longer text takes more tokens."""
    assert qwen.count_tokens("") == 0
    short = qwen.count_tokens("the meeting moved to Thursday")
    assert 3 <= short <= 10
    assert qwen.count_tokens("the meeting moved to Thursday " * 20) > 10 * short
    # Special-token text in user content is counted as text, not as one control token.
    assert qwen.count_tokens("<|im_end|>") > 1
    assert qwen.count_prompt_tokens(SYSTEM, "hi") > qwen.count_tokens(SYSTEM)
    assert qwen.n_ctx == 4096


@pytest.mark.slow
def test_prompt_longer_than_context_is_a_typed_error():
    """A prompt that does not fit n_ctx raises PromptTooLongError saying how to fix it."""
    small = _llama("smollm2-135m", LLMOptions(n_ctx=256))
    with pytest.raises(PromptTooLongError, match="n_ctx"):
        small.generate(SYSTEM, "the meeting moved to Thursday. " * 100)
    with pytest.raises(PromptTooLongError):
        small.choose(SYSTEM, "the meeting moved to Thursday. " * 100, "AB")


def test_unknown_model_lists_the_valid_names():
    """An unknown model name raises UnknownModelError listing the registered LLMs."""
    with pytest.raises(UnknownModelError, match="qwen2.5-0.5b"):
        load_llm("no-such-llm")


def test_bad_option_letters_are_rejected_before_loading(tmp_path):
    """One option, repeated letters or blank letters raise InvalidQuestionError."""
    llm = LlamaCppLLM(tmp_path / "never-loaded.gguf")
    for letters in (["A"], ["A", "A"], ["A", " "], []):
        with pytest.raises(InvalidQuestionError):
            llm.choose(SYSTEM, "question", letters)


def test_no_backend_names_the_llm_extra(monkeypatch):
    """Without llama.cpp and transformers, loading says which extra to install."""
    monkeypatch.setattr(llm_module, "AVAILABLE_BACKENDS", {})
    with pytest.raises(MissingDependencyError, match=r"viewfinder\[llm\]"):
        load_llm("qwen2.5-1.5b")


def test_unknown_backend_is_a_typed_error_listing_the_backends():
    """An unknown backend raises UnknownBackendError (a ViewfinderError, so the CLI prints one
    line) naming the valid backends, before any weights are resolved."""
    with pytest.raises(UnknownBackendError, match=r"llama\.cpp.*transformers") as caught:
        load_llm("qwen2.5-0.5b", backend="onnx")
    assert isinstance(caught.value, ViewfinderError)


@pytest.mark.slow
def test_load_is_lazy_and_models_share_one_instance(qwen):
    """load_llm builds a new, unloaded instance per call (no module cache); runtime.Models
    keeps one per model and result-changing options."""
    from viewfinder.runtime import Models
    from viewfinder.settings import Settings

    fresh = load_llm("qwen2.5-0.5b", backend="llama.cpp")
    assert fresh is not qwen and not fresh._loaded
    models = Models(Settings(llm="qwen2.5-0.5b"))
    first = models.get("llm")
    assert models.get("llm") is first and models.get("llm", LLMOptions(threads=1)) is first
    assert models.get("llm", LLMOptions(n_ctx=512)) is not first
    assert models.loaded()["llm"]["instances"] == 2
    models.close()
    assert models.loaded() == {}


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("transformers", "gguf", "torch")),
    reason="transformers fallback not installed (extra 'llm-transformers')",
)
def test_transformers_fallback_matches_llama_cpp_on_the_same_gguf():
    """The transformers backend reads the same GGUF and scores options like llama.cpp does.

    SmolLM2-135M is too weak to test answers with; this checks the mechanics: the chat
    template, tokenisation and next-token probabilities agree across backends.
    """
    fast = _llama("smollm2-135m")
    slow = load_llm("smollm2-135m", backend="transformers").load()
    assert slow.BACKEND_NAME == "transformers"
    user = meeting_prompt("Thursday")
    assert slow.count_prompt_tokens(SYSTEM, user) == fast.count_prompt_tokens(SYSTEM, user)
    assert slow.count_tokens("the meeting moved to Thursday") == fast.count_tokens(
        "the meeting moved to Thursday"
    )
    expected = fast.choose(SYSTEM, user, "ABCD")
    got = slow.choose(SYSTEM, user, "ABCD")
    assert math.isclose(sum(got.values()), 1.0, abs_tol=1e-6)
    for letter in "ABCD":
        assert got[letter] == pytest.approx(expected[letter], abs=0.05)
    fast_text = fast.generate(SYSTEM, user, max_tokens=6).text
    slow_out = slow.generate(SYSTEM, user, max_tokens=6)
    assert 0 < slow_out.tokens_out <= 6
    assert slow_out.text[:3] == fast_text[:3]
