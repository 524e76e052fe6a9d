"""Issue 19, finding 1 (and the clip parts of 5 and 6): limits hold for what is decoded, not
for what the container claims (the reader and the CLI; the app's side is in
``test_hardening_app.py``)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.video.reader import (DecodeLimits, LimitExceeded, VideoError, count_frames, decode_limits,
                                 ffmpeg_exe, open_video, probe)


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", *args], check=True)


def make_raw_stream(path: Path) -> Path:
    """80 s of video as a raw H.264 stream saved as .mp4: it claims a negative frame count."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=96x64:d=80:r=25", "-c:v", "libx264", "-preset", "ultrafast",
           "-f", "h264", str(path))
    return path


def make_tiny_clip(path: Path) -> Path:
    """A 1x1-pixel video."""
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=1x1:d=1:r=10", "-c:v", "libx264", "-pix_fmt", "yuv444p",
           str(path))
    return path


@pytest.fixture(scope="module")
def raw_stream(tmp_path_factory) -> Path:
    return make_raw_stream(tmp_path_factory.mktemp("clips") / "long.mp4")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("clips") / "tiny.mp4")


def test_the_raw_stream_claims_nothing_sensible_and_its_frames_are_counted(raw_stream):
    with open_video(raw_stream) as v:
        assert v.frame_count == 0 and v.duration == 0.0  # was a huge negative number
    assert probe(raw_stream)["claimed_frames"] == 0
    assert count_frames(raw_stream) == 2000
    assert count_frames(raw_stream, stop_after=100) == 100


def test_decoding_stops_at_the_limits_whatever_the_header_says(raw_stream):
    with decode_limits(DecodeLimits(max_seconds=10, max_frames=10_000, max_side=1920)):
        with open_video(raw_stream) as v:
            n = 0
            with pytest.raises(LimitExceeded, match="lasts more than 10 s, over the 10 s limit"):
                for _ in v.frames():
                    n += 1
    assert n == int(10.5 * 10)  # the budget (a raw stream: at RATELESS_FPS), not one frame more
    with decode_limits(DecodeLimits(max_seconds=600, max_frames=50)), open_video(raw_stream) as v:
        with pytest.raises(LimitExceeded, match="over the 50-frame limit"):
            list(v.frames())
    with decode_limits(DecodeLimits(max_side=64)), pytest.raises(LimitExceeded, match="96x64, over the 64-pixel"):
        open_video(raw_stream)
    with open_video(raw_stream) as v:  # outside the block: no limit
        assert sum(1 for _ in v.frames()) == 2000


def test_a_one_pixel_video_stops_the_cli_with_a_message(tiny_clip, tmp_path, capsys):
    from engine.analyze import main  # the CLI's own entry, in this process
    assert main([str(tiny_clip), "--model", "mediapipe", "--out", str(tmp_path / "out")]) == 2
    assert "1x1 pixels, too small" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreadable_stream_is_a_video_error():
    with pytest.raises(VideoError):
        count_frames(Path(__file__))


def test_a_clip_that_is_not_judged_reports_no_view():
    """Finding 6: the legs seen in a fifth of the frames (side-on): not judged, so no view."""
    import numpy as np

    from engine.analysis import analyze_series
    from tests.test_analysis import clip, series_of
    s = clip(2, "side")
    conf = np.full((len(s), 6), 0.9)
    conf[: int(len(s) * 0.8)] = 0.0
    report = analyze_series(series_of(s.keypoints, s.times, conf))
    assert not report.judged and report.view == "unknown"
    assert analyze_series(s).view == "side"  # a judged clip keeps its view
