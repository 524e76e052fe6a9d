"""Leeds Sports Pose Extended (../shared/data/lsp-extended) becomes a COCO file that the whole
project takes: its flag counts, its joints where LSP put them, training and evaluation on it,
and a broken input stopped with a message naming the culprit."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, _need

ROOT = Path(__file__).resolve().parents[1]
LSP = SHARED_DATA / "lsp-extended"


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def lsp_dir() -> Path:
    return _need(LSP / "joints.mat").parent


@pytest.fixture(scope="module")
def lsp_json(lsp_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lsp") / "lsp.json"
    r = _run("engine.convert", "lsp", str(lsp_dir), "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "9000 people" in r.stdout
    return out


def test_flag_counts_of_the_converted_file(lsp_json, lsp_dir):
    r = _run("engine.flags", str(lsp_json), "--json", "--images", str(lsp_dir / "images"))
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(r.stdout)
    assert (s["person_annotations"], s["none_labeled"], s["all_labeled"], s["all_visible"]) == \
        (9000, 20, 5372, 5372)  # 5374 before joints outside the image were unlabelled (issue 30)


def test_joints_land_on_their_coco_keypoints(lsp_json, lsp_dir):
    """Checked against joints.mat read here directly: LSP's order (right ankle first) mapped by
    name, flag 0 -> unlabelled, neck and head top kept aside, ids = the image's number."""
    import scipy.io
    from PIL import Image

    from engine.joints import COCO_KEYPOINT_NAMES
    raw = scipy.io.loadmat(str(lsp_dir / "joints.mat"))["joints"]  # 14 x 3 x N
    lsp_names = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
                 "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
                 "left_wrist"]
    data = json.loads(lsp_json.read_text())
    assert [a["id"] for a in data["annotations"]] == list(range(1, 9001))
    for n in (1, 2, 4321, 9000):
        a = data["annotations"][n - 1]
        im = data["images"][n - 1]
        assert im["id"] == a["image_id"] == n and im["file_name"] == f"im{n:05d}.jpg"
        with Image.open(lsp_dir / "images" / im["file_name"]) as pil:
            assert (im["width"], im["height"]) == pil.size
        k = np.array(a["keypoints"]).reshape(17, 3)
        for li, name in enumerate(lsp_names):
            x, y, vis = raw[li, :, n - 1]
            ck = k[COCO_KEYPOINT_NAMES.index(name)]
            if vis:
                assert ck[2] == 2 and ck[:2] == pytest.approx([x, y], abs=0.01)
            else:
                assert list(ck) == [0, 0, 0]
        for name, li in (("neck", 12), ("head_top", 13)):
            assert a["lsp_extra"][name][2] == 2 * raw[li, 2, n - 1]
        # the box holds every labelled joint inside the image
        x0, y0, w, h = a["bbox"]
        lab = raw[:, 2, n - 1] > 0
        pts = raw[lab, :2, n - 1]
        inside = (pts[:, 0] >= 0) & (pts[:, 1] >= 0) & (pts[:, 0] < im["width"]) & (pts[:, 1] < im["height"])
        pts = pts[inside]
        assert (pts[:, 0] >= x0 - 0.01).all() and (pts[:, 0] <= x0 + w + 0.01).all()
        assert (pts[:, 1] >= y0 - 0.01).all() and (pts[:, 1] <= y0 + h + 0.01).all()
    assert a["num_keypoints"] == int((k[:, 2] > 0).sum())
    # raw joint 0 of image 1 (right ankle) is flagged 0 in LSP: unlabelled here
    assert data["annotations"][0]["keypoints"][3 * 16: 3 * 16 + 3] == [0, 0, 0]


def _mini_lsp(tmp_path: Path, lsp_dir: Path, n: int = 3) -> Path:
    """An LSP folder with the first ``n`` real people and images."""
    import scipy.io
    d = tmp_path / "mini"
    (d / "images").mkdir(parents=True)
    raw = scipy.io.loadmat(str(lsp_dir / "joints.mat"))["joints"][:, :, :n]
    scipy.io.savemat(str(d / "joints.mat"), {"joints": raw})
    for i in range(1, n + 1):
        shutil.copy(lsp_dir / "images" / f"im{i:05d}.jpg", d / "images")
    return d


def test_broken_input_stops_with_a_message_and_writes_nothing(tmp_path, lsp_dir):
    import scipy.io
    d = _mini_lsp(tmp_path, lsp_dir)
    out = tmp_path / "out.json"
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    good = out.read_bytes()
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert out.read_bytes() == good, "the same input must give the same file (stable ids, no date)"
    out.unlink()

    (d / "images" / "im00003.jpg").rename(d / "im00003.jpg")
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 2 and "im00003.jpg" in r.stderr and "missing" in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.json*"))
    (d / "im00003.jpg").rename(d / "images" / "im00003.jpg")

    (d / "images" / "im00002.jpg").write_bytes(b"not a jpeg")
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 2 and "im00002.jpg" in r.stderr and "not a readable image" in r.stderr
    shutil.copy(lsp_dir / "images" / "im00002.jpg", d / "images")

    mat = d / "joints.mat"
    original = mat.read_bytes()
    mat.write_bytes(original[: len(original) // 3])  # cut short
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 2 and str(mat) in r.stderr and "Traceback" not in r.stderr, r.stderr
    scipy.io.savemat(str(mat), {"points": np.zeros((14, 3, 3))})
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 2 and "no variable 'joints'" in r.stderr, r.stderr
    scipy.io.savemat(str(mat), {"joints": np.zeros((3, 14, 3))})
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 2 and "14 x 3 x N" in r.stderr, r.stderr
    mat.unlink()
    r = _run("engine.convert", "lsp", str(d), "--out", str(out))
    assert r.returncode == 2 and "joints.mat" in r.stderr and "not found" in r.stderr
    assert not out.exists()


def test_convert_train_evaluate_on_a_handful_of_lsp_people(lsp_json, lsp_dir, tmp_path):
    images = lsp_dir / "images"
    small = tmp_path / "small.json"
    r = _run("engine.flags", str(lsp_json), "--filter", "labeled", "--subset", "6", "--export", str(small),
             "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["exported"]["people"] == 6
    run = tmp_path / "run"
    r = _run("engine.train", "--model", "dilated", "--train-ann", str(small), "--train-images", str(images),
             "--epochs", "1", "--out", str(run), "--batch-size", "3", "--input-size", "128x96",
             "--threads", "1", "--device", "cpu")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    r = _run("engine.evaluate", "--weights", str(run / "model.safetensors"), "--ann", str(small),
             "--images", str(images), "--device", "cpu", "--out", str(tmp_path / "report.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["instances"] == 6 and report["joints_counted"] == 36 and 0.0 <= report["pck@0.05"] <= 1.0
