"""``ask --explain out.png|out.html``: one picture of what the agent looked at and why.

A timeline of the whole video shows, per modality, how relevant each moment was to the question
(from the indexes' hits when the index is at hand, else from the answer's evidence), the key
clips the agent chose (shaded, numbered by rank), the frames it sampled (ticks coloured by
resolution), the final evidence (labelled markers) and the zoom crops (thumbnails of the real
frames, linked to their time). The HTML variant embeds that picture and adds the evidence table
and the step-by-step trace.

- ``trace.py``: what is shown, read from the answer's trace (clips, frames, crops, relevance).
- ``figure.py``: the matplotlib picture.
- ``page.py``: the HTML page around it.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from ...answer import Answer
from ...errors import ViewfinderError
from .figure import render_figure as render_figure
from .page import render_html as render_html
from .trace import Thumbnail as Thumbnail
from .trace import TraceView as TraceView
from .trace import crop_thumbnails as crop_thumbnails
from .trace import read_trace as read_trace
from .trace import recorded_question
from .trace import relevance_curves as relevance_curves

logger = logging.getLogger(__name__)

SUFFIXES = (".png", ".html", ".htm")


class ExplainFormatError(ViewfinderError, ValueError):
    """The ``--explain`` output path has a suffix that is neither .png nor .html."""


def explain(
    answer: Answer,
    video_path: str | Path,
    out_path: str | Path,
    index: Any = None,
    question: str | None = None,
) -> Path:
    """Write a picture (``.png``) or a self-contained page (``.html``) explaining an answer.

    Args:
        answer: What :meth:`viewfinder.VideoQA.ask` returned (its trace, usage and evidence).
        video_path: The video the answer is about (zoom-crop thumbnails are decoded from it).
        out_path: Where to write; the suffix picks the format: ``.png`` or ``.html``/``.htm``.
        index: The video's :class:`~viewfinder.indexes.build.IndexHandle`; when given, the
            relevance curves come from its search hits for the question and sub-queries.
        question: The question (the plot title); defaults to the first planned query.

    Returns:
        ``out_path`` as a Path.

    Raises:
        ExplainFormatError: ``out_path`` ends in neither ``.png`` nor ``.html``.
        MissingDependencyError: matplotlib (the ``plot`` extra) is not installed.
        VideoError: ``video_path`` is not a readable video.
    """
    out = check_out_path(out_path)
    suffix = out.suffix.lower()
    fig = render_figure(answer, video_path, index=index, question=question)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        out.write_bytes(buffer.getvalue())
    else:
        page = render_html(answer, buffer.getvalue(), question or recorded_question(answer))
        out.write_text(page, encoding="utf-8")
    logger.info("explanation written to %s", out)
    return out


def check_out_path(out_path: str | Path) -> Path:
    """``out_path`` as a Path if its suffix is one :func:`explain` writes (check before asking).

    Raises:
        ExplainFormatError: The suffix is neither ``.png`` nor ``.html``/``.htm``.
    """
    out = Path(out_path).expanduser()
    if out.suffix.lower() not in SUFFIXES:
        raise ExplainFormatError(
            f"Cannot write an explanation to {out}: unknown suffix {out.suffix or '(none)'!r}. "
            "Name the file with .png for a picture or .html for a page, e.g. --explain out.png"
        )
    return out


__all__ = [
    "ExplainFormatError",
    "check_out_path",
    "Thumbnail",
    "TraceView",
    "crop_thumbnails",
    "explain",
    "read_trace",
    "relevance_curves",
    "render_figure",
    "render_html",
]
