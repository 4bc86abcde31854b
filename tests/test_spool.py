"""Frames for CLIP caught during the shot scan match what a video reader decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from viewfinder.indexes.spool import FrameSpool
from viewfinder.tools.shots import scan_video
from viewfinder.tools.video import open_video, output_size

SAMPLE = Path(__file__).resolve().parents[1] / "media" / "sample.mp4"


@pytest.fixture(scope="module")
def spooled(tmp_path_factory: pytest.TempPathFactory) -> tuple[FrameSpool, list[float]]:
    """A spool filled by scanning the bundled sample, at 1 fps and CLIP's decode size."""
    with open_video(SAMPLE) as reader:
        info = reader.info
    times = [t + 0.5 for t in range(int(info.duration))] + [info.duration + 5.0]
    size = output_size(info.width, info.height, 399)
    spool = FrameSpool(tmp_path_factory.mktemp("spool"), times, size)
    scan_video(SAMPLE, on_frame=spool.feed)
    spool.close()
    return spool, times


def test_spooled_frames_match_the_reader(spooled: tuple[FrameSpool, list[float]]) -> None:
    """Every spooled frame is the reader's frame at that time (the scan may skip B-frames,
    so a frame can be a neighbour: compare pictures, not bytes), including a time past the
    end, which gets the last frame."""
    spool, times = spooled
    caught = spool.frames_at(times)
    assert caught is not None and len(caught) == len(times)
    with open_video(SAMPLE) as reader:
        decoded = reader.frames_at(times, max_side=399)
    for a, b in zip(caught, decoded, strict=True):
        assert a.shape == b.shape and a.dtype == np.uint8
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 6.0


def test_spool_answers_only_what_it_caught(tmp_path: Path) -> None:
    """A pass cut short leaves later frames to the video reader; an open spool answers none."""
    spool = FrameSpool(tmp_path / "s", [0.5, 1.5, 2.5], (4, 2))

    class Frame:
        def __init__(self, value: int) -> None:
            self.value = value

        def reformat(self, width: int, height: int, **_: object) -> Frame:
            return self

        def to_ndarray(self) -> np.ndarray:
            return np.full((2, 4, 3), self.value, np.uint8)

    spool.feed(0.0, Frame(10))
    spool.feed(1.0, Frame(20))  # shown at 0.5 was the frame from 0.0
    assert spool.frames_at([0.5]) is None  # still being written
    spool._file.close()  # the scan died here: nothing after 0.5 was caught
    spool._file = None
    assert spool.frames_at([0.5])[0][0, 0, 0] == 10
    assert spool.frames_at([0.5, 1.5]) is None
    spool.remove()
    assert not (tmp_path / "s").exists()
