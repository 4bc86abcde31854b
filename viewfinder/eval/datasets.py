"""Benchmark loaders: MLVU, LongVideoBench, Video-MME and generic JSONL -> :class:`Item`.

Each loader reads the benchmark's own annotation format (see ``BENCHMARKS.md``) and resolves
every video under a ``videos`` root. An item whose video (or requested subtitle file) is
missing is returned in :attr:`Dataset.skipped` with the reason, never raised: a partial
download still evaluates. A record whose gold answer is unusable (an MLVU answer that is not
among its candidates) still loads, with the reason in ``meta["gold_error"]``: it is scored
wrong, as the official scorer does, and the report counts it. An annotation file that cannot
be read raises :class:`~viewfinder.errors.AnnotationError` whose message says how to fix it.

One module on purpose (~510 lines): one loader per benchmark (~50 lines each), all sharing
the field, option and video-resolution checks that decide what is skipped and why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AnnotationError, UnsafePathError, require
from ..text import LETTERS
from ..tools.subtitles import read_subtitles
from .paths import inside_root


@dataclass(frozen=True)
class Item:
    """One benchmark question, ready to ask."""

    id: str  # unique within the benchmark; the results log is keyed by it
    question: str  # the question without inlined options
    options: tuple[str, ...] | None  # candidate answers in order (A, B, ...); None = open-ended
    answer: str  # gold letter when there are options, else the gold answer text
    video: Path  # resolved path under the --videos root
    meta: dict[str, Any] = field(default_factory=dict)  # task, duration_group, category, ...

    @property
    def answer_text(self) -> str:
        """The gold answer in words (the chosen option's text for multiple choice)."""
        if self.options and self.answer in LETTERS[: len(self.options)]:
            return self.options[LETTERS.index(self.answer)]
        return self.answer


@dataclass(frozen=True)
class Skipped:
    """An item that cannot be run, and why."""

    id: str  # the item id
    video: Path  # where the video was looked for
    reason: str  # human-readable cause, e.g. "video not found: /data/lvb/abc.mp4"
    meta: dict[str, Any] = field(default_factory=dict)  # same grouping keys as Item.meta
    item: Item | None = None  # the question itself: scoring given responses needs no video


@dataclass(frozen=True)
class Dataset:
    """A loaded benchmark: runnable items plus the ones skipped with a reason."""

    name: str  # "mlvu", "longvideobench", "videomme", "jsonl", "niah"
    items: tuple[Item, ...]  # items whose video exists
    skipped: tuple[Skipped, ...]  # items that cannot run (missing video / subtitles)

    def __len__(self) -> int:
        return len(self.items) + len(self.skipped)

    def skipped_counts(self, key: str) -> dict[str, int]:
        """Number of skipped items per value of ``meta[key]`` (e.g. ``duration_group``)."""
        counts = Counter(str(s.meta.get(key)) for s in self.skipped)
        return dict(sorted(counts.items(), key=lambda kv: _natural(kv[0])))

    def questions(self) -> tuple[Item, ...]:
        """Every question read, runnable or not (``eval score`` needs no videos)."""
        return self.items + tuple(s.item for s in self.skipped if s.item is not None)

    def gold_errors(self) -> list[tuple[str, str]]:
        """``(id, reason)`` of every question whose gold answer is unusable (scored wrong)."""
        return [(q.id, q.meta["gold_error"]) for q in self.questions() if q.meta.get("gold_error")]

    def limited(self, limit: int | None) -> Dataset:
        """The first ``limit`` runnable items (skipped items are kept for the report)."""
        if limit is None:
            return self
        return Dataset(self.name, self.items[:limit], self.skipped)


# ---------------------------------------------------------------------------------------------
# reading annotation files


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read a JSON list, a JSON object holding one list, JSONL, or parquet into dicts."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(
            f"Annotation file not found: {path}. Pass the benchmark's annotation file "
            "(e.g. lvb_val.json, MLVU json/1_plotQA.json, videomme test parquet) with "
            "--annotations."
        )
    if path.suffix == ".parquet":
        pq = require("pyarrow.parquet", "eval", "Reading parquet annotations")
        return [dict(r) for r in pq.read_table(path).to_pylist()]
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(
            f"Annotation file {path} is not valid JSON{'L' if path.suffix == '.jsonl' else ''}"
            f" ({e.msg} at line {e.lineno}). Re-download it; JSONL needs one object per line."
        ) from e
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise AnnotationError(
                f"Annotation file {path} is a JSON object without exactly one list of "
                "questions. Pass the file that holds the list of question objects."
            )
        data = lists[0]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise AnnotationError(
            f"Annotation file {path} must hold a list of question objects. Check that you "
            "passed the annotation file, not a subtitle or result file."
        )
    return data


def _field(rec: dict[str, Any], name: str, path: Path, n: int) -> Any:
    if name not in rec:
        raise AnnotationError(
            f"{path}: record {n} has no '{name}' field (has: {sorted(rec)}). This does not look "
            "like the expected benchmark format; check --annotations and the benchmark name."
        )
    return rec[name]


def _resolve(videos: Path, candidates: Iterable[str | Path]) -> tuple[Path, bool]:
    """The first existing candidate under ``videos`` (else the first candidate) and found."""
    paths = [videos / c for c in candidates]
    for p in paths:
        if p.is_file():
            return p, True
    return paths[0], False


def _resolve_in(roots: Sequence[Path], name: str) -> tuple[Path, Path, bool]:
    """``name`` in the first of ``roots`` that has it (else under the first root), that root,
    and whether it was found."""
    for root in roots:
        if (root / name).is_file():
            return root / name, root, True
    return roots[0] / name, roots[0], False


def _escapes(root: Path, path: Path) -> str:
    """Why ``path`` (found under ``root``) may not be read, or "" when it may.

    A subtitle file named by an annotation is opened only if, symlinks followed, it lies
    inside the subtitle folder it was found under (annotations are data from the internet).
    """
    try:
        inside_root(root, path, what="subtitle file", flag="--subtitle-dir")
    except UnsafePathError as e:
        return str(e)
    return ""


def _split(
    name: str,
    rows: Iterable[tuple[Item, bool, str]],
) -> Dataset:
    items: list[Item] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for item, ok, reason in rows:
        if item.id in seen:
            raise AnnotationError(
                f"Duplicate item id {item.id!r} in the {name} annotations: results are keyed by "
                "id, so ids must be unique. Remove the duplicate record."
            )
        seen.add(item.id)
        if ok:
            items.append(item)
        else:
            skipped.append(Skipped(item.id, item.video, reason, dict(item.meta), item))
    return Dataset(name, tuple(items), tuple(skipped))


def _letter_of(answer_text: str, options: Sequence[str], where: str) -> str:
    try:
        return LETTERS[list(options).index(answer_text)]
    except ValueError:
        stripped = [o.strip() for o in options]
        if answer_text.strip() in stripped:
            return LETTERS[stripped.index(answer_text.strip())]
        raise AnnotationError(
            f"{where}: the answer {answer_text!r} is not one of the candidates {list(options)}. "
            "Fix the record's 'answer' so it equals one candidate exactly."
        ) from None


def _mlvu_gold(answer: Any, options: Sequence[str]) -> tuple[str, str]:
    """MLVU's gold letter and, when there is none, why (``choice_bench.py`` ``qa_template``).

    The official template walks the candidates and keeps the *last* one equal to the answer
    (exact string equality), so duplicate candidates give the later letter; an answer equal to
    no candidate leaves index -1, a gold that no response can match.
    """
    matches = [i for i, o in enumerate(options) if o == answer]
    if matches:
        return LETTERS[matches[-1]], ""
    return "", (
        f"the answer {answer!r} is not one of the candidates {list(options)}; scored wrong "
        "whatever the response, as MLVU's choice_bench.py does"
    )


def _checked_options(options: Sequence[Any], where: str) -> tuple[str, ...]:
    if not isinstance(options, list | tuple) or not 2 <= len(options) <= len(LETTERS):
        raise AnnotationError(
            f"{where}: expected a list of 2-{len(LETTERS)} candidates, got {options!r}."
            " Fix the record's candidate list."
        )
    return tuple(str(o) for o in options)


# ---------------------------------------------------------------------------------------------
# MLVU

_INLINE_OPTION = re.compile(r"^\s*\(([A-F])\)\s*(.*)$")


def load_mlvu(annotations: Path, videos: Path) -> Dataset:
    """Load MLVU multiple-choice questions.

    Args:
        annotations: a raw per-task JSON file (``json/1_plotQA.json``: ``video, duration,
            question, candidates``, ``answer`` text, ``question_type``), a directory of them,
            or an HF file (``sy1998/MLVU_dev``: ``video_name``, ``question`` with the options
            inlined as ``(A) ...`` lines, ``candidates``, ``answer`` letter, ``task_type``)
            as JSON / JSONL / parquet.
        videos: root holding the videos, as ``<video>``, ``video/<video>``,
            ``<task file stem>/<video>`` or ``video/<task file stem>/<video>``.

    Returns:
        The dataset; ``meta["task"]`` is the task type used for M-avg. The open-ended raw
        tasks (``8_sub_scene``, ``9_summary``: no candidates, scored by an LLM judge) are
        listed as skipped with that reason.
    """
    annotations = Path(annotations)
    if annotations.is_dir():
        files = sorted(annotations.glob("*.json"), key=lambda p: _natural(p.stem))
        if not files:
            raise AnnotationError(
                f"No *.json annotation files in {annotations}. Pass MLVU's json/ directory "
                "or one task file."
            )
    else:
        files = [annotations]
    rows: list[tuple[Item, bool, str]] = []
    for f in files:
        records = read_records(f)
        for n, rec in enumerate(records):
            rows.append(_mlvu_item(rec, f, n, Path(videos)))
    return _split("mlvu", rows)


def _mlvu_item(rec: dict[str, Any], path: Path, n: int, videos: Path) -> tuple[Item, bool, str]:
    where = f"{path} record {n}"
    if "video_name" in rec:  # HF layout: options inlined in the question, answer a letter
        task = str(rec.get("task_type") or _field(rec, "question_type", path, n))
        question, inline = _split_inline_options(str(_field(rec, "question", path, n)))
        listed = rec.get("candidates")
        options = _checked_options(list(listed), where) if listed is not None else inline
        if not options:
            raise AnnotationError(
                f"{where}: no candidates and no '(A) ...' option lines in the question. MLVU "
                "questions list their options; for open-ended questions use the jsonl loader."
            )
        raw_answer = str(_field(rec, "answer", path, n))
        answer, gold_error = raw_answer.strip().strip("()").strip(), ""
        if answer not in LETTERS[: len(options)]:
            answer, gold_error = _mlvu_gold(raw_answer, options)
        video_name = str(rec["video_name"])
    elif "video" in rec:  # raw per-task file of the MLVU repository
        task = str(rec.get("question_type") or re.sub(r"^\d+_", "", path.stem))
        question = str(_field(rec, "question", path, n))
        video_name = str(rec["video"])
        if "candidates" not in rec:  # open-ended (sub-scene captioning, summary)
            meta = {k: v for k, v in rec.items() if k not in ("question", "answer")}
            meta["task"] = task
            video, _ = _resolve(videos, _mlvu_video_paths(video_name, path, rec))
            item_id = str(rec.get("question_id") or f"{path.stem}/{n}")
            item = Item(item_id, question, None, str(rec.get("answer", "")), video, meta)
            reason = f"open-ended MLVU task {task!r}: scored by an LLM judge (G-Avg), not here"
            return item, False, reason
        options = _checked_options(_field(rec, "candidates", path, n), where)
        answer, gold_error = _mlvu_gold(str(_field(rec, "answer", path, n)), options)
    else:
        raise AnnotationError(
            f"{where} has neither 'video' (MLVU json/ task files) nor 'video_name' (HF "
            f"sy1998/MLVU_dev) (has: {sorted(rec)}). Check --annotations and the benchmark name."
        )
    # Raw records have no id: "<task file stem>/<0-based index>" names them (e.g. 2_needle/34).
    item_id = str(rec.get("question_id") or f"{path.stem}/{n}")
    meta = {k: v for k, v in rec.items() if k not in ("question", "candidates", "answer")}
    meta["task"] = task
    if gold_error:
        meta["gold_error"] = gold_error
    video, ok = _resolve(videos, _mlvu_video_paths(video_name, path, rec))
    item = Item(item_id, question, options, answer, video, meta)
    return item, ok, "" if ok else f"video not found: {video}"


def _mlvu_video_paths(video_name: str, path: Path, rec: dict[str, Any]) -> list[Path]:
    """Where MLVU releases put a video: flat, under ``video/``, or per task file."""
    stems = [path.stem]
    if rec.get("source_file"):  # some HF copies name the raw task file a row came from
        stems.append(Path(str(rec["source_file"])).stem)
    out = [Path(video_name), Path("video") / video_name]
    for stem in stems:
        out += [Path(stem) / video_name, Path("video") / stem / video_name]
    return out


def _split_inline_options(text: str) -> tuple[str, tuple[str, ...]]:
    question_lines: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        m = _INLINE_OPTION.match(line)
        if m and LETTERS[len(options)] == m.group(1):
            options.append(m.group(2).strip())
        elif not options:
            question_lines.append(line)
    question = "\n".join(question_lines).strip()
    question = re.sub(r"\s*Options:\s*$", "", question)
    return question, tuple(options)


# ---------------------------------------------------------------------------------------------
# LongVideoBench


def load_longvideobench(
    annotations: Path, videos: Path, subtitles: bool = False, subtitle_dir: Path | None = None
) -> Dataset:
    """Load LongVideoBench (``lvb_val.json`` or ``lvb_test_wo_gt.json``).

    Args:
        annotations: the LongVideoBench annotation JSON.
        videos: root holding ``<video_path>`` (also looked for under ``videos/``).
        subtitles: when True, each item also needs its ``subtitle_path`` file; its parsed
            lines go to ``meta["subtitles"]`` as ``[start, end, text]`` on the video's time
            axis.
        subtitle_dir: where the subtitle files are. Default: the release layout, where
            ``subtitles/`` sits beside ``videos/`` (and beside ``lvb_val.json``), so
            ``<videos>/../subtitles`` and ``<annotations dir>/subtitles``; ``<videos>/subtitles``
            too, for ``--videos`` given as the release root.

    Returns:
        The dataset; ``meta`` keeps ``duration_group`` and ``question_category``. Test-split
        items (no ``correct_choice``) have ``answer == ""``; a ``correct_choice`` that is not
        an index into the candidates is recorded in ``meta["gold_error"]`` (scored wrong).
    """
    annotations, videos = Path(annotations), Path(videos)
    if subtitle_dir:
        sub_roots = [Path(subtitle_dir)]
    else:
        sub_roots = list(
            dict.fromkeys(
                [
                    videos.parent / "subtitles",
                    annotations.parent / "subtitles",
                    videos / "subtitles",
                ]
            )
        )
    rows: list[tuple[Item, bool, str]] = []
    for n, rec in enumerate(read_records(annotations)):
        where = f"{annotations} record {n}"
        options = _checked_options(_field(rec, "candidates", annotations, n), where)
        gold = rec.get("correct_choice")
        meta = {
            k: v for k, v in rec.items() if k not in ("question", "candidates", "correct_choice")
        }
        answer = ""
        if gold is not None and not (
            isinstance(gold, int) and not isinstance(gold, bool) and 0 <= gold < len(options)
        ):
            meta["gold_error"] = (
                f"correct_choice {gold!r} is not an index into its {len(options)} candidates; "
                "scored wrong whatever the response"
            )
        elif gold is not None:
            answer = LETTERS[gold]
        video_rel = str(rec.get("video_path") or f"{_field(rec, 'video_id', annotations, n)}.mp4")
        video, ok = _resolve(videos, [video_rel, Path("videos") / video_rel])
        reason = "" if ok else f"video not found: {video}"
        if ok and subtitles:
            sub_name = str(rec.get("subtitle_path", ""))
            sub_path, sub_root, found = _resolve_in(sub_roots, sub_name)
            escape = _escapes(sub_root, sub_path) if found else ""
            if not found:
                looked = ", ".join(str(r) for r in sub_roots)
                ok, reason = False, f"subtitles not found: {sub_name} (looked in {looked})"
            elif escape:
                ok, reason = False, escape
            else:
                offset = float(rec.get("starting_timestamp_for_subtitles") or 0.0)
                meta["subtitles"] = load_subtitles(sub_path, offset)
        item_id = str(rec.get("id") or f"{rec.get('video_id')}_{n}")
        question = str(_field(rec, "question", annotations, n))
        rows.append((Item(item_id, question, options, answer, video, meta), ok, reason))
    return _split("longvideobench", rows)


def load_subtitles(path: Path, offset: float = 0.0) -> list[list[Any]]:
    """Parse a subtitle file into ``[start, end, text]`` seconds on the video's axis.

    LongVideoBench JSON (``{"timestamp": [s, e], "text"}`` or ``{"start": "HH:MM:SS.f",
    "end", "line"}``), SRT and WebVTT are read (:func:`viewfinder.tools.subtitles.
    read_subtitles`); ``offset`` (the record's ``starting_timestamp_for_subtitles``) is
    subtracted.
    """
    return [[s, e, t] for s, e, t in read_subtitles(path, offset)]


# ---------------------------------------------------------------------------------------------
# Video-MME

_LETTER_PREFIX = re.compile(r"^\s*\(?([A-F])[.)]\s*")


def load_videomme(
    annotations: Path, videos: Path, subtitles: bool = False, subtitle_dir: Path | None = None
) -> Dataset:
    """Load Video-MME (HF ``videomme/test-00000-of-00001.parquet``, or JSON / JSONL rows).

    Args:
        annotations: rows with ``video_id, duration, domain, sub_category, url, videoID,
            question_id, task_type, question, options`` (``"A. ..."`` strings) and ``answer``
            (a letter).
        videos: root holding ``<videoID>.mp4`` (also under ``data/`` or ``videos/``, and
            ``.MP4`` / ``.mkv`` as in the released archives).
        subtitles: when True, ``<subtitle folder>/<videoID>.srt`` goes to
            ``meta["subtitles"]``; a video without a file gets no lines, as in the official
            "with subtitles" setting. If no subtitle folder exists at all, every item is
            skipped with the folders looked in (a wrong path must not pass for a run with
            subtitles).
        subtitle_dir: where the ``.srt`` files are. Default: the release layout (the HF
            repo's ``subtitle.zip`` unpacks ``subtitle/`` beside ``data/`` and ``videomme/``),
            so the first existing of ``<videos>/subtitle``, ``<videos>/../subtitle`` (for
            ``--videos`` given as ``data/``) and ``<annotations>/../../subtitle`` (beside the
            parquet's ``videomme/`` folder).

    Returns:
        The dataset; ``meta["duration"]`` is short / medium / long.
    """
    annotations, videos = Path(annotations), Path(videos)
    if subtitle_dir:
        sub_roots = [Path(subtitle_dir)]
    else:
        sub_roots = list(
            dict.fromkeys(
                [
                    videos / "subtitle",
                    videos.parent / "subtitle",
                    annotations.parent.parent / "subtitle",
                ]
            )
        )
    sub_root = next((r for r in sub_roots if r.is_dir()), None)
    loaded: dict[str, list[list[Any]]] = {}  # one file per video, shared by its questions
    rows: list[tuple[Item, bool, str]] = []
    for n, rec in enumerate(read_records(annotations)):
        where = f"{annotations} record {n}"
        raw = _checked_options(list(_field(rec, "options", annotations, n)), where)
        options = tuple(_LETTER_PREFIX.sub("", o, count=1) for o in raw)
        answer = str(_field(rec, "answer", annotations, n)).strip()
        vid = str(rec.get("videoID") or _field(rec, "video_id", annotations, n))
        meta = {k: v for k, v in rec.items() if k not in ("question", "options", "answer")}
        if answer not in LETTERS[: len(options)]:
            meta["gold_error"] = (
                f"answer {answer!r} is not a letter A-{LETTERS[len(options) - 1]}; scored "
                "wrong whatever the response"
            )
            answer = ""
        names = [f"{vid}{ext}" for ext in (".mp4", ".MP4", ".mkv")]
        video, ok = _resolve(videos, [Path(d) / f for d in ("", "data", "videos") for f in names])
        reason = "" if ok else f"video not found: {video}"
        if ok and subtitles and sub_root is None:
            looked = ", ".join(str(r) for r in sub_roots)
            ok, reason = False, f"no subtitle folder (looked in {looked}); pass --subtitle-dir"
        elif ok and subtitles:
            if vid not in loaded:
                srt = sub_root / f"{vid}.srt"
                loaded[vid] = load_subtitles(srt) if srt.is_file() else []
            meta["subtitles"] = loaded[vid]
        item_id = str(rec.get("question_id") or f"{vid}_{n}")
        question = str(_field(rec, "question", annotations, n))
        item = Item(item_id, question, options, answer, video, meta)
        rows.append((item, ok, reason))
    return _split("videomme", rows)


# ---------------------------------------------------------------------------------------------
# generic JSONL


def load_jsonl(annotations: Path, videos: Path) -> Dataset:
    """Load generic JSONL: ``{"id", "video", "question", "options"?, "answer", ...}``.

    ``answer`` is a letter or the text of one option (converted to its letter); without
    ``options`` it is free text. Every other key goes to ``meta`` (``task`` groups the report).
    """
    annotations, videos = Path(annotations), Path(videos)
    rows: list[tuple[Item, bool, str]] = []
    for n, rec in enumerate(read_records(annotations)):
        where = f"{annotations} record {n}"
        options = rec.get("options")
        opts = _checked_options(options, where) if options else None
        answer = str(_field(rec, "answer", annotations, n)).strip()
        if opts and answer not in LETTERS[: len(opts)]:
            answer = _letter_of(answer, opts, where)
        video, ok = _resolve(videos, [str(_field(rec, "video", annotations, n))])
        meta = {
            k: v
            for k, v in rec.items()
            if k not in ("id", "video", "question", "options", "answer")
        }
        item_id = str(rec.get("id", n))
        item = Item(
            item_id, str(_field(rec, "question", annotations, n)), opts, answer, video, meta
        )
        rows.append((item, ok, "" if ok else f"video not found: {video}"))
    return _split("jsonl", rows)


LOADERS: dict[str, Callable[..., Dataset]] = {
    "mlvu": load_mlvu,
    "longvideobench": load_longvideobench,
    "videomme": load_videomme,
    "jsonl": load_jsonl,
}


def _natural(s: str) -> tuple[Any, ...]:
    """Sort key that orders "15" < "60" < "600" and "2_x" < "10_x"."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s)))
