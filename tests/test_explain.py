"""``ask --explain``: the timeline picture and page that show what the agent looked at."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pytest
from conftest import MEDIA_MISSING
from fakes import FakeIndex, ScriptedLLM, line, video_info

from viewfinder.answer import Answer, Evidence
from viewfinder.errors import ViewfinderError
from viewfinder.indexes.transcript import SpeechSegment
from viewfinder.tools.shots import Clip

pytest.importorskip("matplotlib", reason="the explanation picture needs the 'plot' extra")

from viewfinder.agent.explain import (  # noqa: E402
    ExplainFormatError,
    check_out_path,
    crop_thumbnails,
    explain,
    read_trace,
    relevance_curves,
    render_figure,
)

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
VIDEO = MEDIA / "hello_terminal.mp4"
QUESTION = "Which directory does the person list in the terminal?"
# The `ls /usr` listing in the terminal (1280x720 frame), shown from about 6 s.
LISTING_BOX = [0.31, 0.18, 0.66, 0.31]
TITLE_BOX = [0.37, 0.01, 0.64, 0.1]

needs_video = pytest.mark.skipif(not VIDEO.exists(), reason=MEDIA_MISSING)


def agent_answer() -> Answer:
    """An agent answer over hello_terminal.mp4 with a trace as the graph records it."""
    trace = [
        {
            "node": "plan",
            "step": 0,
            "seconds": 0.01,
            "plan": {
                "queries": {m: [QUESTION, "directory list terminal"] for m in ("speech", "text")},
                "answer_type": "open",
                "source": "rules",
            },
        },
        {"node": "retrieve", "step": 0, "seconds": 0.02, "hits": {"speech": 3, "text": 5}},
        {
            "node": "select_clips",
            "step": 0,
            "seconds": 0.0,
            "clips": [[5.5, 8.3, 0.0325, "retrieved"], [0.0, 2.5, 0.0161, "retrieved"]],
        },
        {
            "node": "allocate",
            "step": 0,
            "seconds": 0.0,
            "allocation": {
                "frames": [
                    {
                        "clip_index": 0,
                        "times": [5.85, 6.55, 7.25, 7.95],
                        "side": 512,
                        "tokens": 256,
                    },
                    {"clip_index": 1, "times": [0.62, 1.88], "side": 384, "tokens": 72},
                ],
                "crops": [
                    {
                        "time": 7.5,
                        "box": LISTING_BOX,
                        "side": 512,
                        "tokens": 64,
                        "reason": "text: bin include lib64 local share",
                    },
                    {
                        "time": 1.0,
                        "box": TITLE_BOX,
                        "side": 512,
                        "tokens": 64,
                        "reason": "text: Hello world...",
                    },
                ],
                "tokens": 456,
                "budget": 512,
                "dropped": [],
            },
        },
        {"node": "answer", "step": 0, "seconds": 0.4, "answer": "/usr", "confidence": 0.82},
    ]
    evidence = [
        Evidence(7.5, 7.5, "text", "bin include lib64 local share", 1.0),
        Evidence(5.6, 8.3, "text", "eriberto@canopus:~$ ls /usr", 0.0325),
        Evidence(2.0, 4.5, "speech", "now I will list the user directory", 0.0161),
        Evidence(0.2, 8.3, "text", "Hello world...", 0.0161),
    ]
    usage = {
        "strategy": "agent",
        "budget": 512,
        "visual_tokens_planned": 456,
        "frames": 6,
        "crops": 2,
        "video": {"path": str(VIDEO), "duration": 8.3, "width": 1280, "height": 720},
    }
    return Answer("/usr", None, 0.82, evidence, usage, {}, [], trace)


def explain_index() -> FakeIndex:
    """Speech hits near 3 s, screen-text hits near 7 s (stronger) and 1 s; no visual index."""
    return FakeIndex(
        info=video_info(VIDEO, 8.3),
        speech_segments=[SpeechSegment(2.0, 4.5, "list the user directory")],
        text_spans=[line(6.8, 7.6, "bin include lib64"), line(0.2, 1.2, "Hello world...")],
    )


@needs_video
def test_png_shows_timeline_with_curves_clips_and_crops(tmp_path):
    """The PNG is a real picture whose timeline holds the relevance curves and clip bands."""
    from PIL import Image

    out = explain(agent_answer(), VIDEO, tmp_path / "why.png", index=explain_index(), question=QUESTION)
    assert out == tmp_path / "why.png"
    image = np.asarray(Image.open(out).convert("RGB")).astype(int)
    height, width = image.shape[:2]
    assert width >= 1000 and height >= 600

    fig = render_figure(agent_answer(), VIDEO, index=explain_index(), question=QUESTION)
    fig.canvas.draw()
    axes = {ax.get_label(): ax for ax in fig.axes}
    assert {"relevance", "frames", "evidence", "crop 0", "crop 1"} <= set(axes)
    box = axes["relevance"].get_window_extent()
    region = image[height - int(box.y1) : height - int(box.y0), int(box.x0) : int(box.x1)]
    assert region.std() > 20, "the timeline area is blank"

    r, g, b = region[..., 0], region[..., 1], region[..., 2]
    blue = float(((b > r + 40) & (b > g + 10)).mean())  # the speech lane
    orange = float(((r > g + 40) & (g > b + 20)).mean())  # the screen-text lane
    # Both lanes are filled over a visible share of the timeline (hits cover ~40% of 8.3 s).
    assert blue > 0.05 and orange > 0.03, (blue, orange)


@needs_video
def test_html_embeds_picture_evidence_and_trace(tmp_path):
    """The page carries the question, each evidence line, the PNG inline and the JSON trace."""
    ans = agent_answer()
    out = explain(ans, VIDEO, tmp_path / "sub" / "why.html", question=QUESTION)
    page = out.read_text(encoding="utf-8")
    assert QUESTION in page and "/usr" in page
    for e in ans.evidence:
        assert html.escape(e.text) in page
    encoded = page.split("data:image/png;base64,")[1].split('"')[0]
    png = base64.b64decode(encoded)
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert "<details>" in page and '"node": "allocate"' in page.replace("&quot;", '"')


@needs_video
def test_crops_become_thumbnails_of_the_real_frame():
    """Each zoom crop is cut from the decoded frame: right aspect, not blank, time ordered."""
    thumbs = crop_thumbnails(VIDEO, read_trace(agent_answer()).crops, max_side=300)
    assert [t.time for t in thumbs] == [1.0, 7.5]
    for thumb, box in zip(thumbs, (TITLE_BOX, LISTING_BOX), strict=True):
        h, w, channels = thumb.image.shape
        assert channels == 3 and thumb.image.dtype == np.uint8 and max(h, w) <= 300
        expected = (box[2] - box[0]) * 1280 / ((box[3] - box[1]) * 720)
        assert abs(w / h - expected) < 0.1 * expected
        assert thumb.image.std() > 20, "a crop of text should not be flat"
    # The listing is blue/white text on the terminal's black: mostly dark pixels.
    assert thumbs[1].image.mean() < 90


def test_curves_follow_index_hits_and_skip_missing_modalities():
    """With an index, relevance peaks where its hits are; an unavailable index draws no lane."""
    index = explain_index()
    edges, curves = relevance_curves(agent_answer(), 8.3, index=index, question=QUESTION)
    assert set(curves) == {"speech", "text"}
    centres = (edges[:-1] + edges[1:]) / 2
    speech_peak = centres[curves["speech"] > 0.9]
    assert speech_peak.min() >= 1.9 and speech_peak.max() <= 4.6
    text = curves["text"]
    assert (
        text[(centres > 7.0) & (centres < 7.5)].min()
        > text[(centres > 0.4) & (centres < 1.0)].max()
    )
    assert text[(centres > 4.0) & (centres < 6.0)].max() == 0
    # The question and the plan's sub-queries were all searched.
    searched = {(modality, query) for modality, query, _ in index.queries}
    assert ("text", "directory list terminal") in searched and ("speech", QUESTION) in searched


def test_curves_without_index_come_from_evidence():
    """Without an index, each modality's curve covers that modality's evidence."""
    edges, curves = relevance_curves(agent_answer(), 8.3)
    centres = (edges[:-1] + edges[1:]) / 2
    assert curves["speech"][(centres > 2.1) & (centres < 4.4)].min() > 0
    assert curves["speech"][centres > 5].max() == 0
    assert "visual" not in curves


def test_read_trace_rebuilds_uniform_frames():
    """A uniform-strategy answer has no clips; its evenly spaced frames are still shown."""
    ans = Answer("x", usage={"strategy": "uniform", "frames": 4, "frame_size": [640, 360]})
    view = read_trace(ans, duration=8.0)
    assert view.clips == [] and view.frames == [(1.0, 640), (3.0, 640), (5.0, 640), (7.0, 640)]


@needs_video
def test_unknown_suffix_raises_typed_error_with_fix(tmp_path):
    """A .jpg target fails before any drawing, naming the formats that work."""
    with pytest.raises(ExplainFormatError, match=r"\.png.*\.html") as info:
        explain(agent_answer(), VIDEO, tmp_path / "why.jpg")
    assert isinstance(info.value, ViewfinderError) and isinstance(info.value, ValueError)
    assert not (tmp_path / "why.jpg").exists()
    # The CLI checks the path before the (slow) question, with the same message.
    with pytest.raises(ExplainFormatError, match="--explain out.png"):
        check_out_path("why")
    assert check_out_path("~/Why.HTML").name == "Why.HTML"


def graph_index() -> FakeIndex:
    """The clip's shots, what is said and what the terminal shows, for a real agent run."""
    return FakeIndex(
        info=video_info(VIDEO, 8.3),
        clips=[Clip(0.0, 2.5, (1.0,)), Clip(2.5, 5.5, (4.0,)), Clip(5.5, 8.3, (7.0,))],
        speech_segments=[SpeechSegment(2.0, 4.5, "now I will list the user directory")],
        text_spans=[
            line(0.2, 8.3, "Hello world...", (480.0, 10.0, 810.0, 70.0)),
            line(6.0, 8.3, "bin include lib64 local share usr", (400.0, 130.0, 850.0, 200.0)),
        ],
    )


@needs_video
def test_a_real_agent_run_is_drawn(tmp_path):
    """The graph's own trace (two looks, clips, budget, crops) is drawn and listed in the page."""
    pytest.importorskip("langgraph", reason="the agent needs the 'agent' extra")
    from viewfinder.agent.run import answer_agent
    from viewfinder.runtime import Models
    from viewfinder.settings import Settings

    settings = Settings(ocr=None, vlm=None, llm="scripted")
    models = Models(settings)
    # First look: leaning to A, against the screen line that lists "usr" (which grounding
    # weighs but, sharing no word with the question, does not count as backing); sure of B at
    # the second. Plans nothing (rule sub-queries).
    models.use("llm", ScriptedLLM([{"A": 0.8, "B": 0.2}, {"A": 0.05, "B": 0.95}]))
    question = "Which directory is listed?"
    ans = answer_agent(VIDEO, graph_index(), question, ["/home", "/usr"], models, settings)
    view = read_trace(ans, 8.3)
    assert view.steps == 2 and view.clips and view.frames and view.crops

    fig = render_figure(ans, VIDEO, index=graph_index(), question=question)
    labels = {ax.get_label() for ax in fig.axes}
    assert {"relevance", "frames", "evidence", "crop 0"} <= labels
    page = explain(ans, VIDEO, tmp_path / "run.html", question=question).read_text()
    assert page.count("<details>") == len(ans.trace) + 1  # each step, and the usage
    assert "reflect" in page and "(B) /usr" in page
