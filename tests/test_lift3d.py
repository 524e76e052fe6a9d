"""The 3-D lifter (issue 32): BVH reader on the shared CMU trial, virtual cameras, the lifter's
train / evaluate / predict on real data, and the shipped weights' figures."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SHARED_DATA, _need
from engine.analysis.angles import knee_angles
from engine.lifting.bvh import CMU_UNIT_M, BVHError, lower_body, read_bvh, world_positions
from engine.lifting.camera import Camera, random_cameras, to_heading
from engine.lifting.data import hip_mid, normalize_2d

TRIAL = SHARED_DATA / "cmu-mocap" / "bvh" / "13_29.bvh"
PENN = SHARED_DATA / "penn-action-squat" / "labels"


@pytest.fixture(scope="module")
def trial():
    return read_bvh(_need(TRIAL))


def test_bvh_reader_on_the_shared_trial(trial):
    assert len(trial.names) == 31 and trial.values.shape == (4593, 96)
    assert abs(trial.fps - 120) < 0.01
    p = lower_body(trial)  # (4592, 6, 3) metres, T-pose frame dropped
    assert p.shape == (4592, 6, 3)
    thigh = np.linalg.norm(p[:, 2:4] - p[:, 0:2], axis=-1)
    shin = np.linalg.norm(p[:, 4:6] - p[:, 2:4], axis=-1)
    # rigid bones: constant lengths, the README's figures (0.430 / 0.419 m, 0.459 / 0.463 m)
    assert thigh.std(0).max() < 1e-9 and shin.std(0).max() < 1e-9
    np.testing.assert_allclose(thigh[0], [0.430, 0.419], atol=0.001)
    np.testing.assert_allclose(shin[0], [0.459, 0.463], atol=0.001)
    k = knee_angles(p)
    assert k[:, 0].min() == pytest.approx(33.4, abs=0.1)
    assert k[:, 1].min() == pytest.approx(30.2, abs=0.1)
    np.testing.assert_allclose((k < 100).mean(0), [0.158, 0.167], atol=0.001)
    t = np.arange(1, 4593) / 120.0
    standing = (t > 9.5) & (t < 15)
    assert 150 < k[standing].min() and k[standing].max() < 168
    # the T-pose frame 0 reads straight knees (180) when kept
    assert knee_angles(lower_body(trial, drop_first=False)[:1]).min() > 179.9


def test_bvh_reader_channel_order_and_bad_files(tmp_path):
    """A two-joint file written here: the child's position follows the root's rotation in the
    file's channel order (Z then X here), and broken files stop with the file named."""
    f = tmp_path / "tiny.bvh"
    f.write_text("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition "
                 "Zrotation Xrotation Yrotation\n JOINT B\n {\n  OFFSET 0 1 0\n  CHANNELS 3 "
                 "Zrotation Xrotation Yrotation\n  End Site\n  {\n   OFFSET 0 1 0\n  }\n }\n}\n"
                 "MOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3 0 0 0 0 0 0\n0 0 0 90 90 0 0 0 0\n")
    m = read_bvh(f)
    pos = world_positions(m)
    np.testing.assert_allclose(pos[0, 1], [1, 3, 3], atol=1e-12)
    # Rz(90) . Rx(90) applied to (0, 1, 0): Rx takes it to (0, 0, 1), Rz leaves z
    np.testing.assert_allclose(pos[1, 1], [0, 0, 1], atol=1e-12)
    bad = tmp_path / "bad.bvh"
    bad.write_text(f.read_text().replace("0 0 0 90 90 0 0 0 0\n", "0 0 0 90\n"))
    with pytest.raises(BVHError, match="bad.bvh"):
        read_bvh(bad)
    with pytest.raises(BVHError, match="not a BVH"):
        read_bvh(_write(tmp_path / "x.bvh", "hello"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_projection_round_trip_and_heading_frame():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(50, 27, 6, 3)) * 0.4 + np.array([0, 0.9, 0])
    cams = random_cameras(rng, 50, pts[:, 13].mean(axis=1))
    px, depth = cams.project(pts)
    assert px.shape == (50, 27, 6, 2) and (depth > 0.5).all()
    np.testing.assert_allclose(cams.unproject(px, depth), pts, atol=1e-9)
    # the heading frame: y straight down, x the camera's right, whatever the elevation
    up = np.array([[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(to_heading(up, 123.0, np.zeros(3)), [[0, -1, 0]], atol=1e-12)
    cam = Camera(np.zeros(3), np.array(90.0), np.array(30.0), np.array(3.0), np.array(1000.0))
    np.testing.assert_allclose(cam.center(), [3 * np.cos(np.pi / 6), 1.5, 0], atol=1e-12)
    right = to_heading(np.array([[0.0, 0.0, -1.0]]), 90.0, np.zeros(3))  # world -Z from +X
    assert right[0, 0] > 0.99
    (p_r,), _ = cam.project(np.array([[0.0, 0.0, -1.0]]))
    assert p_r[0] > cam.image_size[0] / 2  # ... lies right of the image centre


def test_straightened_knees_open_only_near_straight_legs(trial):
    from engine.lifting.data import straighten_knees, windows
    p = lower_body(trial)
    w = windows(p, np.array([1500, 3900, 4000]), 4)  # standing; a deep squat, its bottom
    before = knee_angles(w.reshape(-1, 6, 3)).reshape(3, -1, 2)
    assert before[0].min() > 155 and before[1:].max() < 120
    for amount, lo, hi in ((0.0, 150, 170), (1.0, 177.9, 178.1)):
        s = straighten_knees(w, np.array([amount, 1.0, 1.0]))
        after = knee_angles(s.reshape(-1, 6, 3)).reshape(3, -1, 2)
        assert lo < after[0].min() and after[0].max() < hi
        np.testing.assert_allclose(after[1:], before[1:], atol=1e-6)  # bent knees untouched
        shin = np.linalg.norm(s[..., 4:6, :] - s[..., 2:4, :], axis=-1)
        np.testing.assert_allclose(shin, np.linalg.norm(w[..., 4:6, :] - w[..., 2:4, :], axis=-1))
        np.testing.assert_allclose(s[..., :4, :], w[..., :4, :])  # hips and knees stay


def test_normalised_inputs_ignore_where_and_how_big_the_person_is():
    rng = np.random.default_rng(0)
    px = rng.uniform(400, 900, (3, 27, 6, 2))
    px[1, 5, 2] = np.nan  # a dropped knee
    a = normalize_2d(px)
    b = normalize_2d(px * 2.5 + np.array([300.0, -40.0]))
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a[1, 5, 2 * 3 + 2] == 0 and a[1, 5, 2 * 3] == 0  # visible flag and coordinates 0


def test_flipped_inputs_are_the_mirror_images_inputs():
    """The test-time flip: the inputs of the image mirrored (x -> width - x, the athlete's left
    and right exchanged) are ``flip_inputs`` of the inputs; flipping twice changes nothing."""
    from engine.joints import FLIP_INDEX
    from engine.lifting.weights import flip_inputs
    rng = np.random.default_rng(1)
    px = rng.uniform(300, 900, (4, 27, 6, 2))
    px[0, 3, 4] = np.nan
    mirrored = px[:, :, list(FLIP_INDEX)] * np.array([-1.0, 1.0]) + np.array([1920.0, 0.0])
    np.testing.assert_allclose(flip_inputs(normalize_2d(px)), normalize_2d(mirrored), atol=1e-5)
    np.testing.assert_array_equal(flip_inputs(flip_inputs(normalize_2d(px))), normalize_2d(px))


def _run(*args, timeout=600):
    r = subprocess.run([sys.executable, "-m", "engine.lift3d", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout)
    return r


def test_train_evaluate_predict_a_few_steps_on_real_data(tmp_path):
    _need(TRIAL)
    w = tmp_path / "l.safetensors"
    r = _run("train", "--data", SHARED_DATA, "--steps", "6", "--batch", "32", "--width", "16",
             "--out", w)
    assert r.returncode == 0, r.stderr
    side = json.loads(w.with_suffix(".json").read_text())
    assert side["format"] == "squatpose-lifter/1" and side["training"]["steps"] == 6
    r = _run("evaluate", "--data", SHARED_DATA, "--weights", w, "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for key in ("exact_2d", "noisy_2d"):
        assert m[key]["samples"] == 110 * 36  # held-out frames at 30 fps x 12 azimuths x 3
        assert m[key]["mpjpe_mm"] > m[key]["pa_mpjpe_mm"] > 0
        assert set(m[key]["per_joint_mm"]) == {"left_hip", "right_hip", "left_knee",
                                                "right_knee", "left_ankle", "right_ankle"}
        assert m[key]["knee_flexion_error_deg"]["median"] >= 0
    assert len(m["exact_2d"]["mpjpe_mm_per_azimuth"]) == 12
    # predict on a real Penn Action track (human-labelled joints) with these weights
    track = _need(PENN / "1662.mat")
    r = _run("predict", track, "--weights", w, "--out", tmp_path / "pr")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "pr" / "joints3d.csv")))
    rep = json.loads((tmp_path / "pr" / "report.json").read_text())
    assert len(rows) == 6 * rep["frames"] and rep["lift3d"]["frames_lifted"] > 0
    assert rep["rep_details"] and "bottom_knee_angle" in rep["rep_details"][0]["3d"]
    # bad input: clear message, exit 2, nothing written
    r = _run("evaluate", "--data", tmp_path, "--weights", w, "--out", tmp_path / "ev2")
    assert r.returncode == 2 and "mocap trial not found" in r.stderr
    assert not (tmp_path / "ev2").exists()


def test_shipped_lifter_meets_the_issue_goals(tmp_path):
    """The shipped weights, scored afresh: the figures docs/3d.md gives, and the goals."""
    _need(TRIAL)
    from engine.lifting.trainer import evaluate_lifter, load_split
    from engine.lifting.weights import SHIPPED, load_lifter
    assert SHIPPED.stat().st_size < 1_000_000
    model, meta = load_lifter()
    m = evaluate_lifter(model, load_split(TRIAL))
    assert m["exact_2d"]["mpjpe_mm"] == pytest.approx(meta["metrics"]["exact_2d"]["mpjpe_mm"], abs=0.2)
    assert m["exact_2d"]["mpjpe_mm"] <= 40
    assert m["noisy_2d"]["mpjpe_mm"] <= 70
    assert m["exact_2d"]["knee_flexion_error_deg"]["median"] <= 5


# -- the Compare tab's 3-D view ---------------------------------------------------------------

BUNDLE_CLIP = ROOT / "assets" / "demo" / "clips" / "gym-side-two-squats.mp4"


def test_compare_3d_figure_from_a_real_run(tmp_path):
    """The figure the Compare tab shows: the six joints, the floor under the ankles, the knee
    angles, for a real clip analysed by MediaPipe (the demo bundle's clip)."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (optional extra)")
    from demo.compare import run_models
    from demo.view3d import figure_3d
    runs = run_models(str(BUNDLE_CLIP), ["mediapipe"], out_root=tmp_path, stride=1)
    kp3 = runs[0].series.meta["joints3d"]
    assert kp3.shape == (len(runs[0].series), 6, 3) and np.isfinite(kp3).all(axis=(1, 2)).mean() > 0.8
    rep = runs[0].report["rep_details"][0]
    assert 40 < rep["3d"]["bottom_knee_angle"] < 150
    fig = figure_3d(runs, rep["bottom_frame"])
    kinds = [t.type for t in fig.data]
    assert kinds.count("scatter3d") == 6 and "surface" in kinds  # 5 bones + joints, floor
    joints = [t for t in fig.data if t.type == "scatter3d" and t.mode == "markers+text"][0]
    assert joints.text[2].startswith("L knee") and joints.text[3].startswith("R knee")
    floor = [t for t in fig.data if t.type == "surface"][0]
    assert np.max(floor.z) == 0 and min(joints.z[4], joints.z[5]) == pytest.approx(0.07)
    assert min(joints.z[0], joints.z[1]) > max(joints.z[4], joints.z[5])  # hips above ankles
    assert not np.allclose(figure_3d(runs, 0).data[-2].z, joints.z)  # another frame, other joints


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
def test_compare_tab_shows_the_3d_view(tmp_path):
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (optional extra)")
    from playwright.sync_api import expect
    from tests.test_compare_browser import ARTIFACTS, compare_page
    with compare_page(tmp_path, BUNDLE_CLIP, []) as page:
        page.locator("#stride input[type=number]").fill("3")
        page.locator("#stride input[type=number]").press("Enter")
        page.locator("#analyse-button").click()
        plot = page.locator("#pose-3d .js-plotly-plot")
        expect(plot).to_be_visible(timeout=300_000)
        expect(page.locator("#pose-3d .gl-container canvas").first).to_be_attached(timeout=30_000)
        read = ("() => { const d = document.querySelector('#pose-3d .js-plotly-plot').data;"
                " const j = d.find(t => t.mode === 'markers+text');"
                " return {text: j.text, z: j.z, floor: d.some(t => t.type === 'surface')}; }")
        first = page.evaluate(read)
        assert first["floor"] and first["text"][2].startswith("L knee")
        page.screenshot(path=str(ARTIFACTS / "compare-3d.png"), full_page=True)
        number = page.locator("#frame-slider input[type=number]")
        number.fill("20")
        number.press("Enter")
        page.wait_for_function("(z0) => { const d = document.querySelector('#pose-3d .js-plotly-plot').data;"
                               " const j = d.find(t => t.mode === 'markers+text');"
                               " return JSON.stringify(j.z) !== JSON.stringify(z0); }",
                               arg=first["z"], timeout=60_000)
        page.locator("#pose-3d").screenshot(path=str(ARTIFACTS / "compare-3d-frame20.png"))
