"""Screen-text index: OCR spans (text, box, start, end) searched by BM25 + embeddings.

Reading every frame would cost hours on a long video, so frames are chosen first:

* the keyframes of every clip (so each shot is read at least once), and
* frames where the picture changed: the low-resolution scan records the fraction of pixels
  that changed between consecutive sampled frames; a frame is read once the change
  accumulated since the last read frame exceeds ``change_threshold`` (typing a line of text
  is a small change, a cut is a big one), at most one per ``min_interval`` seconds.

Each chosen frame is read coarse-to-fine (``OcrEngine.read_fine``: detect on a downscaled
copy, read full-resolution crops). The same text seen in consecutive read frames is merged
into one span whose end is the first read frame where it is gone. Frames are read in batches
that are checkpointed, so an interrupted build resumes.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .store import Checkpoint
from .transcript import HybridTextIndex

if TYPE_CHECKING:
    from ..runtime import Models

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# In choose_frames, the last frame before a cut counts as this many times farther from the
# frames already chosen than a changed frame or a keyframe.
CUT_PREFERENCE = 1.5
# A changed frame counts as up to this many times farther when the picture changed by at least
# BIG_CHANGE (fraction of pixels) since the previous candidate: new content just appeared.
BIG_CHANGE_PREFERENCE = 2.0
BIG_CHANGE = 0.05
# A picture stable for less than this before a cut (an animation's frames) gets no reserved read.
MIN_STABLE_SECONDS = 1.0
# A reading that completes the kept one (typed text grows) replaces it even when its
# recognition score is up to this much lower (merge_spans).
GROWN_TEXT_SCORE_SLACK = 0.15


@dataclass(frozen=True)
class ScreenTextOptions:
    """Which frames are read and how text is merged."""

    # Accumulated fraction of changed pixels (from the scan) that triggers a read.
    change_threshold: float = 0.004
    # A change this large (fraction of pixels) is a cut: the frame before it is always read.
    cut_change: float = 0.3
    # Never read two change-triggered frames closer than this (seconds).
    min_interval: float = 1.0
    # Frames read per minute of video at most: busy footage changes all the time and a frame
    # costs ~0.27 CPU-s to read, so on the index bench's looped animations 20 per minute made
    # OCR the second-largest stage; slides and terminals change far less often than this.
    max_frames_per_minute: float = 15.0
    # Longest side of the decoded frame the fine reading works on.
    frame_max_side: int = 1280
    # Longest side of the copy text is detected on (coarse pass).
    detect_max_side: int = 640
    # Texts at least this similar (difflib ratio on normalised text) are the same text.
    same_text_ratio: float = 0.8
    # Frames decoded and read per checkpointed batch.
    batch: int = 16
    # Within a batch, regions and lines whose pixels did not change since the previous frame
    # keep their detections and text instead of being read again (tools.ocr.ReadMemo).
    reuse_unchanged: bool = True


@dataclass(frozen=True)
class TextSpan:
    """A line of on-screen text and when it was visible."""

    # First read frame showing it, seconds.
    start: float
    # First read frame no longer showing it (or the video end), seconds.
    end: float
    # The text (the best-scored reading).
    text: str
    # (x0, y0, x1, y1) in pixels of the full-resolution frame.
    box: tuple[float, float, float, float]
    # Recognition confidence of that reading.
    score: float


def choose_frames(
    times: np.ndarray,
    change: np.ndarray,
    keyframes: Sequence[float],
    duration: float,
    options: ScreenTextOptions,
) -> list[float]:
    """Times to read: clip keyframes, change-triggered frames and the last frame before cuts.

    At most ``max_frames_per_minute`` frames are read in each minute of video. Half of that
    budget goes first to the last frames of the pictures that stayed stable longest before a
    cut (a slide, a caption or a typed line is complete just before the picture moves on).
    The rest is picked in turn, each the candidate farthest in time from every frame already
    chosen, so reads cover the minute evenly; two kinds of candidate count as farther: the
    last frame of a shot (:data:`CUT_PREFERENCE`) and the frame after a large change (up to
    :data:`BIG_CHANGE_PREFERENCE`; new content, such as a caption, just appeared).

    Why not simpler rules: taking all last-of-shot frames first left 18-second holes (a minute
    of busy cuts used the whole budget, and a caption over a still shot was never read); pure
    time coverage read typed text mid-typing; spreading the reserved half over cut frames by
    time spent it on an animation's cuts and missed a 4-second caption between two cuts.
    """
    optional = {round(float(t), 3): 1.0 for t in keyframes}
    # Last frame before each cut -> how long the picture had been stable (since the last cut).
    stable_for: dict[float, float] = {}
    accumulated = 0.0
    last = -1e9
    shot_start = float(times[0]) if len(times) else 0.0
    for i, (t, c) in enumerate(zip(times, change, strict=True)):
        accumulated += float(c)
        if c >= options.cut_change and i > 0:
            before = round(float(times[i - 1]), 3)
            stable_for[before] = before - shot_start
            shot_start = float(t)
        if accumulated >= options.change_threshold and t - last >= options.min_interval:
            bonus = min(1.0, accumulated / BIG_CHANGE) * (BIG_CHANGE_PREFERENCE - 1.0)
            optional[round(float(t), 3)] = 1.0 + bonus
            accumulated = 0.0
            last = float(t)
    end = max(duration, 1e-3)
    weight = {t: w for t, w in optional.items() if 0 <= t < end}
    weight.update({t: CUT_PREFERENCE for t in stable_for if 0 <= t < end})
    chosen: list[float] = []
    budget = max(1, round(options.max_frames_per_minute))
    for w0 in np.arange(0.0, end, 60.0):
        window = sorted(t for t in weight if w0 <= t < w0 + 60)
        # Half the budget goes first to the last frames of the longest-stable pictures: a
        # slide, a caption or a typed line is complete just before the picture moves on, and
        # the cuts of a busy animation (stable for a fraction of a second) show little new.
        ends = [t for t in window if stable_for.get(t, 0.0) >= MIN_STABLE_SECONDS]
        ends.sort(key=lambda t: -stable_for[t])
        picked = ends[: budget // 2]
        # The rest covers time; the previous window's last frame counts, so coverage runs
        # across minute boundaries.
        rest = [t for t in window if t not in picked]
        fixed = [*chosen[-1:], *picked]
        picked += _farthest(rest, [weight[t] for t in rest], fixed, budget - len(picked))
        chosen.extend(sorted(picked))
    return sorted(set(chosen))


def _farthest(
    values: list[float], preference: list[float], fixed: list[float], count: int
) -> list[float]:
    """Up to ``count`` of ``values``, each the farthest (times its preference) from all picked."""
    if count <= 0 or not values:
        return []
    if len(values) <= count:
        return list(values)
    remaining = np.asarray(values, dtype=np.float64)
    weight = np.asarray(preference, dtype=np.float64)
    if fixed:
        gaps = np.min(np.abs(remaining[:, None] - np.asarray(fixed)[None, :]), axis=1)
    else:
        gaps = np.full(len(remaining), 1e9)  # nothing yet: the most preferred comes first
    out: list[float] = []
    for _ in range(count):
        i = int(np.argmax(gaps * weight))
        out.append(float(remaining[i]))
        gaps = np.minimum(gaps, np.abs(remaining - remaining[i]))
        gaps[i] = -1.0
    return out


class ScreenTextJob:
    """OCR of the chosen frames in checkpointed batches, shared by worker threads.

    Any number of threads may call :meth:`work` at once; each takes the next unread batch,
    decodes it with ``decode`` (which must be safe to call from that thread, e.g. one video
    reader per thread) and reads it with ``read`` (the OCR engine, whose sessions allow
    concurrent calls).

    Args:
        times: Frame times to read, seconds.
        decode: Batch of times -> RGB frames.
        read: Frame -> text lines (``TextBox``-like: ``text``, ``box``, ``score``).
        checkpoint: Where finished batches are saved and found again.
        options: Batch size.
        progress: Called with (frames done, frames total).
        make_memo: When given, ``read`` is called as ``read(frame, memo)`` with one fresh
            memo per batch (consecutive frames, one thread), e.g. ``tools.ocr.ReadMemo``.
    """

    def __init__(
        self,
        times: Sequence[float],
        decode: Callable[[Sequence[float]], list[np.ndarray]],
        read: Callable[..., list[Any]],
        checkpoint: Checkpoint,
        options: ScreenTextOptions,
        progress: Callable[[float, float], None] | None = None,
        make_memo: Callable[[], Any] | None = None,
    ) -> None:
        self._decode, self._read, self._make_memo = decode, read, make_memo
        self._checkpoint, self._progress = checkpoint, progress
        self._total = len(times)
        self._batches = {
            f"{i:08d}-{len(b):04d}": b
            for i in range(0, len(times), options.batch)
            for b in [list(times[i : i + options.batch])]
        }
        self._done = checkpoint.load()
        if self._done:
            logger.info("screen text: resuming, %d batches already read", len(self._done))
        self._todo = [k for k in self._batches if k not in self._done]
        self._frames_done = sum(len(b) for k, b in self._batches.items() if k in self._done)
        self._lock = threading.Lock()

    def work(self) -> None:
        """Read batches until none are left."""
        while True:
            with self._lock:
                if not self._todo:
                    return
                key = self._todo.pop(0)
            batch = self._batches[key]
            memo = self._make_memo() if self._make_memo is not None else None
            lines = []
            for frame in self._decode(batch):
                lines.append(
                    [
                        {
                            "text": b.text,
                            "box": [round(v, 1) for v in b.box],
                            "score": round(float(b.score), 4),
                        }
                        for b in (self._read(frame) if memo is None else self._read(frame, memo))
                    ]
                )
                del frame
            result = {"times": batch, "lines": lines}
            self._checkpoint.save(key, result)
            with self._lock:
                self._done[key] = result
                self._frames_done += len(batch)
                done = self._frames_done
            if self._progress is not None:
                self._progress(done, self._total)

    def readings(self) -> list[tuple[float, list]]:
        """(time, lines) of every frame, in time order (after every :meth:`work` ended).

        Raises:
            RuntimeError: a batch is still unread.
        """
        missing = [k for k in self._batches if k not in self._done]
        if missing:
            raise RuntimeError(f"screen-text batches not read yet: {missing[:3]}")
        out: list[tuple[float, list]] = []
        for key in self._batches:
            out.extend(zip(self._done[key]["times"], self._done[key]["lines"], strict=True))
        return out


def normalize(text: str) -> str:
    """Lower-case alphanumerics separated by single spaces (for comparing readings)."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def merge_spans(
    readings: Sequence[tuple[float, list]],
    duration: float,
    options: ScreenTextOptions,
    cuts: Sequence[float] = (),
) -> list[TextSpan]:
    """Merge the same text seen in consecutive read frames into spans.

    A span ends at the first read frame without its text, or at the first shot cut after
    the last frame that showed it when that comes sooner (the next read frame can be far
    away, and text rarely survives a cut).
    """
    cut_times = np.asarray(sorted(cuts), dtype=np.float64)

    def end_of(span: dict[str, Any], gone_at: float) -> float:
        i = int(np.searchsorted(cut_times, span["last"], side="right"))
        return min(gone_at, float(cut_times[i])) if i < len(cut_times) else gone_at

    open_spans: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    for t, lines in sorted(readings, key=lambda r: r[0]):
        seen: set[int] = set()
        for line in lines:
            norm = normalize(line["text"])
            if not norm:
                continue
            match = None
            for j, span in enumerate(open_spans):
                if j in seen:
                    continue
                if (
                    span["norm"] == norm
                    or difflib.SequenceMatcher(None, span["norm"], norm).ratio()
                    >= options.same_text_ratio
                ):
                    match = j
                    break
            if match is None:
                open_spans.append(
                    {
                        "start": t,
                        "norm": norm,
                        "text": line["text"],
                        "box": line["box"],
                        "score": line["score"],
                        "last": t,
                    }
                )
                seen.add(len(open_spans) - 1)
            else:
                span = open_spans[match]
                span["last"] = t
                if _better_reading(norm, line["score"], span["norm"], span["score"]):
                    span.update(text=line["text"], box=line["box"], score=line["score"], norm=norm)
                seen.add(match)
        still = []
        for j, span in enumerate(open_spans):
            if j in seen:
                still.append(span)
            else:
                span["end"] = end_of(span, t)
                closed.append(span)
        open_spans = still
    for span in open_spans:
        span["end"] = end_of(span, duration)
    spans = [
        TextSpan(
            round(s["start"], 3),
            round(max(s["end"], s["start"]), 3),
            s["text"],
            tuple(s["box"]),
            s["score"],
        )
        for s in closed + open_spans
    ]
    return sorted(spans, key=lambda s: (s.start, s.box[1], s.box[0]))


def _better_reading(new: str, new_score: float, old: str, old_score: float) -> bool:
    """Whether a new reading of a span's text should replace the one kept.

    Text being typed grows from frame to frame ("This is the message boar" -> "...board."):
    the reading that contains the other wins unless it was read far less confidently;
    otherwise the more confident reading wins.
    """
    if len(new) > len(old) and old in new:
        return new_score >= old_score - GROWN_TEXT_SCORE_SLACK
    if len(new) < len(old) and new in old:
        return new_score > old_score + GROWN_TEXT_SCORE_SLACK
    return new_score > old_score


class ScreenTextIndex(HybridTextIndex):
    """Searchable on-screen text of one video."""

    def __init__(
        self,
        spans: Sequence[TextSpan],
        vectors: np.ndarray | None,
        embedder: str | None,
        models: Models | None = None,
    ) -> None:
        super().__init__(
            [(s.start, s.end, s.text) for s in spans], vectors, "text", embedder, models
        )
        self.spans = list(spans)

    @classmethod
    def load(cls, directory: Path, models: Models | None = None) -> ScreenTextIndex:
        """Load a built part directory."""
        data = json.loads((directory / "spans.json").read_text())
        spans = [
            TextSpan(s["start"], s["end"], s["text"], tuple(s["box"]), s["score"])
            for s in data["spans"]
        ]
        vec_path = directory / "vectors.npy"
        vectors = np.load(vec_path) if vec_path.is_file() else None
        return cls(spans, vectors, data.get("embedder"), models)


def write_screen_text(
    directory: Path,
    spans: Sequence[TextSpan],
    vectors: np.ndarray | None,
    embedder: str | None,
    frames_read: Sequence[float],
) -> None:
    """Write the part's files into ``directory``."""
    payload = {
        "format": FORMAT_VERSION,
        "embedder": embedder,
        "frames_read": list(frames_read),
        "spans": [asdict(s) for s in spans],
    }
    (directory / "spans.json").write_text(json.dumps(payload))
    if vectors is not None:
        np.save(directory / "vectors.npy", vectors.astype(np.float16))
