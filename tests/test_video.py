"""Reading real clips (rotation, lying frame counts, stride, duration) and writing H.264."""
from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from engine.video.reader import VideoError, VideoWriter, ffmpeg_exe, open_video


def test_portrait_rotation_metadata_is_honoured(tmp_path, clips_dir):
    rotated = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", "90", "-i",
                    str(clips_dir / "oblique-single.mp4"), "-t", "1", "-c", "copy", str(rotated)], check=True)
    with open_video(clips_dir / "oblique-single.mp4") as v:
        assert v.frame_size == (1280, 720)
    with open_video(rotated) as v:
        assert v.frame_size == (720, 1280)
        _, frame = next(iter(v.frames()))
        assert frame.shape == (1280, 720, 3)


def test_decoded_frames_trusted_over_container_count(clips_dir):
    with open_video(clips_dir / "side-single-text.mp4") as v:
        assert v.frame_count == 159
        n = sum(1 for _ in v.frames())
    assert 80 <= n <= 90


def test_stride_and_max_seconds(clips_dir):
    with open_video(clips_dir / "oblique-single.mp4", stride=4, max_seconds=1.0) as v:
        idx = [i for i, f in v.frames()]
        assert v.fps == pytest.approx(30.0)
    assert idx == list(range(0, 30, 4))


@pytest.mark.parametrize("content", [b"", b"hello, not a video", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500])
def test_unreadable_inputs_raise_clear_errors(tmp_path, content):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(content)
    with pytest.raises(VideoError, match="clip.mp4"):
        open_video(bad)
    with pytest.raises(VideoError, match="not found"):
        open_video(tmp_path / "missing.mp4")


def test_writer_is_atomic_and_browser_playable(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 25, (161, 91)) as w:
        for i in range(12):
            assert not path.exists()  # only a temporary file exists while writing
            w.write(np.full((91, 161, 3), 20 * i, np.uint8))
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (int(cap.get(3)), int(cap.get(4))) == (160, 90)  # yuv420p needs even sides
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    assert fourcc in ("avc1", "h264")
    # a failure inside the block leaves no file behind
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "bad.mp4", 25, (64, 64)) as w:
            w.write(np.zeros((64, 64, 3), np.uint8))
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("suffix, codec", [(".webm", "libvpx"), (".avi", "mjpeg"), (".mov", "libx264"),
                                           (".mkv", "mpeg4")])
def test_other_containers_decode(tmp_path, clips_dir, suffix, codec):
    path = tmp_path / f"clip{suffix}"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(clips_dir / "side-studio.mp4"),
                    "-t", "0.5", "-an", "-c:v", codec, str(path)], check=True)
    with open_video(path) as v:
        assert v.frame_size == (640, 360) and v.fps == pytest.approx(23.976, rel=1e-3)
        frames = [f for _, f in v.frames()]
    assert 10 <= len(frames) <= 13 and frames[0].dtype == np.uint8 and frames[0].shape == (360, 640, 3)


def test_a_folder_is_not_a_clip(tmp_path):
    with pytest.raises(VideoError, match="folder"):
        open_video(tmp_path)

