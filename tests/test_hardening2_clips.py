"""Issue 30 (hardening, second round), the clip items through the reader and the Compare
tab's check: item 0 (a raw stream that states no frame rate is held to the duration limit)
and item 4 (a frame's size is refused from its header, before any frame is decoded)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.video.reader import DecodeLimits, LimitExceeded, decode_limits, ffmpeg_exe, open_video, read_header

ROOT = Path(__file__).resolve().parents[1]


def make_raw_mjpeg(path: Path, seconds: int = 100, fps: int = 10) -> Path:
    """The issue's clip, smaller: ``seconds`` of video filmed at ``fps`` as a raw MJPEG stream
    (no container: nothing states its rate, ffmpeg and OpenCV assume 25 frames/s)."""
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc2=s=64x48:d={seconds}:r={fps}", "-c:v", "mjpeg", "-f", "mjpeg", str(path)],
                   check=True)
    return path


def make_huge_mjpeg(path: Path, side: int = 16000) -> Path:
    """Two black ``side`` x ``side`` JPEG frames as a raw MJPEG stream (3 MB on disk, 768 MB
    once one frame is decoded to BGR)."""
    import cv2
    import numpy as np
    frame = cv2.imencode(".jpg", np.zeros((side, side), np.uint8))[1].tobytes()
    path.write_bytes(frame * 2)
    return path


@pytest.fixture(scope="module")
def raw_mjpeg(tmp_path_factory) -> Path:
    return make_raw_mjpeg(tmp_path_factory.mktemp("clips") / "long.mp4")


@pytest.fixture(scope="module")
def huge_mjpeg(tmp_path_factory) -> Path:
    return make_huge_mjpeg(tmp_path_factory.mktemp("clips") / "huge.mp4")


def test_item0_a_raw_mjpeg_stream_of_100_s_is_refused_with_the_limit_message(raw_mjpeg):
    from demo.compare import InputProblem, Limits, check_clip
    assert read_header(raw_mjpeg).rateless
    with open_video(raw_mjpeg) as v:
        assert v.fps == 25.0  # the decoder's guess: 1000 frames would pass as 40 s
    with pytest.raises(InputProblem, match="lasts more than 60 s, over the 60 s limit"):
        check_clip(raw_mjpeg, Limits(max_mb=100, max_seconds=60, max_side=1920, max_frames=3600))
    # and decoding itself stops at the budget counted at RATELESS_FPS (10/s): 60.5 s = 605 frames
    n = 0
    with decode_limits(DecodeLimits(max_seconds=60, max_frames=3600, max_side=1920)), open_video(raw_mjpeg) as v:
        with pytest.raises(LimitExceeded, match="lasts more than 60 s"):
            for _ in v.frames():
                n += 1
    assert n == 605


def test_item0_a_short_raw_stream_still_passes(tmp_path):
    from demo.compare import Limits, check_clip
    clip = make_raw_mjpeg(tmp_path / "short.mjpeg", seconds=4, fps=10)
    assert check_clip(clip, Limits(max_seconds=60))["frames"] == 40


def test_item4_a_16000_pixel_frame_is_refused_from_its_header_before_decoding(huge_mjpeg):
    """In a fresh process (its VmHWM: ru_maxrss would carry the forking test process's
    peak across exec), so that its peak memory is this check's alone: refused with the
    pixel limit's message while the process stays far under the 768 MB of one decoded frame."""
    code = (
        "import sys\n"
        "from engine.video.reader import DecodeLimits, LimitExceeded, decode_limits, open_video\n"
        "try:\n"
        "    with decode_limits(DecodeLimits(max_side=1920)), open_video(sys.argv[1]):\n"
        "        print('opened')\n"
        "except LimitExceeded as e:\n"
        "    print('refused:', e)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('peak MB', int(hwm.split()[1]) // 1024)\n")
    out = subprocess.run([sys.executable, "-c", code, str(huge_mjpeg)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120).stdout
    assert "refused: The clip is 16000x16000, over the 1920-pixel resolution limit" in out, out
    peak = int(out.rsplit("peak MB", 1)[1])
    assert peak < 500, out  # decoding the first frame took it past 1 GB
