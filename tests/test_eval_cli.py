"""`viewfinder eval`: benchmark runs end to end (scripted answerer) and niah videos from real media."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import MEDIA_MISSING

from viewfinder.answer import Answer
from viewfinder.cli import evaluate as cli
from viewfinder.eval.datasets import Item, load_mlvu
from viewfinder.eval.niah import NEEDLE_CLIPS, NiahConfig, build
from viewfinder.settings import Settings

# ../shared beside this checkout (or beside the worktrees folder holding it).
SHARED = next(
    (p / "shared" for p in Path(__file__).resolve().parents[1:4] if (p / "shared").is_dir()),
    Path(__file__).resolve().parents[2] / "shared",
)
LVB_VAL = SHARED / "data" / "lvb_val.json"
MEDIA = SHARED / "media"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="viewfinder")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def no_engine(settings: Settings):
    def build():
        raise AssertionError("no item is runnable, so no engine may be built")

    return build


@pytest.mark.skipif(not LVB_VAL.is_file(), reason=f"{LVB_VAL} is not on this machine")
def test_eval_lvb_without_videos_reports_all_skipped(tmp_path: Path) -> None:
    """`eval longvideobench` with an empty videos dir: 1,337 skipped, counts per duration group."""
    (tmp_path / "videos").mkdir()
    args = parse(
        [
            "eval",
            "longvideobench",
            "--annotations",
            str(LVB_VAL),
            "--videos",
            str(tmp_path / "videos"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out = io.StringIO()
    assert cli.run(args, make_factory=no_engine, out=out) == 0
    text = out.getvalue()
    print(text)
    assert "1337 items, 0 runnable, 1337 skipped" in text
    assert "skipped by duration_group: 15: 189, 60: 172, 600: 412, 3600: 564" in text
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["skipped_by"]["duration_group"] == {"15": 189, "60": 172, "600": 412, "3600": 564}
    assert "by duration_group: 15: 189" in (tmp_path / "out" / "report.md").read_text()


@dataclass(frozen=True)
class SpeechOnly:
    """Scripted answerer: right on speech needles (from the item), 'A' on everything else."""

    strategy: str

    def __call__(self):
        return self

    def prepare(self, video: Path, subtitles=None) -> None:
        pass

    def answer(self, item: Item) -> Answer:
        choice = item.answer if item.meta["modality"] == "speech" else "A"
        return Answer(text=choice, choice=choice, usage={"visual_tokens": 64, "text_tokens": 9})


def _frame(video: Path, t: float) -> np.ndarray:
    import av

    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        c.seek(int(max(0.0, t - 1) / stream.time_base), stream=stream)
        for frame in c.decode(stream):
            if frame.time >= t:
                return frame.to_ndarray(format="gray").astype(float)
    raise AssertionError(f"no frame at {t}")


def _thumb(video: Path, t: float) -> np.ndarray:
    """36x64 block-averaged grey frame: robust to a frame of timing jitter and to x264 noise."""
    return _frame(video, t).reshape(36, 10, 64, 10).mean(axis=(1, 3))


@pytest.mark.skipif(not MEDIA.is_dir(), reason=MEDIA_MISSING)
def test_niah_build_places_real_needles_and_eval_reports(tmp_path: Path) -> None:
    """niah: a 1-minute haystack with speech / text / clip needles at the recorded times."""
    ann = build(MEDIA, tmp_path / "niah", NiahConfig(minutes=1, needles=3, per_video=3))
    ds = load_mlvu(ann, ann.parent / "videos")
    assert len(ds.items) == 3 and not ds.skipped
    by = {it.meta["modality"]: it for it in ds.items}
    assert set(by) == {"speech", "text", "clip"}
    video = by["text"].video
    for it in ds.items:
        assert len(it.options) == 4 and it.answer_text in it.options
        assert 0 <= it.meta["needle_start"] < it.meta["needle_end"] <= 60.5
    # The phrase's banner is on screen at the recorded time: dark band with white glyphs.
    t = by["text"].meta
    band = _frame(video, (t["needle_start"] + t["needle_end"]) / 2)[150:210]
    assert (band < 70).mean() > 0.5 and (band > 200).mean() > 0.02
    # The clip needle shows the real needle clip at the recorded time.
    c = by["clip"].meta
    src = next(n for n in NEEDLE_CLIPS if n[2] == by["clip"].answer_text)
    clip_file = next((tmp_path / "niah" / "work").glob(f"{Path(src[0]).stem}_*.mp4"))
    mid = (c["needle_end"] - c["needle_start"]) / 2
    built, ref = _thumb(video, c["needle_start"] + mid), _thumb(clip_file, mid)
    before = _thumb(video, max(0.0, c["needle_start"] - 2))
    assert np.abs(built - ref).mean() < 8 and np.abs(before - ref).mean() > 20

    # The CLI reuses the built videos and reports per needle modality for both strategies.
    out = tmp_path / "out"
    (out / "niah").mkdir(parents=True)
    for f in (tmp_path / "niah").iterdir():
        (out / "niah" / f.name).symlink_to(f)
    args = parse(
        [
            "eval",
            "niah",
            "--media",
            str(MEDIA),
            "--minutes",
            "1",
            "--needles",
            "3",
            "--per-video",
            "3",
            "--strategy",
            "uniform",
            "agent",
            "--budget",
            "256",
            "--executor",
            "inline",
            "--out",
            str(out),
        ]
    )
    printed = io.StringIO()
    assert cli.run(args, make_factory=lambda s: SpeechOnly(s.strategy), out=printed) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["label"] for r in report["runs"]] == ["uniform@256", "agent@256"]
    run = report["runs"][0]
    assert run["official"]["groups"]["task"]["needle_speech"] == 100.0
    expected_wrong = sum(by[m].answer != "A" for m in ("text", "clip"))
    assert run["official"]["correct"] == run["strict"]["correct"] == 3 - expected_wrong
    # The printed summary names M-avg (mean of per-task accuracies) apart from the overall.
    right = 3 - expected_wrong
    assert (
        f"uniform@256 official: M-avg {100 * right / 3:.1f}%, overall {100 * right / 3:.1f}% "
        f"({right}/3), unparsed 0" in printed.getvalue()
    )
    assert run["visual_tokens_per_question"] == 64
    md = (out / "report.md").read_text()
    assert "## Accuracy % by depth_bucket" in md and "accuracy_by_task.png" in md
    assert (out / "accuracy_by_task.png").stat().st_size > 1000
