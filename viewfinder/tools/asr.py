"""Speech recognition with faster-whisper (CTranslate2 Whisper) on the CPU.

Timestamps are evidence, so they must be right: long-form Whisper without voice-activity
detection was measured placing a sentence 11 s early (see MODELS.md). We therefore run
faster-whisper's bundled Silero VAD (an ONNX file inside the wheel, no download) and decode
each stretch of speech as its own clip *in the original timeline*. (faster-whisper's own
``vad_filter`` glues the speech together and maps times back afterwards; a word that
straddles a glued seam is then mapped into the wrong stretch, which we measured putting a
sentence 5.6 s early.) Word timestamps tighten every segment to its first and last word, and
long segments are split at the widest pause so evidence covers seconds, not half a minute.

    asr = load_asr("whisper-base")
    for seg in asr.transcribe("talk.mp4"):
        print(f"[{seg.start:.1f}-{seg.end:.1f}] {seg.text}")
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidAudioError, ModelError, require
from ..models import ResolvedModel, resolve

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Whisper's input rate; arrays given to transcribe() must use it.


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in seconds from the start of the audio."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A short run of speech: the unit that becomes a piece of evidence."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    # Mean token log-probability of the decoded window (low = unsure transcription).
    avg_logprob: float
    # Whisper's probability that the window held no speech (high = likely hallucination).
    no_speech_prob: float


@dataclass(frozen=True)
class AsrOptions:
    """How speech is recognised. Defaults favour correct timestamps over raw speed."""

    # Spoken language code ("en"); None detects it from the first 30 s of speech, which
    # costs one extra encoder pass and can misfire on music-only intros.
    language: str | None = None
    # Silero VAD drops non-speech before decoding; without it long-form timestamps drift.
    vad: bool = True
    # Word timings let segments be tightened to the words actually spoken and split at pauses.
    word_timestamps: bool = True
    # Beam search width. Greedy (1) cost 27% less CPU than Whisper's default 5 on 5 min of
    # narration with the same words in 5 of the first 6 segments; retrieval over BM25 +
    # embeddings does not notice the odd misheard word, an index build does notice 27%.
    beam_size: int = 1
    # CPU threads per transcription; 2 matches the reference machine (more threads contend).
    threads: int = 2
    # Transcriptions that may run at once from different Python threads (CTranslate2
    # workers), so an indexer can put a second core on speech when its other stages finish.
    workers: int = 1
    # int8 weights: ~2x faster than float32 on CPU with no measurable loss on our prompts.
    compute_type: str = "int8"
    # Feeding the previous window's text back in can make one misheard window poison the
    # next ones (repetition loops); evidence wants each utterance decoded on its own.
    condition_on_previous_text: bool = False
    # Segments longer than this are split at the widest pause so evidence spans stay short.
    max_segment_seconds: float = 10.0
    # Silence (ms) that ends a VAD speech stretch; shorter than faster-whisper's 2000 so
    # clips start close to the first word.
    vad_min_silence_ms: int = 500
    # Speech stretches separated by at most this much silence are decoded in one Whisper
    # window (fewer 30 s encoder passes); longer silences start a new clip so no word can
    # be timed across them.
    merge_gap_seconds: float = 2.0
    # Segments in which every word is less likely than this are dropped: over music Whisper
    # "hears" a lone "You" with word probability ~0.01 (seen on a narrated explainer's intro).
    min_word_probability: float = 0.1


class Transcriber:
    """A Whisper model resolved through the registry and loaded on first use.

    Args:
        model: Registry name (see ``viewfinder.models.available_models("asr")``) or a path to
            a CTranslate2 Whisper model directory.
        options: Recognition options; defaults to :class:`AsrOptions()`.
        cache_dir: Where packaged weights are assembled; None uses the default cache.

    Raises:
        UnknownModelError: ``model`` is neither a registered name nor an existing path.
        ModelNotInstalledError: the weights are not installed (the message says how).
        MissingDependencyError: faster-whisper is not installed.
    """

    def __init__(
        self,
        model: str = "whisper-base",
        options: AsrOptions | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        require("faster_whisper", "asr", "Speech recognition")
        self.options = options or AsrOptions()
        self.resolved: ResolvedModel = resolve("asr", model, cache_dir)
        self._model: Any = None
        self.load_seconds: float | None = None

    @property
    def name(self) -> str:
        """The registry name (or path) this transcriber was built from."""
        return self.resolved.name

    def load(self) -> None:
        """Load the weights now (otherwise the first :meth:`transcribe` does it)."""
        if self._model is not None:
            return
        faster_whisper = require("faster_whisper", "asr", "Speech recognition")
        started = time.perf_counter()
        try:
            self._model = faster_whisper.WhisperModel(
                str(self.resolved.path),
                device="cpu",
                compute_type=self.options.compute_type,
                cpu_threads=self.options.threads,
                num_workers=self.options.workers,
                local_files_only=True,  # weights come from the registry, never the hub
            )
        except (RuntimeError, OSError, ValueError) as e:
            raise ModelError(
                f"Could not load the ASR model {self.name!r} from {self.resolved.path}: {e}. "
                "Pass a registered name (`viewfinder models`) or a CTranslate2 Whisper model "
                "directory (convert one with `ct2-transformers-converter`)."
            ) from e
        self.load_seconds = time.perf_counter() - started
        logger.info("Loaded ASR model %s in %.1f s", self.name, self.load_seconds)

    def transcribe(
        self,
        audio: np.ndarray | str | Path,
        progress: Callable[[float], None] | None = None,
    ) -> list[Segment]:
        """Recognise the speech in ``audio``.

        Args:
            audio: A float32 mono waveform at 16 kHz, or the path of a video or audio file
                (its audio track is decoded and resampled).
            progress: Called with the fraction of the audio processed, from 0.0 to 1.0.

        Returns:
            Segments in time order, each tightened to its words and at most about
            ``options.max_segment_seconds`` long. Empty when there is no audio track or
            no speech.

        Raises:
            InvalidAudioError: the array is not one-dimensional or not finite.
            VideoNotFoundError: a path that does not exist.
        """
        waveform = _as_waveform(audio)
        if waveform is None or waveform.size == 0:
            logger.info("No audio to transcribe%s", "" if _is_array(audio) else f" in {audio}")
            if progress:
                progress(1.0)
            return []
        opts = self.options
        started = time.perf_counter()
        duration = len(waveform) / SAMPLE_RATE
        clips: str | list[float] = "0"  # faster-whisper's spelling of "the whole audio"
        if opts.vad:
            clips = speech_clips(waveform, opts.vad_min_silence_ms, opts.merge_gap_seconds)
            if not clips:  # checked before loading Whisper: silence costs only the VAD pass
                logger.info("No speech detected in %.1f s of audio", duration)
                if progress:
                    progress(1.0)
                return []
        self.load()
        raw_segments, info = self._model.transcribe(
            waveform,
            language=opts.language,
            beam_size=opts.beam_size,
            vad_filter=False,  # we pass the speech clips ourselves (see the module docstring)
            clip_timestamps=clips,
            word_timestamps=opts.word_timestamps,
            condition_on_previous_text=opts.condition_on_previous_text,
        )
        segments: list[Segment] = []
        for raw in raw_segments:  # a generator: decoding happens as we iterate
            segments.extend(_convert(raw, opts.max_segment_seconds, opts.min_word_probability))
            if progress:
                progress(min(1.0, float(raw.end) / duration))
        if progress:
            progress(1.0)
        elapsed = time.perf_counter() - started
        logger.info(
            "Transcribed %.1f s of audio (%d clips, language %s) in %.1f s: %d segments",
            duration,
            len(clips) // 2 if opts.vad else 1,
            info.language,
            elapsed,
            len(segments),
        )
        return segments


def load_asr(
    name: str = "whisper-base",
    options: AsrOptions | None = None,
    cache_dir: Path | None = None,
) -> Transcriber:
    """Build a :class:`Transcriber` for the registry name or model path ``name``."""
    return Transcriber(name, options, cache_dir)


# --------------------------------------------------------------------------- audio input

# Whisper decodes 30 s windows: a clip longer than this costs a second encoder pass.
_WINDOW_SECONDS = 30.0
# Silero scores soft word onsets low (the "A" of "Asterisk" stayed under 0.35 for 0.3 s in
# our prompts), so clips open this long before the detected speech and close a little after.
# Decoding in the original timeline, the extra silence costs nothing but a few frames.
_PAD_BEFORE, _PAD_AFTER = 1.0, 0.5


def speech_clips(waveform: np.ndarray, min_silence_ms: int, merge_gap: float) -> list[float]:
    """Start/end times (flattened: s0, e0, s1, e1, ...) of the speech in ``waveform``.

    Silero VAD finds stretches of speech; each is widened by ``_PAD_BEFORE``/``_PAD_AFTER``,
    and neighbours whose widened clips overlap or are closer than ``merge_gap`` seconds are
    joined while the result fits in one Whisper window. Clips never overlap.
    """
    from .onnx import import_onnxruntime

    import_onnxruntime("asr", "Voice activity detection")  # Silero VAD runs on onnxruntime
    vad = require("faster_whisper.vad", "asr", "Voice activity detection")
    options = vad.VadOptions(
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=200,
        max_speech_duration_s=_WINDOW_SECONDS - _PAD_BEFORE - _PAD_AFTER - 1.0,
    )
    total = len(waveform) / SAMPLE_RATE
    spans: list[list[float]] = []
    for chunk in vad.get_speech_timestamps(waveform, options, sampling_rate=SAMPLE_RATE):
        start = max(0.0, chunk["start"] / SAMPLE_RATE - _PAD_BEFORE)
        end = min(total, chunk["end"] / SAMPLE_RATE + _PAD_AFTER)
        if spans and start - spans[-1][1] <= merge_gap and end - spans[-1][0] <= _WINDOW_SECONDS:
            spans[-1][1] = end
        else:
            if spans:  # padding must not make two clips decode the same audio twice
                start = max(start, spans[-1][1])
            spans.append([start, end])
    return [round(t, 3) for span in spans for t in span if span[1] > span[0]]


def _is_array(audio: object) -> bool:
    return isinstance(audio, np.ndarray)


def _as_waveform(audio: np.ndarray | str | Path) -> np.ndarray | None:
    """A contiguous float32 mono 16 kHz array, or None when a file has no audio track."""
    if isinstance(audio, (str, Path)):
        from .audio import load_audio  # imported here: decoding is only needed for paths

        audio = load_audio(Path(audio), sample_rate=SAMPLE_RATE)
        if audio is None:
            return None
    if not isinstance(audio, np.ndarray):
        raise InvalidAudioError(
            f"Cannot transcribe a {type(audio).__name__}: pass a file path or "
            "a float32 mono numpy array sampled at 16 kHz."
        )
    if audio.ndim != 1:
        raise InvalidAudioError(
            f"Audio array has shape {audio.shape}; pass mono audio as a 1-D "
            "array (downmix with audio.mean(axis=<channel axis>))."
        )
    waveform = np.ascontiguousarray(audio, dtype=np.float32)
    if not np.isfinite(waveform).all():
        raise InvalidAudioError(
            "Audio array contains NaN or infinite samples; clean it with "
            "np.nan_to_num(audio) before transcribing."
        )
    return waveform


# --------------------------------------------------------------------------- segments


def _convert(raw: Any, max_seconds: float, min_probability: float) -> list[Segment]:
    """faster-whisper segment -> our segments, tightened to words and split if long."""
    words = tuple(
        Word(float(w.start), float(w.end), w.word, float(w.probability))
        for w in (raw.words or ())
        if w.word.strip()
    )
    meta = (float(raw.avg_logprob), float(raw.no_speech_prob))
    if not words:
        text = raw.text.strip()
        return [Segment(float(raw.start), float(raw.end), text, (), *meta)] if text else []
    if max(w.probability for w in words) < min_probability:
        logger.debug("Dropped unlikely segment %r at %.1f s (hallucination)", raw.text, raw.start)
        return []
    return [_from_words(piece, *meta) for piece in split_words(words, max_seconds)]


def _from_words(words: Sequence[Word], avg_logprob: float, no_speech_prob: float) -> Segment:
    text = "".join(w.text for w in words).strip()
    return Segment(words[0].start, words[-1].end, text, tuple(words), avg_logprob, no_speech_prob)


def split_words(words: Sequence[Word], max_seconds: float) -> list[Sequence[Word]]:
    """Split a run of words into pieces no longer than ``max_seconds`` where possible.

    Each cut goes where a listener would put it: at the longest pause, preferring the end
    of a sentence, and never leaving a piece under a second when a better cut exists.
    A single word longer than ``max_seconds`` stays whole.
    """
    if len(words) < 2 or words[-1].end - words[0].start <= max_seconds:
        return [words]
    best_cut, best_score = 1, float("-inf")
    for i in range(1, len(words)):
        left, right = words[:i], words[i:]
        score = words[i].start - words[i - 1].end  # pause length in seconds
        if words[i - 1].text.rstrip().endswith((".", "?", "!")):
            score += 0.5
        elif words[i - 1].text.rstrip().endswith((",", ";", ":")):
            score += 0.2
        if min(left[-1].end - left[0].start, right[-1].end - right[0].start) < 1.0:
            score -= 1.0
        if score > best_score:
            best_cut, best_score = i, score
    return split_words(words[:best_cut], max_seconds) + split_words(words[best_cut:], max_seconds)


# --------------------------------------------------------------------------- evaluation

_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)
_SYMBOL_WORDS = {"*": " star ", "#": " pound ", "&": " and ", "%": " percent "}


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing transcripts.

    Bracketed stage directions ("(tone plays)") and ellipses are dropped, hyphens split
    words ("open-source" = "open source"), and single digits are spelled out, so "press 1"
    and "press one" compare equal.
    """
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text.lower())
    for symbol, word in _SYMBOL_WORDS.items():
        text = text.replace(symbol, word)
    text = re.sub(r"[^\w\s']|_", " ", text).replace("'", "")
    return [_NUMBER_WORDS[int(w)] if w.isdigit() and int(w) <= 10 else w for w in text.split()]


def word_error_rate(references: str | Iterable[str], hypotheses: str | Iterable[str]) -> float:
    """Corpus word error rate: (substitutions + deletions + insertions) / reference words.

    Args:
        references: The true transcript, or several (paired with ``hypotheses``).
        hypotheses: The recognised text, or several.

    Returns:
        The error rate over all pairs together (0.0 is perfect; can exceed 1.0).
    """
    refs = [references] if isinstance(references, str) else list(references)
    hyps = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses; pair them up.")
    errors = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        ref_words, hyp_words = normalize_words(ref), normalize_words(hyp)
        errors += _edit_distance(ref_words, hyp_words)
        total += len(ref_words)
    return errors / max(total, 1)


def _edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]
