"""engine.analyze end to end on real clips: the three outputs agree with each other, and bad
inputs give a clear error and write nothing."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.models import weights as weightslib
from engine.joints import JOINTS
from engine.models import build_model
from tests.conftest import needs_mediapipe

ROOT = Path(__file__).resolve().parents[1]


def _analyze(args, cwd=ROOT, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "engine.analyze", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


def _check_outputs(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    for key in ("reps", "view", "rep_details", "feedback", "fps_processed"):
        assert key in report
    assert isinstance(report["reps"], int) and len(report["rep_details"]) == report["reps"]
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == report["frames"] == report["annotated_frames"]
    with open(out / "keypoints.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["frame", "time_s", "joint", "x", "y", "confidence"]
    assert len(rows) == n * len(JOINTS)
    assert [r["joint"] for r in rows[:6]] == list(JOINTS)
    frames = sorted({int(r["frame"]) for r in rows})
    assert len(frames) == n
    return report


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """An untrained dilated model saved like shipped weights (runs without MediaPipe)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "dilated.safetensors"
    weightslib.save(build_model("dilated"), path, {"model": "dilated", "input_size": [96, 128]})
    return path


def test_analyze_with_weights_outputs_agree(tmp_path, clips_dir, random_weights):
    out = tmp_path / "out"
    r = _analyze([clips_dir / "side-single-text.mp4", "--weights", random_weights, "--out", out,
                  "--device", "cpu"])
    assert r.returncode == 0, r.stderr[-2000:]
    report = _check_outputs(out)
    # the container claims 159 frames; only the decoded ones are processed
    assert report["clip"]["claimed_frames"] == 159 and report["frames"] < 100
    assert report["model"] == "dilated"


def test_analyze_stride_processes_every_kth_frame(tmp_path, clips_dir, random_weights):
    out = tmp_path / "out"
    r = _analyze([clips_dir / "oblique-single.mp4", "--weights", random_weights, "--out", out,
                  "--stride", "3", "--no-smooth", "--device", "cpu", "--heatmaps"])
    assert r.returncode == 0, r.stderr[-2000:]
    report = _check_outputs(out)
    assert report["frames"] == 30 and report["stride"] == 3 and report["smoothed"] is False
    assert "model_note" not in report  # the model was chosen, not defaulted
    with open(out / "keypoints.csv") as f:
        frames = sorted({int(row["frame"]) for row in csv.DictReader(f)})
    assert frames == list(range(0, 90, 3))


@needs_mediapipe
def test_analyze_with_mediapipe(tmp_path, clips_dir, clips_manifest):
    out = tmp_path / "out"
    r = _analyze([clips_dir / "oblique-single.mp4", "--model", "mediapipe", "--out", out])
    assert r.returncode == 0, r.stderr[-2000:]
    report = _check_outputs(out)
    expected = {c["file"]: c["reps"] for c in clips_manifest["clips"]}["oblique-single.mp4"]
    assert report["reps"] == expected and report["model"] == "mediapipe"
    with open(out / "keypoints.csv") as f:
        xs = np.array([float(r["x"]) for r in csv.DictReader(f) if r["x"]])
    assert len(xs) and xs.min() >= 0 and xs.max() < 1280


@pytest.mark.parametrize("kind", ["broken", "empty", "text"])
def test_bad_input_gives_clear_error_and_writes_nothing(tmp_path, clips_dir, random_weights, kind):
    bad = tmp_path / f"{kind}.mp4"
    if kind == "broken":
        bad.write_bytes((clips_dir / "side-wall.mp4").read_bytes()[:2000])  # a truncated video
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_text("these are my training notes, not a video\n")
    out = tmp_path / "out"
    r = _analyze([bad, "--weights", random_weights, "--out", out, "--device", "cpu"])
    assert r.returncode == 2
    assert bad.name in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@needs_mediapipe
def test_default_model_falls_back_to_mediapipe_and_says_so(tmp_path, clips_dir):
    out = tmp_path / "out"
    r = _analyze([clips_dir / "oblique-single.mp4", "--out", out, "--max-seconds", "1"],
                 env={"SQUATPOSE_WEIGHTS_DIR": str(tmp_path / "no-weights")})
    assert r.returncode == 0, r.stderr[-2000:]
    report = _check_outputs(out)
    assert report["model"] == "mediapipe" and report["frames"] == 30 and report["smoothed"] is True
    assert "MediaPipe" in report["model_note"] and "note:" in r.stdout + r.stderr


@pytest.mark.parametrize("args, words", [
    (["--weights", "missing.safetensors"], "not found"),
    (["--model", "no_such_model"], "no_such_model"),
    (["--stride", "0"], "--stride"),
])
def test_bad_options_give_clear_errors_and_write_nothing(tmp_path, clips_dir, args, words):
    out = tmp_path / "out"
    r = _analyze([clips_dir / "oblique-single.mp4", "--out", out, *args],
                 env={"SQUATPOSE_WEIGHTS_DIR": str(tmp_path / "no-weights")})
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_without_mediapipe_the_adapter_and_cli_say_how_to_install_it(tmp_path, clips_dir):
    """mediapipe is imported lazily: without it the module imports, and using it (directly or
    through the CLI's --model mediapipe) gives a clear error naming the optional extra."""
    out = tmp_path / "out"
    code = ("import sys; sys.modules['mediapipe'] = None\n"
            "from engine.video.mediapipe_pose import MediaPipePose\n"
            "try:\n    MediaPipePose().open()\nexcept ImportError as e:\n    print('ERR', e)\n"
            "from engine.analyze import main\n"
            f"sys.exit(main([{str(clips_dir / 'oblique-single.mp4')!r}, '--model', 'mediapipe', "
            f"'--out', {str(out)!r}]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "ERR" in r.stdout and "requirements-mediapipe.txt" in r.stdout
    assert r.returncode == 2 and "requirements-mediapipe.txt" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_a_black_end_card_is_no_person_not_missing_ankles(tmp_path, clips_dir):
    """Issue 31, on a real clip through the shipped default model: side-wall.mp4 (three squats
    from the side, every ankle seen) with 3 s of a black end card. The card is 'no person':
    the view stays 'side', no joint is called out of view, the joints are not called
    unreliable, and the feedback says nobody was in view there."""
    from engine.video.reader import VideoWriter, open_video
    clip = tmp_path / "side-wall-end-card.mp4"
    with open_video(clips_dir / "side-wall.mp4") as v:
        fps, size = v.fps, v.frame_size
        with VideoWriter(clip, fps, size) as w:
            for _, f in v.frames():
                w.write(f)
            black = np.zeros((size[1], size[0], 3), np.uint8)
            for _ in range(int(3 * fps)):
                w.write(black)
    out = tmp_path / "out"
    r = _analyze([clip, "--out", out, "--stride", "3"])
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["reps"] == 3 and report["view"] == "side", report["view_segments"]
    assert report["view_segments"][-1]["view"] == "no person"
    assert report["missing_joints"] == [] and len(report["no_person_frames"]) >= 28
    text = " ".join(report["feedback"])
    assert "out of view" not in text and "unreliable" not in text, report["feedback"]
    assert "Nobody was in view from 10." in text, report["feedback"]
