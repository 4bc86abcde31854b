"""The ik_llama.cpp backend against llama-cpp-python: same prompts, tokens, text and scores.

ik-llama-cpp-python is a prebuilt wheel (no compiler at install); viewfinder binds its C API
itself (viewfinder/tools/ik_llama.py). The slow tests load the default answering model,
Qwen2.5-Coder-1.5B, in both backends and compare them on the same GGUF. The two libraries
compute with different CPU kernels, so logits differ slightly (up to ~0.35 here); measured on
this model: option probabilities within 0.0024 of each other on the prompts below (test
tolerance 0.01; on the dev set's retrieve-strategy prompts, whose answers are less certain,
within 0.038: docs/results/llm_backends.md), greedy text the same except after a near-tie (two
best tokens within 0.5 logits), and KV-prefix reuse bit-identical to a fresh evaluation.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from viewfinder.errors import MissingDependencyError, ModelNotInstalledError
from viewfinder.tools import llm as llm_module
from viewfinder.tools.llm import ALL_BACKENDS, LLMOptions, load_llm

NO_WHEEL = "ik-llama-cpp-python is not installed (extra 'llm' on Linux x86-64, Python 3.11)"
SYSTEM = "You answer questions about a video from what was said in it."
DAYS = ("Monday", "Thursday", "Friday", "Sunday")
OPTIONS = "(A) Monday\n(B) Thursday\n(C) Friday\n(D) Sunday"
# Measured worst gap over the prompts below (Qwen2.5-Coder-1.5B, 2 threads): 0.0024.
PROBABILITY_TOLERANCE = 0.01
# Where greedy texts part, llama.cpp's two best tokens were this close (logits).
NEAR_TIE = 0.5


def transcript_question(day: str, topic: int = 0) -> str:
    lines = "\n".join(
        f"[00:{j:02d}] speech: filler sentence number {j} about topic {topic}" for j in range(20)
    )
    return (
        f"Transcript:\n{lines}\n[00:30] speech: the meeting is on {day}\n\n"
        f"Question: On which day is the meeting?\n{OPTIONS}"
    )


# ---------------------------------------------------------------------- without a model

CHAT_TEMPLATES = {
    "chatml": llm_module._CHATML_TEMPLATE,
    # bos/eos, loop controls, the {% generation %} tag, tojson and whitespace control.
    "features": (
        "{{ bos_token }}{% for m in messages %}{% if loop.index > 5 %}{% break %}{% endif %}"
        "  {%- if m['role'] == 'system' %}[SYS]{{ m['content'] | tojson }}\n"
        "  {% else %}[{{ m['role'] | upper }}]{% generation %}{{ m['content'] }}"
        "{% endgeneration %}{{ eos_token }}\n{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}[ASSISTANT]{% endif %}"
    ),
}


@pytest.mark.parametrize("name", sorted(CHAT_TEMPLATES))
def test_chat_template_renders_like_llama_cpp(name):
    """ChatTemplate gives the text llama_cpp's Jinja2ChatFormatter gives, byte for byte."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the reference) is not installed")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from viewfinder.tools.ik_llama import ChatTemplate

    template = CHAT_TEMPLATES[name]
    messages = llm_module._messages('Say "hi" — ünïcode', "Question?\n(A) x\n(B) y")
    ours = ChatTemplate(template, "<s>", "</s>").render(messages)
    theirs = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")(
        messages=messages
    ).prompt
    assert ours == theirs and "Question?" in ours


def test_registry_names_ik_llama_and_prefers_it_only_where_it_runs(monkeypatch):
    """ik_llama is always a valid backend name; it is picked first only when the wheel is
    installed and the CPU has what the wheel was compiled for (AVX2, FMA, F16C)."""
    from viewfinder.tools import ik_llama

    assert list(ALL_BACKENDS)[:2] == ["ik_llama", "llama.cpp"]
    monkeypatch.setattr(ik_llama, "cpu_supported", lambda: False)
    assert "ik_llama" not in llm_module._registry(installed=True)
    monkeypatch.setattr(ik_llama, "cpu_supported", lambda: True)
    installed = importlib.util.find_spec("ik_llama_cpp") is not None
    assert ("ik_llama" in llm_module._registry(installed=True)) == installed
    if installed:
        assert next(iter(llm_module._registry(installed=True))) == "ik_llama"


def test_cpu_check_reads_the_flags(tmp_path):
    """A CPU without AVX2 is not offered the wheel (it would die on an illegal instruction)."""
    import platform

    from viewfinder.tools.ik_llama import cpu_supported

    if platform.system() != "Linux" or platform.machine() != "x86_64":
        pytest.skip("the check applies to Linux x86-64 only")
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx\n")
    new.write_text("processor\t: 0\nflags\t\t: fpu sse avx avx2 fma f16c bmi2\n")
    assert not cpu_supported(old) and cpu_supported(new)
    assert not cpu_supported(tmp_path / "missing")


def test_missing_wheel_names_the_llm_extra(monkeypatch):
    """Without the wheel, loading says which extra to install."""
    from viewfinder.tools.ik_llama import _Api

    monkeypatch.setitem(sys.modules, "ik_llama_cpp", None)
    monkeypatch.setitem(sys.modules, "ik_llama_cpp._ctypes_api", None)
    with pytest.raises(MissingDependencyError, match=r"viewfinder\[llm\]"):
        _Api()


# ---------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def pair():
    """Qwen2.5-Coder-1.5B on both backends (2 threads, no adapting: same work each run)."""
    if importlib.util.find_spec("ik_llama_cpp") is None:
        pytest.skip(NO_WHEEL)
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the reference) is not installed")
    options = LLMOptions(threads=2, adapt_threads=False)
    try:
        ik = load_llm("qwen2.5-1.5b", options, backend="ik_llama").load()
        ref = load_llm("qwen2.5-1.5b", options, backend="llama.cpp").load()
    except ModelNotInstalledError as e:
        pytest.skip(str(e))
    yield ik, ref
    ik.close()
    ref.close()


@pytest.mark.slow
def test_same_chat_text_and_tokens(pair):
    """Both backends render the GGUF's chat template alike and tokenise alike: chat prompts
    (special tokens parsed), plain text (special tokens left as text), and back to bytes."""
    ik, ref = pair
    assert ik.BACKEND_NAME == "ik_llama"
    texts = [
        transcript_question("Friday"),
        "Écris une phrase en français sur le café ☕, 日本語も.",
        "plain text that mentions <|im_end|> and <|im_start|> literally",
        "  leading spaces, tabs\tand\nnew lines\n\n",
    ]
    for text in texts:
        chat = ik._chat_text(SYSTEM, text)
        assert chat == ref._chat_text(SYSTEM, text) and "<|im_start|>assistant" in chat
        tokens = ik._encode_prompt(chat + "Best Option: (")
        assert tokens == ref._encode_prompt(chat + "Best Option: (")
        plain = ik._encode_plain(text)
        assert plain == ref._encode_plain(text)
        assert ik._decode(plain) == ref._decode(plain) == text.encode("utf-8")
        assert ik.count_prompt_tokens(SYSTEM, text) == ref.count_prompt_tokens(SYSTEM, text)
    end = ik._encode_prompt("<|im_end|>")
    assert len(end) == 1 and ik._is_end(end[0]) and ref._is_end(end[0])
    assert not ik._is_end(ik._encode_plain("Friday")[0])


@pytest.mark.slow
def test_option_probabilities_agree(pair):
    """choose() gives each letter the same probability within PROBABILITY_TOLERANCE, and the
    same best letter, the right one."""
    ik, ref = pair
    for topic, day in enumerate(DAYS):
        question = transcript_question(day, topic)
        ours, theirs = ik.choose(SYSTEM, question, "ABCD"), ref.choose(SYSTEM, question, "ABCD")
        for letter in "ABCD":
            assert ours[letter] == pytest.approx(theirs[letter], abs=PROBABILITY_TOLERANCE)
        assert max(ours, key=ours.get) == max(theirs, key=theirs.get) == "ABCD"[topic]


def _greedy(llm, prompt: list[int], steps: int) -> tuple[list[int], list[np.ndarray]]:
    out, logits = [], []
    for _ in range(steps):
        step = llm._next_logits(prompt + out)
        logits.append(step)
        if llm._is_end(int(np.argmax(step))):
            break
        out.append(int(np.argmax(step)))
    return out, logits


@pytest.mark.slow
def test_greedy_text_agrees_up_to_near_ties(pair):
    """Greedy generation writes the same text; where it parts (once, on one of these
    prompts), llama.cpp itself was torn: its two best tokens within NEAR_TIE logits, and
    ik_llama took its second-best. generate() matches the token-by-token loop."""
    ik, ref = pair
    prompts = [
        transcript_question("Friday", 2) + "\nAnswer in one sentence.",
        "List three fruits, comma separated.",
        "Écris une phrase en français sur le café ☕.",
        "Say hello to the team in one sentence.",
    ]
    same = 0
    for user in prompts:
        prompt = ik._encode_prompt(ik._chat_text(SYSTEM, user))
        ours, _ = _greedy(ik, prompt, 24)
        theirs, ref_logits = _greedy(ref, prompt, 24)
        if ours == theirs:
            same += 1
            text = ik.generate(SYSTEM, user, max_tokens=24).text
            assert text == ik._decode(ours).decode("utf-8", errors="ignore").strip()
            continue
        at = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
        best, second = np.sort(ref_logits[at])[-2:][::-1]
        assert best - second < NEAR_TIE, f"parted at token {at} without a near-tie: {user!r}"
        assert ours[at] == int(np.argsort(ref_logits[at])[-2])
    assert same >= 3


@pytest.mark.slow
def test_kv_prefix_reuse_gives_the_logits_of_a_fresh_evaluation(pair, monkeypatch):
    """After another prompt sharing only the chat header, the KV cache is trimmed back to the
    common prefix and the rest evaluated: the logits equal a fresh instance's exactly. Reading
    the prompt in small reported chunks gives the same next-token probabilities."""
    ik, _ = pair
    first, second = (
        ik._encode_prompt(ik._chat_text(SYSTEM, transcript_question(d, i)) + "Best Option: (")
        for i, d in enumerate(DAYS[:2])
    )
    ik._next_logits(first)
    assert ik.cached_tokens == first
    reused = ik._next_logits(second)
    common = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    assert 10 < common < len(second) - 100 and ik.cached_tokens == second
    fresh_llm = load_llm("qwen2.5-1.5b", ik.options, backend="ik_llama")
    try:
        fresh_llm.load()
        fresh = fresh_llm._next_logits(second)
        monkeypatch.setattr(llm_module, "PROGRESS_CHUNK", 64)
        reports: list[tuple[int, int]] = []
        fresh_llm._next_logits(first)
        chunked = fresh_llm._next_logits(second, lambda d, t: reports.append((d, t)))
    finally:
        fresh_llm.close()
    np.testing.assert_array_equal(reused, fresh)
    assert reports[-1] == (len(second) - common, len(second) - common) and len(reports) >= 5
    # Smaller batches take other matrix kernels: logits move by up to ~0.2 (llama.cpp: ~0.37),
    # next-token probabilities by < 1e-4.
    assert int(np.argmax(chunked)) == int(np.argmax(fresh))
    np.testing.assert_allclose(_probs(chunked), _probs(fresh), atol=1e-3)


def _probs(logits: np.ndarray) -> np.ndarray:
    return np.exp(llm_module._log_softmax(logits))
