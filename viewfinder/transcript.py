"""What the index heard and read: its speech (and screen text) as timed lines, exportable.

:meth:`viewfinder.VideoQA.transcript` returns a :class:`Transcript` built from a video's cached
index (building the index first when needed); :func:`render` turns it into SRT, WebVTT, JSON
or plain text. SRT and WebVTT are subtitles a player shows and that
``ask --subtitles`` / :func:`viewfinder.tools.subtitles.read_subtitles` read back; JSON keeps
each line's source (``speech`` or ``text``) and reads back the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ExportFormatError

Source = Literal["speech", "text"]
FORMATS = ("txt", "srt", "vtt", "json")
# Prefix of a screen-text line in subtitle formats, so a viewer tells it from speech.
SCREEN_MARK = "[screen] "


@dataclass(frozen=True)
class TranscriptLine:
    """One line the index holds."""

    # Seconds from the start of the video.
    start: float
    # Seconds; equals ``start`` for a line the index saw at one instant.
    end: float
    # "speech" (what was said) or "text" (what was written on screen).
    source: Source
    # The words as indexed.
    text: str


@dataclass(frozen=True)
class Transcript:
    """A video's indexed speech (and, when asked for, screen text) in time order."""

    # Path of the video, as given.
    video: str
    # Length of the video, seconds.
    duration: float
    # The lines, ordered by start time (speech before text at the same instant).
    lines: tuple[TranscriptLine, ...]
    # Where the speech came from: "asr" (speech recognition) or "subtitles".
    speech_source: str = "asr"
    # Why a part is empty, e.g. "speech: no audio track" (nothing when both parts exist).
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The JSON export: one object, its ``lines`` a list ``read_subtitles`` reads back."""
        return {
            "video": self.video,
            "duration": round(self.duration, 3),
            "speech_source": self.speech_source,
            # Part -> why it is empty; a mapping, so the file holds one list (``lines``).
            "missing": dict(note.split(": ", 1) for note in self.notes),
            "lines": [
                {
                    "start": round(x.start, 3),
                    "end": round(x.end, 3),
                    "source": x.source,
                    "text": x.text,
                }
                for x in self.lines
            ],
        }


def from_index(
    handle: Any, video: str, with_text: bool = False, speech_source: str = "asr"
) -> Transcript:
    """The :class:`Transcript` of a loaded ``IndexHandle``.

    Args:
        handle: ``indexes.build.IndexHandle`` of the video.
        video: The video's path, as the user gave it.
        with_text: Also list the screen-text spans.
        speech_source: "asr" or "subtitles" (what the speech index was built from).
    """
    lines = [
        TranscriptLine(s.start, s.end, "speech", " ".join(s.text.split()))
        for s in handle.speech_segments
        if s.text.strip()
    ]
    notes = []
    wanted = ("speech", "text") if with_text else ("speech",)
    for modality in wanted:
        why = handle.available.get(modality, "ok")
        if why != "ok":
            notes.append(f"{modality}: {why}")
    if with_text:
        lines += [
            TranscriptLine(s.start, s.end, "text", " ".join(s.text.split()))
            for s in handle.text_spans
            if s.text.strip()
        ]
    order = {"speech": 0, "text": 1}
    lines.sort(key=lambda x: (x.start, order[x.source], x.end))
    return Transcript(video, float(handle.info.duration), tuple(lines), speech_source, tuple(notes))


def format_for(path: str | None, requested: str | None) -> str:
    """The export format: ``requested``, else the suffix of ``path``, else ``"txt"``.

    Raises:
        ExportFormatError: ``requested`` or the suffix names no known format.
    """
    if requested is not None:
        name = requested.lower().lstrip(".")
        if name not in FORMATS:
            raise ExportFormatError(
                f"Unknown transcript format {requested!r}; choose one of {list(FORMATS)}."
            )
        return name
    if path:
        suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        if suffix in FORMATS:
            return suffix
        raise ExportFormatError(
            f"Cannot tell the format of {path!r} from its suffix; name it .srt, .vtt, .json or "
            ".txt, or pass --format."
        )
    return "txt"


def render(transcript: Transcript, fmt: str = "txt") -> str:
    """The transcript as text in ``fmt`` (one of :data:`FORMATS`)."""
    from .tools.subtitles import format_srt, format_vtt

    fmt = format_for(None, fmt)
    if fmt == "json":
        return json.dumps(transcript.as_dict(), ensure_ascii=False, indent=1) + "\n"
    if fmt in ("srt", "vtt"):
        cues = [(x.start, x.end, _subtitle_text(x)) for x in transcript.lines]
        return format_srt(cues) if fmt == "srt" else format_vtt(cues)
    return _plain(transcript.lines)


def _subtitle_text(line: TranscriptLine) -> str:
    return SCREEN_MARK + line.text if line.source == "text" else line.text


def _plain(lines: Sequence[TranscriptLine]) -> str:
    """``[00:01.2 - 00:03.9] speech: text`` per line (tenths of a second: enough to seek)."""

    def clock(t: float) -> str:
        tenths = max(0, round(t * 10))
        minutes, tenths = divmod(tenths, 600)
        hours, minutes = divmod(minutes, 60)
        head = f"{hours}:{minutes:02d}" if hours else f"{minutes:02d}"
        return f"{head}:{tenths // 10:02d}.{tenths % 10}"

    label = {"speech": "speech", "text": "screen text"}
    return "".join(
        f"[{clock(x.start)} - {clock(x.end)}] {label[x.source]}: {x.text}\n" for x in lines
    )
