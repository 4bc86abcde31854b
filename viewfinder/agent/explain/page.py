"""The explanation as one self-contained HTML page: the picture, evidence, notes, usage, trace."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from ...answer import Answer
from ...text import clock
from .figure import COLORS


def render_html(answer: Answer, png: bytes, question: str) -> str:
    """A self-contained page: the picture (base64), the evidence table, usage and the trace."""
    esc = html.escape
    rows = (
        "\n".join(
            f"<tr><td>{clock(e.start, True)}-{clock(e.end, True)}</td>"
            f'<td class="{esc(e.modality)}">{esc(e.modality)}</td><td>{esc(e.text)}</td>'
            f"<td>{e.score:.3f}</td></tr>"
            for e in answer.evidence
        )
        or '<tr><td colspan="4">no evidence returned</td></tr>'
    )
    steps = "\n".join(
        f"<details><summary>{i + 1}. {esc(str(entry.get('node', entry.get('step', '?'))))}"
        f"{_seconds(entry)}</summary><pre>{esc(json.dumps(entry, indent=2, default=str))}</pre>"
        "</details>"
        for i, entry in enumerate(answer.trace)
    )
    answer_text = answer.text if answer.choice is None else f"({answer.choice}) {answer.text}"
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>viewfinder: {esc(question)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
td.speech {{ color: {COLORS["speech"]}; }} td.text {{ color: {COLORS["text"]}; }}
td.visual {{ color: {COLORS["visual"]}; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
summary {{ cursor: pointer; }}
</style></head><body>
<h1>Q: {esc(question)}</h1>
<h2>A: {esc(answer_text)} <small>(confidence {answer.confidence:.0%})</small></h2>
<img alt="timeline of the video with relevance, key clips, frames, evidence and zoom crops"
 src="data:image/png;base64,{image}">
<h2>Evidence</h2>
<table><tr><th>time</th><th>modality</th><th>text</th><th>score</th></tr>
{rows}
</table>
<h2>Notes</h2><ul>{"".join(f"<li>{esc(n)}</li>" for n in answer.notes) or "<li>none</li>"}</ul>
<details><summary>usage</summary><pre>{esc(json.dumps(answer.usage, indent=2, default=str))}</pre>
</details>
<h2>Trace</h2>
{steps or "<p>no trace recorded</p>"}
</body></html>
"""


def _seconds(entry: dict[str, Any]) -> str:
    s = entry.get("seconds")
    return f" ({s:.2f} s)" if isinstance(s, int | float) else ""
