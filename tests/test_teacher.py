"""The heavy BlazePose teacher: installed by one idempotent, checksummed step, refused with a
message saying how to get it when it is not there, and labelling a real clip when it is."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.fileio import sha256_file
from engine.video import blazepose_models as bm
from tests.conftest import needs_heavy_teacher, needs_mediapipe

ROOT = Path(__file__).resolve().parents[1]


@needs_mediapipe
def test_heavy_teacher_is_refused_with_how_to_get_it(tmp_path, clips_dir, monkeypatch):
    """The lookup pointed at an empty folder (the real install is not touched)."""
    empty = tmp_path / "modules"
    empty.mkdir()
    out = tmp_path / "pl"
    env = {**os.environ, bm.ENV: str(empty)}
    r = subprocess.run([sys.executable, "-m", "engine.pseudolabel", str(clips_dir / "oblique-single.mp4"),
                        "--teacher", "mediapipe-heavy", "--out", str(out), "--max-seconds", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "pose_landmark_heavy.tflite" in r.stderr and "python -m engine.teacher install" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    # the adapter itself refuses too, before mediapipe could try to download it
    from engine.video.mediapipe_pose import MediaPipePose
    monkeypatch.setenv(bm.ENV, str(empty))
    with pytest.raises(bm.ModelMissing, match="engine.teacher install"):
        MediaPipePose.for_teacher("mediapipe-heavy").open()
    MediaPipePose.for_teacher("mediapipe").open().close()  # the full model ships in the wheel
    r = subprocess.run([sys.executable, "-m", "engine.teacher", "status", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1 and json.loads(r.stdout)["mediapipe"] == "ok"
    assert "not installed" in json.loads(r.stdout)["mediapipe-heavy"]


@needs_heavy_teacher
def test_install_is_idempotent_and_checks_the_checksum(tmp_path):
    """Installed from a folder holding the package's files (here: the real install's folder,
    so no network is needed) into another modules folder."""
    source = bm.model_path(2).parent
    target = tmp_path / "modules"
    r = subprocess.run([sys.executable, "-m", "engine.teacher", "install", "--from", str(source),
                        "--modules", str(target), "--json"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == {"pose_landmark_lite.tflite": "installed",
                                    "pose_landmark_heavy.tflite": "installed"}
    installed = bm.check_model(2, target)
    assert installed == target / "pose_landmark" / "pose_landmark_heavy.tflite"
    assert sha256_file(installed) == bm.MODELS[2][1]
    assert bm.install(source, target, log=lambda m: None) == {
        "pose_landmark_lite.tflite": "already installed", "pose_landmark_heavy.tflite": "already installed"}
    # a damaged copy is refused, and the install step replaces it
    with open(installed, "ab") as f:
        f.write(b"x")
    with pytest.raises(bm.ModelMissing, match="damaged"):
        bm.check_model(2, target)
    assert bm.install(source, target, log=lambda m: None)["pose_landmark_heavy.tflite"] == "installed"
    bm.check_model(2, target)
    # a source with the wrong file is not copied
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "pose_landmark_heavy.tflite").write_bytes(b"not the model")
    with pytest.raises(bm.ModelMissing, match="not copied"):
        bm.install(bad, tmp_path / "other", complexities=(2,), log=lambda m: None)
    assert not (tmp_path / "other" / "pose_landmark" / "pose_landmark_heavy.tflite").exists()


@needs_heavy_teacher
def test_heavy_teacher_pseudolabels_a_real_clip(tmp_path, clips_dir):
    out = tmp_path / "pl"
    r = subprocess.run([sys.executable, "-m", "engine.pseudolabel", str(clips_dir / "oblique-single.mp4"),
                        "--teacher", "mediapipe-heavy", "--out", str(out), "--max-seconds", "2",
                        "--stride", "6", "--no-masks"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "annotations.json").read_text())
    assert data["info"]["teacher"].startswith("mediapipe-heavy:") and "heavy" in data["info"]["teacher"]
    assert len(data["annotations"]) >= 3
    for a in data["annotations"]:
        assert sum(1 for i in range(11, 17) if a["keypoints"][3 * i + 2] > 0) >= 4
