"""Speech index: timestamped ASR segments searched by BM25 and sentence embeddings, fused.

Building transcribes the audio in chunks of about ``chunk_seconds``, each cut at the quietest
moment near its nominal end so no sentence is split, and checkpoints every chunk: an
interrupted build resumes at the first chunk not yet transcribed.

Files of the part: ``segments.json`` (segments with words) and ``vectors.npy`` (float16
sentence embeddings, one row per segment; absent when no embedder is installed).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..text import tokenize
from .fusion import Hit, Modality
from .store import Checkpoint

if TYPE_CHECKING:
    from ..runtime import Models

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FORMAT_VERSION = 1
# all-MiniLM cosine below which a text is treated as unrelated to the query.
MIN_COSINE = 0.15
# Hybrid ranking weight of the embeddings (BM25 gets the rest). Rank fusion of BM25 and
# embeddings found 18/20 paraphrased prompts in tests/test_indexes.py, this 20/20.
DENSE_WEIGHT = 0.7


@dataclass(frozen=True)
class SpeechSegment:
    """One transcribed utterance."""

    # Start, seconds from the start of the video.
    start: float
    # End, seconds.
    end: float
    # Recognised text.
    text: str
    # (start, end, word) per word, seconds.
    words: tuple[tuple[float, float, str], ...] = ()


@dataclass(frozen=True)
class SpeechOptions:
    """How the speech index is built."""

    # Audio is transcribed and checkpointed in chunks of about this many seconds.
    chunk_seconds: float = 120.0
    # A chunk ends at the quietest 0.25 s within this many seconds before its nominal end.
    cut_search_seconds: float = 10.0


# --------------------------------------------------------------------------- hybrid text search


class HybridTextIndex:
    """BM25 + embedding search over timed texts, fused by reciprocal rank.

    Args:
        items: ``(start, end, text)`` per document.
        vectors: L2-normalised embeddings, one row per item, or None (BM25 only).
        modality: Modality written into hits.
        embedder: Registry name of the text embedder the vectors were made with.
        models: The owner of the text embedder that encodes queries (None: one of this
            index's own, on the default cache).
    """

    def __init__(
        self,
        items: Sequence[tuple[float, float, str]],
        vectors: np.ndarray | None,
        modality: Modality,
        embedder: str | None,
        models: Models | None = None,
    ) -> None:
        self.items = list(items)
        self.vectors = vectors
        self.modality: Modality = modality
        self.embedder_name = embedder
        self.models = models
        self._bm25: Any = None
        self._query_cache: dict[str, np.ndarray] = {}
        # Weight of the embedding score in the hybrid ranking (the rest is BM25).
        self.dense_weight = DENSE_WEIGHT

    def __len__(self) -> int:
        return len(self.items)

    def _retriever(self) -> Any:
        if self._bm25 is None:
            import bm25s

            retriever = bm25s.BM25()
            # Pre-tokenised input: bm25s takes lists of token lists with its own vocabulary.
            corpus = [tokenize(t) or ["_"] for _, _, t in self.items]
            retriever.index(_to_bm25_tokens(corpus), show_progress=False)
            self._bm25 = retriever
        return self._bm25

    def search_bm25(self, query: str, k: int = 10) -> list[Hit]:
        """Items ranked by BM25 (only items sharing a word with the query)."""
        scores = self._bm25_scores(query)
        return self._hits(scores, k, f"{self.modality}:bm25", positive_only=True)

    def search_embed(self, query: str, k: int = 10) -> list[Hit]:
        """Items ranked by cosine similarity of sentence embeddings ([] without vectors)."""
        scores = self._cosines(query)
        if scores is None:
            return []
        # Unrelated texts still get a cosine; below this floor they are not returned.
        scores[scores < MIN_COSINE] = -1.0
        return self._hits(scores, k, f"{self.modality}:embed", positive_only=True)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Hybrid ranking: ``w * cosine + (1 - w) * bm25 / max(bm25) * max(cosine)``.

        A convex combination rather than reciprocal-rank fusion: BM25 ranks every text sharing
        one common word (say "call") highly, and with RRF those ranks outvote the embedding's
        correct paraphrase match; scaled scores keep the strength of each signal. Without
        vectors this is plain BM25.
        """
        bm25 = self._bm25_scores(query)
        cosine = self._cosines(query)
        if cosine is None:
            return self._hits(bm25, k, f"{self.modality}:bm25", positive_only=True)
        top_cos = max(float(cosine.max()), 1e-6)
        top_bm25 = float(bm25.max()) if bm25.size else 0.0
        keyword = bm25 / top_bm25 * top_cos if top_bm25 > 0 else np.zeros_like(cosine)
        w = self.dense_weight
        scores = w * cosine + (1 - w) * keyword
        scores[(cosine < MIN_COSINE) & (keyword <= 0)] = -1.0
        return self._hits(scores, k, f"{self.modality}:hybrid", positive_only=True)

    def _bm25_scores(self, query: str) -> np.ndarray:
        tokens = tokenize(query)
        if not self.items or not tokens:
            return np.zeros(len(self.items))
        retriever = self._retriever()
        ids = [retriever.vocab_dict[t] for t in tokens if t in retriever.vocab_dict]
        if not ids:
            return np.zeros(len(self.items))
        return np.asarray(retriever.get_scores(ids), dtype=np.float64)

    def _cosines(self, query: str) -> np.ndarray | None:
        if self.vectors is None or not len(self.items) or not query.strip():
            return None
        qv = self._query_cache.get(query)
        if qv is None:
            if self.models is None:
                from ..runtime import Models
                from ..settings import Settings

                self.models = Models(Settings())
            name = self.embedder_name or "minilm"
            qv = self.models.load("text-embedding", name=name).encode([query])[0]
            self._query_cache[query] = qv
        return (self.vectors.astype(np.float32) @ qv).astype(np.float64)

    def _hits(
        self, scores: np.ndarray, k: int, source: str, positive_only: bool = False
    ) -> list[Hit]:
        order = np.argsort(-scores, kind="stable")[:k]
        hits = []
        for i in order:
            if positive_only and scores[i] <= 0:
                break
            s, e, t = self.items[int(i)]
            hits.append(Hit(s, e, self.modality, t, float(scores[i]), len(hits), source))
        return hits


def _to_bm25_tokens(corpus: list[list[str]]) -> Any:
    import bm25s

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(tok, len(vocab)) for tok in doc] for doc in corpus]
    return bm25s.tokenization.Tokenized(ids=ids, vocab=vocab)


# --------------------------------------------------------------------------- speech index


class SpeechIndex(HybridTextIndex):
    """Searchable transcript of one video."""

    def __init__(
        self,
        segments: Sequence[SpeechSegment],
        vectors: np.ndarray | None,
        embedder: str | None,
        models: Models | None = None,
    ) -> None:
        super().__init__(
            [(s.start, s.end, s.text) for s in segments], vectors, "speech", embedder, models
        )
        self.segments = list(segments)

    @classmethod
    def load(cls, directory: Path, models: Models | None = None) -> SpeechIndex:
        """Load a built part directory."""
        data = json.loads((directory / "segments.json").read_text())
        segments = [
            SpeechSegment(
                s["start"], s["end"], s["text"], tuple(tuple(w) for w in s.get("words", ()))
            )
            for s in data["segments"]
        ]
        vec_path = directory / "vectors.npy"
        vectors = np.load(vec_path) if vec_path.is_file() else None
        return cls(segments, vectors, data.get("embedder"), models)


def chunk_bounds(
    audio: np.ndarray, options: SpeechOptions, sample_rate: int = SAMPLE_RATE
) -> list[tuple[int, int]]:
    """Split ``audio`` into chunks ending at quiet moments: ``(start, end)`` sample indices."""
    n = len(audio)
    size = int(options.chunk_seconds * sample_rate)
    window = sample_rate // 4
    search = int(options.cut_search_seconds * sample_rate)
    bounds = []
    start = 0
    while start < n:
        nominal = start + size
        if nominal + size // 4 >= n:  # do not leave a tiny tail chunk
            bounds.append((start, n))
            break
        lo = max(start + size // 2, nominal - search)
        seg = np.abs(audio[lo:nominal].astype(np.float32))
        usable = len(seg) // window * window
        if usable >= window:
            energy = seg[:usable].reshape(-1, window).mean(axis=1)
            cut = lo + int(np.argmin(energy)) * window + window // 2
        else:
            cut = nominal
        bounds.append((start, cut))
        start = cut
    return bounds


class SpeechJob:
    """The chunks of one video's audio still to transcribe, shared by worker threads.

    Any number of threads may call :meth:`work` at once (the transcriber must allow
    concurrent calls, e.g. a Whisper model with several CTranslate2 workers): each takes the
    next untranscribed chunk until none are left, so an indexer can put its second core on
    speech as soon as its other stages are done. Every finished chunk is checkpointed.

    Args:
        audio: Mono float32 waveform at 16 kHz, sample 0 = video time 0.
        transcribe: Function from a waveform chunk to ASR segments (times relative to it).
        checkpoint: Where finished chunks are saved and found again.
        options: Chunking options.
        progress: Called with (seconds done, seconds total).
    """

    def __init__(
        self,
        audio: np.ndarray,
        transcribe: Callable[[np.ndarray], list[Any]],
        checkpoint: Checkpoint,
        options: SpeechOptions,
        progress: Callable[[float, float], None] | None = None,
    ) -> None:
        self._audio = audio
        self._transcribe = transcribe
        self._checkpoint = checkpoint
        self._progress = progress
        self._bounds = chunk_bounds(audio, options)
        self._total = len(audio) / SAMPLE_RATE
        self._done = checkpoint.load()
        if self._done:
            logger.info(
                "speech: resuming, %d of %d chunks already transcribed",
                len(self._done),
                len(self._bounds),
            )
        self._todo = [(a, b) for a, b in self._bounds if _chunk_key(a, b) not in self._done]
        self._lock = threading.Lock()
        self._seconds_done = (
            sum((b - a) for a, b in self._bounds) / SAMPLE_RATE
            - sum((b - a) for a, b in self._todo) / SAMPLE_RATE
        )

    def work(self) -> None:
        """Transcribe chunks until none are left (returns at once when another thread has
        taken the last one)."""
        while True:
            with self._lock:
                if not self._todo:
                    return
                a, b = self._todo.pop(0)
            raw = self._transcribe(self._audio[a:b])
            result = [_segment_dict(s, a / SAMPLE_RATE) for s in raw]
            key = _chunk_key(a, b)
            self._checkpoint.save(key, result)
            with self._lock:
                self._done[key] = result
                self._seconds_done += (b - a) / SAMPLE_RATE
                done = self._seconds_done
            if self._progress is not None:
                self._progress(done, self._total)

    def segments(self) -> list[SpeechSegment]:
        """All segments in time order, in video time (call after every :meth:`work` ended).

        Raises:
            RuntimeError: a chunk is still untranscribed.
        """
        missing = [_chunk_key(a, b) for a, b in self._bounds if _chunk_key(a, b) not in self._done]
        if missing:
            raise RuntimeError(f"speech chunks not transcribed yet: {missing[:3]}")
        return [
            SpeechSegment(d["start"], d["end"], d["text"], tuple(tuple(w) for w in d["words"]))
            for a, b in self._bounds
            for d in self._done[_chunk_key(a, b)]
        ]


def _chunk_key(a: int, b: int) -> str:
    return f"{a:012d}-{b:012d}"


def _segment_dict(seg: Any, offset: float) -> dict[str, Any]:
    words = [
        (round(w.start + offset, 3), round(w.end + offset, 3), w.text.strip())
        for w in getattr(seg, "words", ()) or ()
    ]
    return {
        "start": round(seg.start + offset, 3),
        "end": round(seg.end + offset, 3),
        "text": seg.text.strip(),
        "words": words,
    }


def write_speech(
    directory: Path,
    segments: Sequence[SpeechSegment],
    vectors: np.ndarray | None,
    embedder: str | None,
) -> None:
    """Write the part's files into ``directory``."""
    payload = {
        "format": FORMAT_VERSION,
        "embedder": embedder,
        "segments": [asdict(s) for s in segments],
    }
    (directory / "segments.json").write_text(json.dumps(payload))
    if vectors is not None:
        np.save(directory / "vectors.npy", vectors.astype(np.float16))


def subtitle_segments(lines: Sequence[tuple[float, float, str]]) -> list[SpeechSegment]:
    """Speech segments from subtitle lines ``(start, end, text)`` (no word timings).

    The lines are the speech evidence of a video whose subtitles are known (a benchmark's,
    or a file the user passes), so no speech recognition runs.
    """
    return [SpeechSegment(float(s), float(e), str(t)) for s, e, t in lines]
