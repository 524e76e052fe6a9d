"""Video prediction: the lower-body crop rule, the search windows, decoding to frame pixels,
finding a small athlete in a big frame, tracking and re-acquiring across a cut, real clips,
and loading saved weights.

Where the test needs a model that knows where the joints are, it uses ``ColourJoints``: a
real ``nn.Module`` with hand-set weights whose heatmap for joint j is how much of each 4x4
cell has joint j's colour. Like a trained network its peaks fade when the joints are small in
the crop, which is what the search-and-track logic must cope with.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.models import weights as weightslib
from engine.geometry import Crop, lower_body_box
from engine.joints import NUM_JOINTS
from engine.models import MEAN, STD, build_model
from engine.video.predict import HeatmapPredictor, load_predictor
from engine.video.tracking import MotionMap, TrackerConfig, crop_from_joints, search_levels, whole_frame_crop
from engine.video.reader import VideoWriter

torch.set_num_threads(1)

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255],
                    [0, 255, 255]], dtype=np.uint8)
INPUT = (96, 128)  # model input (width, height)


class ColourJoints(nn.Module):
    """Heatmap j = fraction of each 4x4 input cell whose colour is COLOURS[j]."""

    stride = 4

    def __init__(self, colours: np.ndarray = COLOURS):
        super().__init__()
        self.register_buffer("colours", torch.tensor(colours / 255.0, dtype=torch.float32))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = x * self.std + self.mean
        d2 = ((rgb[:, None] - self.colours[None, :, :, None, None]) ** 2).sum(2)
        return F.avg_pool2d(torch.exp(-d2 / (2 * 0.2**2)), 4)


def squatter(center_x: float, hip_y: float, scale: float) -> np.ndarray:
    """Six joints (JOINTS order) of a front-facing lower body, hips at ``hip_y``."""
    s = scale
    return np.array([[center_x + 0.2 * s, hip_y], [center_x - 0.2 * s, hip_y],
                     [center_x + 0.25 * s, hip_y + 0.5 * s], [center_x - 0.25 * s, hip_y + 0.5 * s],
                     [center_x + 0.22 * s, hip_y + 1.0 * s], [center_x - 0.22 * s, hip_y + 1.0 * s]])


def draw(frame_size, joints: np.ndarray, radius: int) -> np.ndarray:
    w, h = frame_size
    img = np.full((h, w, 3), 128, np.uint8)
    for (x, y), c in zip(joints, COLOURS):
        cv2.circle(img, (int(round(x)), int(round(y))), radius, tuple(int(v) for v in c), -1)
    return img


# -- the crop rule and the search windows ----------------------------------------------------

def test_lower_body_box_holds_the_joints_and_room_above_the_hips():
    kp = squatter(300, 200, 160)
    box = lower_body_box(kp, np.ones(6, bool))
    x, y, w, h = box
    assert (kp[:, 0] > x).all() and (kp[:, 0] < x + w).all()
    assert (kp[:, 1] > y).all() and (kp[:, 1] < y + h).all()
    assert 200 - y > 0.25 * 160  # the torso above the hips is in the box
    assert lower_body_box(kp, np.array([1, 0, 0, 0, 0, 0], bool)) is None
    crop = crop_from_joints(kp, np.ones(6), (640, 480), INPUT)
    inside = crop.to_input(kp)
    assert (inside > 0).all() and (inside[:, 0] < INPUT[0]).all() and (inside[:, 1] < INPUT[1]).all()
    assert crop_from_joints(kp, np.zeros(6), (640, 480), INPUT) is None  # nothing confident


def test_tracked_crop_shrinks_gradually_and_never_below_a_fifth_of_the_frame():
    """Joints bunched on one foot (a model's mistake) cannot pull the crop onto it at once:
    each update keeps at least max_shrink of the previous crop, and never under min_crop."""
    cfg = TrackerConfig()
    kp = squatter(300, 200, 160)
    big = crop_from_joints(kp, np.ones(6), (640, 480), INPUT, cfg)
    foot = np.tile([[300.0, 360.0]], (6, 1)) + np.random.default_rng(0).normal(0, 3, (6, 2))
    alone = crop_from_joints(foot, np.ones(6), (640, 480), INPUT, cfg)
    assert alone.size[1] == pytest.approx(cfg.min_crop * 480)
    after = crop_from_joints(foot, np.ones(6), (640, 480), INPUT, cfg, previous=big)
    assert after.size[1] == pytest.approx(cfg.max_shrink * big.size[1])
    grown = crop_from_joints(kp * 1.2, np.ones(6), (640, 480), INPUT, cfg, previous=alone)
    assert grown.size[1] > alone.size[1]  # growing is not limited
    # after a search found the athlete at crop height H, tracking keeps at least a fraction of H
    held = crop_from_joints(foot, np.ones(6), (640, 480), INPUT, cfg, floor=0.5 * big.size[1])
    assert held.size[1] == pytest.approx(0.5 * big.size[1]) and held.size[1] > alone.size[1]


def test_motion_map_tells_the_moving_region_from_the_still_one():
    rng = np.random.default_rng(0)
    frames = []
    for t in range(12):
        f = np.full((360, 640, 3), 100, np.uint8)
        f[100:200, 50:150] = 200  # a still object
        y = 100 + int(60 * np.sin(t / 2))
        f[y:y + 100, 400:500] = (30, 200, 30)  # something that moves up and down
        frames.append(np.clip(f + rng.normal(0, 1, f.shape), 0, 255).astype(np.uint8))
    m = MotionMap.from_frames(frames)
    assert m.support((400, 40, 100, 220)) == 1.0  # the mover's region, capped at 1
    assert m.support((50, 100, 100, 100)) < 0.5  # the still object: its sensor noise only
    assert m.support(None) == 1.0 and m.support((2000, 2000, 10, 10)) == 1.0  # no region: no evidence
    still = MotionMap.from_frames([frames[0]] * 5)
    assert still.support((50, 100, 100, 100)) == 1.0  # a still clip says nothing either way
    assert MotionMap.from_frames(frames[:1]) is None


def test_search_prefers_the_moving_athlete_to_a_still_look_alike():
    """Two lower bodies, the still one drawn a little bolder so that on confidence alone it
    wins; the clip's motion (the athlete's joints moved, the other's did not) decides."""
    athlete, statue = squatter(1400, 300, 300), squatter(450, 300, 300)

    def frame_with(dy: float) -> np.ndarray:
        f = draw((1920, 1080), statue, 18)
        f[int(dy):int(dy) + 400, 1200:1600] = 40  # the athlete's dark torso, squatting
        for (x, y), c in zip(athlete + [0, dy], COLOURS):
            cv2.circle(f, (int(x), int(y)), 12, tuple(int(v) for v in c), -1)
        return f

    frame = frame_with(0)
    pred = HeatmapPredictor(ColourJoints(), INPUT, "colours")
    _, xy, _ = pred.search(frame)
    assert np.abs(xy - statue).max() < 40  # confidence alone takes the bolder, still one
    motion = MotionMap.from_frames([frame_with(dy) for dy in (0, 40, 80, 120, 80, 40)])
    crop, xy, conf = pred.search(frame, motion)
    assert conf.mean() > 0.3 and np.abs(xy - athlete).max() < 40


@pytest.mark.parametrize("frame_size", [(1920, 1080), (608, 1080), (640, 360)])
def test_search_levels_contain_any_region_of_half_their_size(frame_size):
    w, h = frame_size
    wins = [c for level in search_levels(frame_size, INPUT) for c in level]
    whole = whole_frame_crop(frame_size, INPUT)
    assert whole.size[0] >= w and whole.size[1] >= h
    assert all(abs(c.size[0] / c.size[1] - INPUT[0] / INPUT[1]) < 1e-9 for c in wins)
    assert all(c.size[1] >= 2 * INPUT[1] for c in wins)  # never finer than the input
    rng = np.random.default_rng(0)
    for size in {c.size for c in wins}:
        level = [c for c in wins if c.size == size]
        for _ in range(50):  # a random region of half a window, anywhere in the frame
            rw, rh = size[0] / 2, size[1] / 2
            x0, y0 = rng.uniform(0, max(w - rw, 0)), rng.uniform(0, max(h - rh, 0))
            assert any(c.center[0] - c.size[0] / 2 - 0.5 <= x0 and x0 + min(rw, w) <= c.center[0] + c.size[0] / 2 + 0.5
                       and c.center[1] - c.size[1] / 2 - 0.5 <= y0 and y0 + min(rh, h) <= c.center[1] + c.size[1] / 2 + 0.5
                       for c in level)
    if h == 360:  # a small frame is not searched finer than its full height
        assert {c.size[1] for c in wins} == {360}


# -- decoding to frame pixels and the search -------------------------------------------------

def test_infer_returns_frame_pixels_and_marks_joints_outside_the_frame():
    kp = squatter(320, 120, 150)
    frame = draw((640, 360), kp, 8)
    pred = HeatmapPredictor(ColourJoints(), INPUT, "colours")
    crop = crop_from_joints(kp, np.ones(6), (640, 360), INPUT)
    xy, conf, hm = pred.infer([frame], [crop])
    assert hm.shape == (1, NUM_JOINTS, INPUT[1] // 4, INPUT[0] // 4)
    assert np.abs(xy[0] - kp).max() < 4.0, xy[0] - kp
    assert (conf > 0.8).all() and (conf <= 1.0).all()
    # a joint whose peak lies in a crop's padding beyond the frame is not found: here the
    # right ankle's colour is black, the colour of the padding of a crop hanging off the frame
    black_ankle = COLOURS.copy()
    black_ankle[5] = 0
    pred = HeatmapPredictor(ColourJoints(black_ankle), INPUT, "colours")
    frame = draw((640, 360), kp[:5], 8)
    xy, conf, _ = pred.infer([frame], [Crop((320.0, 300.0), (300.0, 400.0), INPUT)])
    assert np.isnan(xy[0, 5]).all() and conf[0, 5] == 0
    assert np.abs(xy[0, :5] - kp[:5]).max() < 4.0 and (conf[0, :5] > 0.5).all()


def test_search_finds_a_small_athlete_in_a_big_frame():
    kp = squatter(1500, 700, 120)  # lower body 120 px tall in a 1920x1080 frame
    frame = draw((1920, 1080), kp, 7)
    pred = HeatmapPredictor(ColourJoints(), INPUT, "colours")
    _, _, whole_conf = pred.infer([frame], [whole_frame_crop((1920, 1080), INPUT)])
    crop, xy, conf = pred.search(frame)
    assert conf.mean() > whole_conf.mean() + 0.2  # a finer window beats the whole frame
    assert crop.size[1] < 1080
    assert np.abs(xy - kp).max() < 15
    tracked = crop_from_joints(xy, conf, (1920, 1080), INPUT)
    xy2, conf2, _ = pred.infer([frame], [tracked])
    assert conf2.mean() > 0.8 and np.abs(xy2[0] - kp).max() < 5


# -- saved weights ----------------------------------------------------------------------------

def test_load_predictor_reads_weights_and_their_sidecar(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = build_model("dilated")
    path = weightslib.save(model, tmp_path / "dilated.safetensors",
                           {"model": "dilated", "input_size": [64, 96], "sigma": 1.5})
    pred = load_predictor("dilated", str(path), device="cpu", smooth=False)
    assert pred.name == "dilated" and pred.input_size == (64, 96) and pred.codec.sigma == 1.5
    frame = np.zeros((100, 80, 3), np.uint8)
    xy, conf, hm = pred.infer([frame], [whole_frame_crop((80, 100), pred.input_size)])
    assert hm.shape == (1, 6, 24, 16) and xy.shape == (1, 6, 2)
    with torch.inference_mode():  # same outputs as the model saved (BatchNorm folded)
        ref = model.eval()(torch.zeros(1, 3, 96, 64))
        got = pred.model(torch.zeros(1, 3, 96, 64))
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    assert not pred.flip_test  # a sidecar without "flip_test"
    flipped = weightslib.save(model, tmp_path / "flipped.safetensors",
                              {"model": "dilated", "input_size": [64, 96], "sigma": 1.5, "flip_test": True})
    on = load_predictor("dilated", str(flipped), device="cpu", smooth=False)
    assert on.flip_test and not load_predictor("dilated", str(flipped), device="cpu", flip_test=False).flip_test
    _, _, hm_on = on.infer([frame], [whole_frame_crop((80, 100), pred.input_size)])
    assert not np.allclose(hm_on, hm)
    with pytest.raises(weightslib.WeightsError, match="resnet18"):
        load_predictor("resnet18", str(path), device="cpu")
    monkeypatch.setattr(weightslib, "WEIGHTS_DIR", tmp_path / "none")
    with pytest.raises(weightslib.WeightsError, match="no trained weights|none shipped"):
        load_predictor("attention", device="cpu")


# -- whole clips ------------------------------------------------------------------------------

def write_clip(path, size=(1280, 720), fps=30, n=90, cut=45) -> np.ndarray:
    """A squatting colour-dot lower body (three 2 s squat cycles), cut at frame ``cut`` to
    another place and size, as camera cuts do. Returns the true joints (n, 6, 2)."""
    truth = []
    with VideoWriter(path, fps, size) as writer:
        for i in range(n):
            down = 60 * np.sin(np.pi * i / 30) ** 2
            kp = squatter(300, 380 + down, 150) if i < cut else squatter(1000, 300 + down, 110)
            truth.append(kp)
            writer.write(draw(size, kp, 7))
    return np.array(truth)


def test_predict_video_tracks_the_athlete_and_reacquires_after_a_cut(tmp_path):
    truth = write_clip(tmp_path / "squat.mp4")
    pred = HeatmapPredictor(ColourJoints(), INPUT, "colours", smooth=False, finder="search")
    seen = []
    series = pred.predict_video(str(tmp_path / "squat.mp4"), progress=lambda f, m: seen.append(f))
    assert len(series) == 90 and series.fps == pytest.approx(30, rel=1e-3)
    assert series.meta["searches"] == 2  # the first frame, and once after the cut
    err = np.abs(series.keypoints - truth[series.frame_indices]).max(axis=(1, 2))
    after_cut = (series.frame_indices >= 45) & (series.frame_indices < 45 + pred.batch_size)
    assert np.median(err) < 2.0
    assert (err[~after_cut] < 12).all(), err  # every frame but the few right after the cut
    assert series.confidence[~after_cut].mean() > 0.5
    assert len({series.crops[i] for i in range(40)}) > 1  # the crop follows the squat
    assert seen and seen == sorted(seen) and seen[-1] == 1.0
    # the stored heatmaps and crops give back the keypoints (the display can trust them)
    xy, _ = pred.codec.decode(series.heatmaps.astype(np.float32))
    back = np.stack([c.to_image(p) for c, p in zip(series.crops, xy)])
    peak = series.confidence > 0.1  # (flat, all but empty heatmaps lose their arg-max in fp16)
    assert peak.mean() > 0.8
    assert np.abs(back[peak] - series.keypoints[peak]).max() < 1.0


def test_random_model_on_a_real_clip_gives_a_well_formed_series(clips_dir):
    clip = clips_dir / "side-wall.mp4"
    torch.manual_seed(0)
    pred = HeatmapPredictor(build_model("dilated"), INPUT, "dilated", smooth=True)
    series = pred.predict_video(str(clip), stride=3, max_seconds=2.0)
    w, h = series.frame_size
    assert (w, h) == (960, 544)
    n = len(series)
    assert 19 <= n <= 21  # 2 s at 30 fps, every third frame
    assert (np.diff(series.frame_indices) == 3).all() and series.fps == pytest.approx(10, rel=0.01)
    assert series.keypoints.shape == (n, 6, 2) and series.confidence.shape == (n, 6)
    found = np.isfinite(series.keypoints).all(axis=2)
    xy = series.keypoints[found]
    assert ((xy >= -0.5) & (xy <= [w - 0.5, h - 0.5])).all()
    assert ((series.confidence >= 0) & (series.confidence <= 1)).all()
    assert (series.confidence[~found] == 0).all()
    assert series.meta["smoothing"]["filter"] == "one_euro"  # smooth=True applies engine.video.smoothing
    assert series.heatmaps.shape == (n, 6, 32, 24) and series.heatmaps.dtype == np.float16
    assert len(series.crops) == n
    for t in range(0, n, 5):  # heatmap peaks -> crop -> frame: the crop maps them back
        crop = series.crops[t]
        back = crop.to_input(crop.to_image(np.array([[0.0, 0.0], [95.0, 127.0]])))
        np.testing.assert_allclose(back, [[0, 0], [95, 127]], atol=1e-6)
    raw = pred.predict_video(str(clip), stride=3, max_seconds=2.0, keep_heatmaps=False)
    assert raw.heatmaps is None and len(raw) == n


def test_a_short_dip_in_confidence_keeps_the_crop_a_long_one_searches_again(tmp_path):
    """Faded joints (an unsure model at the bottom of a squat) for under ``hold_s``: the
    tracker keeps its crop and does not search; faded for longer, it searches again."""
    def clip(path, faded: range) -> None:
        with VideoWriter(path, 30, (1280, 720)) as writer:
            for i in range(60):
                frame = draw((1280, 720), squatter(400, 300, 200), 9)
                if i in faded:  # the dots' colours washed out toward the grey background
                    frame = (0.6 * frame.astype(np.float32) + 0.4 * 128).astype(np.uint8)
                writer.write(frame)

    pred = HeatmapPredictor(ColourJoints(), INPUT, "colours", smooth=False, finder="search")
    clip(tmp_path / "short.mp4", range(24, 33))
    series = pred.predict_video(str(tmp_path / "short.mp4"))
    dip = (series.frame_indices >= 24) & (series.frame_indices < 33)
    low = series.confidence[dip].mean(axis=1)
    assert (low < pred.tracker.min_confidence).any() and (low >= pred.tracker.hold_confidence).all()
    assert series.meta["searches"] == 1
    clip(tmp_path / "long.mp4", range(12, 48))
    assert pred.predict_video(str(tmp_path / "long.mp4")).meta["searches"] >= 2
