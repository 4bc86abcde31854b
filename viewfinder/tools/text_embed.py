"""Sentence embeddings for transcript and on-screen text (packaged all-MiniLM-L6-v2).

Embeddings let a paraphrased query ("how do I get louder for the others") find a segment that
shares few words with it ("to increase your speaking volume to other participants"), which
BM25 alone misses. Vectors are L2-normalised float32, so a dot product is the cosine.

Two backends share one interface (``name``, ``fingerprint``, ``load``, ``encode``, ``dim``):
:class:`TextEmbedder` runs a sentence-transformers directory on torch (``minilm``, the
``embed-torch`` extra), and :class:`~.text_embed_onnx.OnnxTextEmbedder` runs an ONNX export on
onnxruntime (``minilm-int8``, the default, no torch). :func:`text_embedder` picks the backend
a name or directory needs.

Example:
    >>> embedder = load_text_embedder()
    >>> vectors = embedder.encode(["hello there", "general kenobi"])
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MissingDependencyError, ModelError, require
from ..models import ResolvedModel, resolve

if TYPE_CHECKING:
    from .text_embed_onnx import OnnxTextEmbedder

logger = logging.getLogger(__name__)

# The registry name of the default text embedder (no torch needed; see README "footprint").
DEFAULT_TEXT_EMBEDDER = "minilm-int8"
# Registry names and the backend that runs each (a directory is recognised by its files).
_ONNX_NAMES = frozenset({"minilm-int8"})


@dataclass(frozen=True)
class TextEmbedOptions:
    """How texts are embedded."""

    # Texts per forward pass.
    batch_size: int = 64
    # torch intra-op threads; 2 matches the reference machine.
    threads: int = 2
    # Longer inputs are truncated (MiniLM was trained on 128-256 word pieces).
    max_seq_length: int = 256


class TextEmbedder:
    """A sentence-transformers model resolved through the registry, loaded on first use.

    Args:
        name: Registry name (``"minilm"``) or a path to a sentence-transformers directory.
        options: Embedding options.
        cache_dir: Cache root used to resolve weights.

    Raises:
        UnknownModelError, ModelNotInstalledError: The model cannot be found.
        MissingDependencyError: sentence-transformers is not installed.
    """

    def __init__(
        self,
        name: str = "minilm",
        options: TextEmbedOptions | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        # find_spec, not import: building a handle must stay cheap (torch loads on first use).
        if importlib.util.find_spec("sentence_transformers") is None:
            raise MissingDependencyError(
                "sentence-transformers", "embed-torch", "Text embeddings on torch"
            )
        self.options = options or TextEmbedOptions()
        self.resolved: ResolvedModel = resolve("text-embedding", name, cache_dir)
        self.path = _model_dir(self.resolved.path)
        self._model = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Registry name or path."""
        return self.resolved.name

    @property
    def fingerprint(self) -> dict[str, str | None]:
        """What identifies the weights in an index manifest."""
        return {"name": self.name, "sha256": self.resolved.sha256 or _weights_id(self.path)}

    def load(self) -> None:
        """Load the model now (otherwise the first :meth:`encode` does)."""
        with self._lock:
            if self._model is not None:
                return
            # The weights are local; never let the hub client try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            st = require("sentence_transformers", "embed-torch", "Text embeddings on torch")
            torch = require("torch", "embed-torch", "Text embeddings on torch")
            if torch.get_num_threads() > self.options.threads:
                torch.set_num_threads(self.options.threads)
            try:
                model = st.SentenceTransformer(str(self.path), device="cpu")
            except (OSError, ValueError) as e:
                raise ModelError(
                    f"Could not load the text embedder {self.name!r} from "
                    f"{self.path}: {e}. Reinstall it: pip install "
                    "'viewfinder[embed-torch]'"
                ) from e
            model.max_seq_length = self.options.max_seq_length
            self._model = model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``.

        Returns:
            A float32 array of shape (len(texts), dim), rows L2-normalised.
        """
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        self.load()
        vectors = self._model.encode(
            list(texts),
            batch_size=self.options.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dim(self) -> int:
        """Embedding size."""
        self.load()
        return int(self._model.get_sentence_embedding_dimension())


def _model_dir(path: Path) -> Path:
    """The directory holding config.json (the package ships it one level down, in model/)."""
    if (path / "config.json").is_file() or (path / "modules.json").is_file():
        return path
    inner = path / "model"
    return inner if (inner / "config.json").is_file() else path


def _weights_id(path: Path) -> str:
    """Cheap identity of a weight directory: size and mtime of its weight files."""
    parts = []
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = f.stat()
        parts.append(f"{f.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return ";".join(parts) or str(path)


def load_text_embedder(
    name: str = DEFAULT_TEXT_EMBEDDER,
    cache_dir: Path | None = None,
    options: TextEmbedOptions | None = None,
) -> TextEmbedder | OnnxTextEmbedder:
    """An embedder for ``name`` (weights load on first use); same as :func:`text_embedder`.

    Keep it: ``runtime.Models`` is what shares one embedder between index building and search.
    """
    return text_embedder(name, options, cache_dir)


def text_embedder(
    name: str = DEFAULT_TEXT_EMBEDDER,
    options: TextEmbedOptions | None = None,
    cache_dir: Path | None = None,
) -> TextEmbedder | OnnxTextEmbedder:
    """A new embedder for ``name`` on the backend its weights need (nothing loads yet).

    Registry names map to their backend; a local directory holding ``model.onnx`` and
    ``tokenizer.json`` runs on onnxruntime, any other path on sentence-transformers.

    Raises:
        UnknownModelError, ModelNotInstalledError: The model cannot be found.
        MissingDependencyError: The backend's packages are not installed.
    """
    from .text_embed_onnx import OnnxTextEmbedder, is_onnx_model_dir

    local = Path(os.path.expanduser(name))
    if name in _ONNX_NAMES or is_onnx_model_dir(local):
        return OnnxTextEmbedder(name, options, cache_dir)
    return TextEmbedder(name, options, cache_dir)
