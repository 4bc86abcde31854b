"""Shot detection and bounded clips."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MEDIA_MISSING

from viewfinder.tools.shots import ShotOptions, clips_from_cuts, scan_video

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def test_clips_are_bounded_and_cover_the_video() -> None:
    """Tiny shots merge, long shots split; clips tile [0, duration] with keyframes inside."""
    options = ShotOptions(min_clip=2.0, max_clip=20.0, keyframe_every=5.0)
    clips = clips_from_cuts([0.5, 1.0, 30.0, 31.0, 75.0], 100.0, options)
    assert clips[0].start == 0.0 and clips[-1].end == 100.0
    for a, b in zip(clips, clips[1:], strict=False):
        assert a.end == b.start
    for c in clips:
        assert c.duration <= 20.0 + 1e-6
        assert all(c.start <= t <= c.end for t in c.keyframes) and c.keyframes
    assert all(c.duration >= 2.0 for c in clips)


def test_bad_options_are_rejected() -> None:
    """min_clip must be below max_clip."""
    with pytest.raises(ValueError, match="min_clip"):
        ShotOptions(min_clip=30, max_clip=20)


@pytest.mark.skipif(not MEDIA.is_dir(), reason=MEDIA_MISSING)
def test_scan_finds_the_cut_between_two_clips(tmp_path: Path) -> None:
    """A cockatoo clip followed by a city time-lapse yields a cut at the join (+- 0.6 s)."""
    from viewfinder.eval.compose import concat, media_duration, normalize_clip

    a = normalize_clip(MEDIA / "cockatoo.mp4", tmp_path / "a.mp4", 320, 180, 10, duration=6)
    b = normalize_clip(MEDIA / "city_timelapse.mpg", tmp_path / "b.mp4", 320, 180, 10, duration=5)
    video = concat([a, b], tmp_path / "ab.mp4")
    scan = scan_video(video, ShotOptions(scan_fps=5))
    join = media_duration(a)
    assert any(abs(c - join) <= 0.6 for c in scan.cuts), (join, scan.cuts)
    assert abs(scan.duration - media_duration(video)) < 0.5
    assert scan.change.max() > 0.3  # the cut is a big picture change


def test_scan_times_are_reader_times_when_the_video_starts_late(tmp_path: Path) -> None:
    """Audio from 0 s, video from 0.2 s: the frame a reader returns at a scanned time is the
    frame the scan saw there (the first white frame after the cut is white, not black)."""
    from viewfinder.eval.compose import run_ffmpeg
    from viewfinder.tools.video import open_video

    video = tmp_path / "late.mp4"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", "color=black:s=160x120:r=25:d=1",
            "-f", "lavfi", "-i", "color=white:s=160x120:r=25:d=1",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=2.4",
            "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v];[v]setpts=PTS+0.2/TB[vd]",
            "-map", "[vd]", "-map", "2:a", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-c:a", "aac", str(video),
        ]
    )  # fmt: skip
    scan = scan_video(video, ShotOptions(scan_fps=25.0))
    first_white = next(t for t, c in zip(scan.times, scan.change, strict=True) if c > 0.5)
    assert first_white == pytest.approx(1.2, abs=0.05)
    with open_video(video) as reader:
        frame = reader.frames_at([first_white])[0]
    assert frame.mean() > 200
