"""Subtitles as speech evidence: SRT, WebVTT and LongVideoBench JSON -> timed lines.

A subtitle line is ``(start, end, text)`` in seconds on the video's time axis. Given to
``VideoQA.ask(..., subtitles=...)`` the lines replace speech recognition: the agent indexes
them as its speech part, the uniform baseline reads them as its transcript.

Markup is removed (``<i>``, ``<font ...>`` as in Video-MME's SRT files, WebVTT voice and
class tags, ``{\\an8}`` positioning); a cue whose text is empty afterwards is dropped. A file
that cannot be parsed raises :class:`~viewfinder.errors.SubtitleError` naming the line.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import SubtitleError

SubtitleLine = tuple[float, float, str]

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_EXAMPLE = {"srt": "00:01:02,500 --> 00:01:04,000", "vtt": "00:01:02.500 --> 00:01:04.000"}


def read_subtitles(path: str | Path, offset: float = 0.0) -> list[SubtitleLine]:
    """Read a subtitle file: SRT, WebVTT or a LongVideoBench-style JSON list.

    Args:
        path: The file; the format is chosen by suffix (``.srt``, ``.vtt``, ``.json``) or,
            for another suffix, by its content.
        offset: Seconds subtracted from every time (LongVideoBench's
            ``starting_timestamp_for_subtitles``), so times land on the video's axis.

    Returns:
        Lines in file order, times in seconds.

    Raises:
        SubtitleError: the file is missing or malformed (the message names the line).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise SubtitleError(
            f"Subtitle file not found: {path}. Pass an existing .srt, .vtt or .json file."
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SubtitleError(
            f"Subtitle file {path} is not UTF-8 text ({e.reason} at byte {e.start}). Convert "
            "it, e.g. `iconv -f latin1 -t utf-8 IN.srt > OUT.srt`."
        ) from e
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("srt", "vtt", "json"):
        head = text.lstrip()
        kind = "vtt" if head.startswith("WEBVTT") else "json" if head[:1] in "[{" else "srt"
    if kind == "json":
        lines = parse_json(text, str(path))
    else:
        lines = parse_vtt(text, str(path)) if kind == "vtt" else parse_srt(text, str(path))
    return [(s - offset, e - offset, t) for s, e, t in lines]


def parse_srt(text: str, source: str = "<srt>") -> list[SubtitleLine]:
    """Parse SubRip text: blocks of an optional number, a time line, and text lines."""
    return _parse_cues(text.lstrip("\ufeff"), source, "srt")


def parse_vtt(text: str, source: str = "<vtt>") -> list[SubtitleLine]:
    """Parse WebVTT text (the ``WEBVTT`` header, NOTE/STYLE/REGION blocks are skipped)."""
    text = text.lstrip("\ufeff")
    if not text.startswith("WEBVTT"):
        raise SubtitleError(
            f"{source} line 1: a WebVTT file starts with 'WEBVTT'. Add that header line, or "
            "name the file .srt if it is SubRip."
        )
    return _parse_cues(text, source, "vtt")


def parse_json(text: str, source: str = "<json>") -> list[SubtitleLine]:
    """Parse LongVideoBench subtitles: a JSON list of ``{"timestamp": [s, e], "text"}`` or
    ``{"start": "HH:MM:SS.f", "end": ..., "line": ...}`` entries."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as e:
        raise SubtitleError(
            f"{source} is not valid JSON ({e.msg} at line {e.lineno}). Re-download it, or pass "
            "an .srt / .vtt file."
        ) from e
    if isinstance(entries, dict):  # {"subtitles": [...]} and similar wrappers
        lists = [v for v in entries.values() if isinstance(v, list)]
        entries = lists[0] if len(lists) == 1 else None
    if not isinstance(entries, list):
        raise SubtitleError(
            f"{source} holds no list of subtitle entries. Pass a LongVideoBench subtitle file "
            '(a list of {"timestamp": [start, end], "text": ...}) or an .srt / .vtt file.'
        )
    out: list[SubtitleLine] = []
    for n, entry in enumerate(entries):
        try:
            if "timestamp" in entry:
                start, end = entry["timestamp"]
                words = entry.get("text", "")
            else:
                start, end = _parse_time(entry["start"]), _parse_time(entry["end"])
                words = entry.get("line", entry.get("text", ""))
            start = float(start)
            # Machine transcripts leave the last end open: the line then ends where it starts.
            end = start if end is None else float(end)
        except (KeyError, TypeError, ValueError) as e:
            raise SubtitleError(
                f"{source} entry {n}: expected {{'timestamp': [start, end], 'text': ...}} or "
                f"{{'start': 'HH:MM:SS.f', 'end': ..., 'line': ...}}, got {entry!r:.120}. Fix "
                "or delete that entry."
            ) from e
        out.append((start, end, _clean(str(words))))
    return [line for line in out if line[2]]


def normalize(
    lines: Iterable[Sequence[Any]], duration: float | None = None
) -> tuple[SubtitleLine, ...]:
    """Check and tidy subtitle lines: times rounded to ms, sorted, empty text dropped.

    Args:
        lines: ``(start, end, text)`` per line, seconds on the video's time axis.
        duration: When given, lines outside ``[0, duration]`` are dropped and the others
            clipped to it (benchmark subtitle offsets can push a line before 0).

    Raises:
        SubtitleError: a line is not ``(start, end, text)`` with finite times, end >= start.
    """
    if isinstance(lines, str | bytes | Path):
        raise SubtitleError(
            "Subtitles must be (start, end, text) lines, not a path or string. Read a file "
            "with viewfinder.tools.subtitles.read_subtitles(path) first."
        )
    out = []
    for n, line in enumerate(lines):
        try:
            start, end, text = line
            start, end = float(start), float(end)
        except (TypeError, ValueError) as e:
            raise SubtitleError(
                f"Subtitle line {n} is {line!r:.80}; each line must be (start, end, text) "
                "with times in seconds."
            ) from e
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise SubtitleError(
                f"Subtitle line {n} has times {start} -> {end}; give finite seconds with "
                "end >= start."
            )
        text = " ".join(str(text).split())
        if not text:
            continue
        if duration is not None:
            if end <= 0 or start >= duration:
                continue
            start, end = max(0.0, start), min(float(duration), end)
        out.append((round(start, 3), round(end, 3), text))
    return tuple(sorted(out, key=lambda x: (x[0], x[1])))


def subtitles_hash(lines: Sequence[SubtitleLine]) -> str:
    """sha256 of normalised lines: the identity of a subtitle-based speech index."""
    payload = json.dumps([list(x) for x in lines], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def format_srt(lines: Iterable[Sequence[Any]]) -> str:
    """SubRip text of ``(start, end, text)`` lines: numbered cues, ``HH:MM:SS,mmm`` times.

    Each line becomes one cue on one text row (whitespace collapsed); ``<`` and ``>`` are
    written as entities, which players show as the characters, so text like ``<Enter>`` is
    not taken for markup and :func:`parse_srt` reads the same lines back.
    """
    cues = []
    for n, (start, end, text) in enumerate(lines, 1):
        timing = f"{_clock_text(start, ',')} --> {_clock_text(max(start, end), ',')}"
        words = " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")
        cues.append(f"{n}\n{timing}\n{words}\n")
    return "\n".join(cues)


def format_vtt(lines: Iterable[Sequence[Any]]) -> str:
    """WebVTT text of ``(start, end, text)`` lines (``&``, ``<`` and ``>`` escaped, as the
    format requires), which :func:`parse_vtt` reads back."""
    cues = ["WEBVTT\n"]
    for start, end, text in lines:
        timing = f"{_clock_text(start, '.')} --> {_clock_text(max(start, end), '.')}"
        words = html.escape(" ".join(str(text).split()), quote=False)
        cues.append(f"{timing}\n{words}\n")
    return "\n".join(cues)


def _clock_text(seconds: float, comma: str) -> str:
    """``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (WebVTT); negative times become 0."""
    millis = max(0, round(float(seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{comma}{millis:03d}"


# --------------------------------------------------------------------------- cue blocks


def _parse_cues(text: str, source: str, kind: str) -> list[SubtitleLine]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[SubtitleLine] = []
    i = 0
    if kind == "vtt":  # the header block runs to the first blank line
        while i < len(lines) and lines[i].strip():
            i += 1
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        block_start = i
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        if kind == "vtt" and block[0].split(maxsplit=1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        # The time line is the first line, or the second after a cue number / identifier.
        at = next((j for j in range(min(2, len(block))) if "-->" in block[j]), None)
        match = _TIMING.match(block[at]) if at is not None else None
        if match is None:
            bad = block_start + (at if at is not None else min(1, len(block) - 1))
            raise SubtitleError(
                f"{source} line {bad + 1}: expected a cue time line like "
                f"'{_EXAMPLE[kind]}', got {lines[bad].strip()!r:.80}. Fix or delete that "
                "cue (each cue is a time line, its text, then a blank line)."
            )
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        if end < start:
            raise SubtitleError(
                f"{source} line {block_start + at + 1}: the cue ends ({end:.3f} s) before it "
                f"starts ({start:.3f} s). Fix its time line."
            )
        words = _clean(" ".join(block[at + 1 :]))
        if words:
            out.append((start, end, words))
    if not out and text.strip() and kind == "srt":
        raise SubtitleError(
            f"{source} has no subtitle cues. An SRT cue is a number, a time line like "
            f"'{_EXAMPLE['srt']}', its text, then a blank line."
        )
    return out


def _seconds(groups: Sequence[str | None]) -> float:
    hours, minutes, seconds, millis = groups
    fraction = int(millis.ljust(3, "0")) / 1000 if millis else 0.0
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + fraction


def _clean(text: str) -> str:
    """Text without markup, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def _parse_time(value: str | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    seconds = 0.0
    for part in str(value).replace(",", ".").split(":"):
        seconds = seconds * 60 + float(part)
    return seconds
