"""The public entry point: :class:`VideoQA` and :func:`ask`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .answer import Answer
from .errors import InvalidQuestionError, UnknownStrategyError
from .progress import Progress
from .runtime import Models
from .settings import Settings, check_model_names

logger = logging.getLogger(__name__)

# (start, end, text) lines in seconds, or the path of an .srt / .vtt / LongVideoBench .json file.
Subtitles = Sequence[Sequence[Any]] | str | os.PathLike[str]
MIN_OPTIONS, MAX_OPTIONS = 2, 6
# Longest question (options included) accepted, in UTF-8 bytes. The answering LLM's 4096-token
# context holds the prompt (700 tokens reserved) and at least 256 tokens of evidence, leaving
# 3140 for the question. A byte-level BPE spends at most one token per byte, so 3000 bytes
# always fit; counting characters did not (750 emoji are 3000 characters' worth of tokens in
# 750 characters, so 3000 emoji passed and then failed after the models had loaded). ASCII
# text is one byte per character (the longest MLVU / LongVideoBench question with its
# options has 2796).
MAX_QUESTION_CHARS = 3000
STRATEGIES = ("agent", "retrieve", "uniform")


class VideoQA:
    """Answers questions about videos; models load once and serve every question.

    One :class:`~viewfinder.runtime.Models` (``self.models``) owns every model this object
    uses, for indexing and answering alike: ``self.models.loaded()`` says what it holds and
    :meth:`close` (or leaving a ``with VideoQA() as vf:`` block) releases it.

    Args:
        settings: What to compute with; defaults to :meth:`Settings.from_env`.
        models: A model owner to share with other VideoQA objects of this process (a server
            answering with several budgets); it loads by its own settings' model choices, and
            :meth:`close` leaves it to whoever made it. None: this object makes its own.
        **overrides: Individual settings, e.g. ``VideoQA(budget=512, llm="qwen2.5-0.5b")``.
    """

    def __init__(
        self, settings: Settings | None = None, *, models: Models | None = None, **overrides: Any
    ) -> None:
        base = settings if settings is not None else Settings.from_env()
        self.settings = base.replace(**overrides) if overrides else base
        if self.settings.strategy not in STRATEGIES:
            raise UnknownStrategyError(
                f"Unknown strategy {self.settings.strategy!r}; choose one of {list(STRATEGIES)}"
            )
        check_model_names(self.settings)  # a mistyped model name fails here, not after indexing
        self._owns_models = models is None
        self.models = models if models is not None else Models(self.settings)
        # Per-video evidence (uniform) and index handles (agent), keyed by content fingerprint.
        self._evidence: dict[str, dict[str, Any]] = {}
        self._indexes: dict[str, Any] = {}

    def index(
        self,
        video: str | os.PathLike[str],
        progress: Progress | None = None,
        subtitles: Subtitles | None = None,
    ) -> Any:
        """Build (once, cached on disk) and load the indexes of ``video``.

        Args:
            video: Path of the video file.
            progress: Called as ``progress(stage, done, total)`` during long work.
            subtitles: Speech lines to index instead of running speech recognition (see
                :meth:`ask`).

        Returns:
            An ``IndexHandle``: shots, speech, screen text and (with CLIP weights) frames,
            searchable one by one or fused.
        """
        from .indexes.fingerprint import video_key
        from .tools.video import probe

        path = Path(video).expanduser()
        info = probe(path)  # a missing or broken file is a typed error before the cache key is read
        lines = None if subtitles is None else _subtitle_lines(subtitles, info.duration)
        return self._index(path, video_key(self.settings.cache_root, path), progress, lines)

    def transcript(
        self,
        video: str | os.PathLike[str],
        text: bool = False,
        progress: Progress | None = None,
    ) -> Any:
        """What the index of ``video`` heard (and, with ``text``, read), with timestamps.

        The video is indexed first when it is not yet (once, cached on disk), reporting to
        ``progress`` as :meth:`index` does.

        Args:
            video: Path of the video file.
            text: Also list the on-screen text spans.
            progress: Called as ``progress(stage, done, total)`` while indexing.

        Returns:
            A :class:`viewfinder.transcript.Transcript`; ``render(t, "srt")`` (same module)
            exports it as subtitles.

        Raises:
            VideoError: the video is missing, not a video, corrupt or empty.
        """
        from .transcript import from_index

        handle = self.index(video, progress=progress)
        return from_index(handle, str(video), with_text=text)

    def _index(
        self,
        path: Path,
        key: str,
        progress: Progress | None,
        subtitles: tuple[tuple[float, float, str], ...] | None = None,
    ) -> Any:
        """The index handle of ``path`` (content fingerprint ``key``), built or loaded once."""
        from .indexes.build import IndexOptions, index_video

        key = _index_key(key, subtitles)
        if key not in self._indexes:
            options = IndexOptions(subtitles=subtitles) if subtitles is not None else None
            self._indexes[key] = index_video(
                path, self.settings, progress, options, models=self.models
            )
        return self._indexes[key]

    def close(self) -> None:
        """Release the loaded models (unless they were shared in with ``models=``) and the
        cached per-video indexes (a later call loads them again)."""
        self._indexes.clear()
        self._evidence.clear()
        if self._owns_models:
            self.models.close()

    def __enter__(self) -> VideoQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(
        self,
        video: str | os.PathLike[str],
        question: str,
        options: Sequence[str] | None = None,
        progress: Progress | None = None,
        subtitles: Subtitles | None = None,
    ) -> Answer:
        """Answer ``question`` about ``video``.

        Args:
            video: Path of the video file.
            question: The question, in words.
            options: 2-6 answer options for a multiple-choice question, else None.
            progress: Called as ``progress(stage, done, total)`` during long work.
            subtitles: The video's speech as ``(start, end, text)`` lines in seconds on its
                time axis (or the path of an .srt / .vtt / LongVideoBench .json file). They
                replace speech recognition: the agent searches them as its speech index, the
                uniform baseline reads them as its transcript; evidence quotes them with
                their times. Lines outside the video are dropped.

        Returns:
            The answer with its confidence, timestamped evidence, usage and the models used.

        Raises:
            InvalidQuestionError: empty question or a wrong number of options.
            VideoError: the video is missing, not a video, corrupt or empty.
            SubtitleError: the subtitle file or lines are malformed.
        """
        question, options = validate_question(question, options)
        from .tools.video import fingerprint, probe

        started = time.perf_counter()
        path = Path(video).expanduser()
        info = probe(path)
        indexed = self.settings.strategy in ("agent", "retrieve")
        if indexed:
            from .indexes.fingerprint import video_key

            # The index's own key (it samples the file once): a same-size rewrite of the file
            # is a different video.
            key = video_key(self.settings.cache_root, path)
        else:
            key = fingerprint(path)  # hashes 3 MiB of the file: once per question
        probe_s = time.perf_counter() - started
        lines = None if subtitles is None else _subtitle_lines(subtitles, info.duration)
        if indexed:
            cached = _index_key(key, lines) in self._indexes
            handle = self._index(path, key, progress, lines)
            index_s = time.perf_counter() - started - probe_s
            if self.settings.strategy == "agent":
                from .agent.run import answer_agent as answer_indexed
            else:
                from .agent.retrieve import answer_retrieve as answer_indexed
            answer = answer_indexed(
                path, handle, question, options, self.models, self.settings, progress
            )
            answer.usage["seconds"]["index"] = round(index_s, 3)
            # What this question cost the index: nothing when an earlier question loaded it.
            answer.usage["index"] = (
                {p: "cached" for p in handle.work} if cached else dict(handle.work)
            )
        else:
            from .agent.uniform import answer_uniform

            cache = self._evidence.setdefault(key, {})
            answer = answer_uniform(
                path,
                info,
                question,
                options,
                self.models,
                self.settings,
                cache=cache,
                progress=progress,
                subtitles=lines,
            )
        answer.usage["speech_source"] = "asr" if lines is None else "subtitles"
        answer.usage.setdefault("seconds", {})["probe"] = round(probe_s, 3)
        answer.usage["seconds"]["total"] = round(time.perf_counter() - started, 3)
        answer.usage["video"] = {
            "path": str(path),
            "duration": round(info.duration, 3),
            "width": info.width,
            "height": info.height,
            "has_audio": info.has_audio,
        }
        answer.models = self.models.describe()
        from .agent.confidence import calibrate

        # The strategies' confidence is a rule; the dev set's fitted map makes it a probability.
        return calibrate(answer)


def validate_question(question: str, options: Sequence[str] | None) -> tuple[str, list[str] | None]:
    """Check and tidy a question and its options (raises :class:`InvalidQuestionError`)."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestionError(
            "The question is empty. Ask something about the video, e.g. "
            '"What command does the speaker type?"'
        )
    cleaned = None if options is None else [str(o).strip() for o in options]
    texts = [question.strip(), *(cleaned or [])]
    chars = sum(len(t) for t in texts)
    length = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    if length > MAX_QUESTION_CHARS:
        size = f"{chars} characters" if chars == length else f"{length} bytes ({chars} characters)"
        raise InvalidQuestionError(
            f"{'The question and its options are' if cleaned else 'The question is'} {size} "
            "long in UTF-8 (emoji and non-Latin letters take 2-4 bytes each); "
            f"at most {MAX_QUESTION_CHARS} bytes fit beside the evidence in the answering model's "
            "context. Shorten the question (ask about one thing at a time)."
        )
    if cleaned is None:
        return question.strip(), None
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        raise InvalidQuestionError(
            f"A multiple-choice question needs {MIN_OPTIONS}-{MAX_OPTIONS} "
            f"options; got {len(cleaned)}. Pass --option 2 to 6 times, or "
            "none for an open question."
        )
    if any(not o for o in cleaned):
        raise InvalidQuestionError("An option is empty; give each option some text.")
    return question.strip(), cleaned


def _index_key(fingerprint: str, subtitles: tuple[tuple[float, float, str], ...] | None) -> str:
    """Key of an index handle: a subtitle-based index is a different index of the video."""
    if subtitles is None:
        return fingerprint
    from .tools.subtitles import subtitles_hash

    return f"{fingerprint}+subtitles:{subtitles_hash(subtitles)[:16]}"


def _subtitle_lines(subtitles: Subtitles, duration: float) -> tuple[tuple[float, float, str], ...]:
    """Subtitle lines (read from a file when given a path), checked and clipped to the video."""
    from .tools.subtitles import normalize, read_subtitles

    if isinstance(subtitles, str | os.PathLike):
        subtitles = read_subtitles(subtitles)
    return normalize(subtitles, duration)


def ask(
    video: str | os.PathLike[str],
    question: str,
    options: Sequence[str] | None = None,
    subtitles: Subtitles | None = None,
    **settings: Any,
) -> Answer:
    """One-shot helper: ``VideoQA(**settings).ask(video, question, options, subtitles=...)``."""
    return VideoQA(**settings).ask(video, question, options, subtitles=subtitles)
