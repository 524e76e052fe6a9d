"""Drawing: skeleton colours from engine.joints, heatmaps pasted back through the crop, labels."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import Crop
from engine.joints import JOINT_INDEX, SIDE_COLORS, SKELETON, edge_color
from engine.pose import PoseSeries
from engine.video.render import (annotate, athlete_region, draw_skeleton, heatmap_colors, heatmap_overlay,
                                 render_panel, view_crop)

W, H = 640, 480
KP = np.array([[340.0, 200.0], [300.0, 200.0], [345.0, 300.0], [295.0, 300.0],
               [350.0, 400.0], [290.0, 400.0]])  # front view: the athlete's left on the image right


def _series(n=1, heatmaps=None, crops=None):
    return PoseSeries(np.repeat(KP[None], n, 0), np.full((n, 6), 0.9), np.arange(n) / 30.0,
                      np.arange(n), (W, H), 30.0, "test", heatmaps=heatmaps, crops=crops)


def test_skeleton_uses_the_joint_colours():
    frame = np.zeros((H, W, 3), np.uint8)
    out = draw_skeleton(frame, KP, np.full(6, 0.9))
    assert not out[0, 0].any() and not frame.any()  # a copy; the input is untouched
    for name in ("left_knee", "right_ankle"):
        x, y = KP[JOINT_INDEX[name]].astype(int)
        side = name.split("_")[0]
        assert tuple(out[y, x]) == SIDE_COLORS[side]
    for a, b in SKELETON:  # the middle of every edge has the edge's colour (pelvis: grey)
        x, y = ((KP[a] + KP[b]) / 2).astype(int)
        assert np.abs(out[y, x].astype(int) - edge_color((a, b))).max() <= 40, (a, b)


def test_missing_and_doubtful_joints():
    kp = KP.copy()
    kp[JOINT_INDEX["left_ankle"]] = np.nan
    conf = np.full(6, 0.9)
    conf[JOINT_INDEX["right_knee"]] = 0.4  # below the analysis' MIN_CONFIDENCE
    out = draw_skeleton(np.zeros((H, W, 3), np.uint8), kp, conf)
    x, y = KP[JOINT_INDEX["left_ankle"]].astype(int)
    assert not out[y - 3:y + 4, x - 3:x + 4].any()  # a missing joint is not drawn anywhere
    x, y = KP[JOINT_INDEX["right_knee"]].astype(int)
    assert tuple(out[y, x]) != SIDE_COLORS["right"]  # a doubtful joint is drawn hollow


def test_heatmap_overlay_lands_where_the_crop_maps_it():
    crop = Crop.from_box((250, 150, 150, 300), (96, 128))
    hm = np.zeros((1, 6, 32, 24), np.float16)
    hm[0, 3, 8, 12] = 1.0  # one joint's peak at heatmap pixel (x 12, y 8)
    frame = np.full((H, W, 3), 90, np.uint8)
    out = heatmap_overlay(frame, _series(1, hm, [crop]), 0)
    diff = np.abs(out.astype(int) - frame).sum(axis=2)
    y, x = np.unravel_index(np.argmax(diff), diff.shape)
    expect = crop.to_image(np.array([(12 + 0.5) * 4 - 0.5, (8 + 0.5) * 4 - 0.5]))
    assert np.hypot(x - expect[0], y - expect[1]) < 6
    assert diff[:, :200].max() == 0  # no heat far from the peak
    # no heatmaps (MediaPipe), or none for this frame: the frame comes back unchanged
    assert np.array_equal(heatmap_overlay(frame, _series(1), 0), frame)
    assert np.array_equal(heatmap_overlay(frame, _series(1, hm, [None]), 0), frame)


def test_annotate_draws_counter_and_angles():
    frame = np.zeros((H, W, 3), np.uint8)
    bare = annotate(frame, _series(), 0)
    full = annotate(frame, _series(), 0, knee_angles=(172.0, 95.0), reps_done=3, title="test")
    changed = np.abs(full.astype(int) - bare).sum(axis=2) > 0
    assert changed[:80, :200].any()  # the rep counter, top left
    kx, ky = KP[JOINT_INDEX["left_knee"]].astype(int)
    assert changed[ky - 25:ky + 10, kx + 5:kx + 80].any()  # the angle beside the knee
    assert np.array_equal(annotate(frame, _series(), 0, knee_angles=(np.nan, None)), bare)
    marked = annotate(frame, _series(), 0, unreliable=True)
    assert (np.abs(marked.astype(int) - bare).sum(axis=2) > 0)[:80, :300].any()  # "joints unreliable"


def _peaks_series():
    """Heatmaps with a peak of 1 at each joint's own place (each joint a different spot)."""
    crop = Crop.from_box((250, 150, 150, 300), (96, 128))
    hm = np.zeros((1, 6, 32, 24), np.float16)
    for j in range(6):
        x, y = np.round((crop.to_input(KP[j]) + 0.5) / 4 - 0.5).astype(int)
        hm[0, j, y, x] = 1.0
    return _series(1, hm, [crop])


def test_panel_heatmap_of_one_joint_or_all_with_a_legend():
    s = _peaks_series()
    frame = np.full((H, W, 3), 90, np.uint8)
    view = view_crop((W, H), None, 640)
    bare = render_panel(frame, s, 0, view, heatmap=None, skeleton=False)
    heat = {}
    for choice in ("all", JOINT_INDEX["left_knee"], JOINT_INDEX["right_ankle"]):
        out = render_panel(frame, s, 0, view, heatmap=choice, skeleton=False)
        diff = np.abs(out.astype(int) - bare).sum(axis=2) > 30
        heat[choice] = diff[:, :560]  # left of the legend
        assert diff[-180:, -60:].any()  # the colour bar, lower right
    near = lambda m, j: m[int(KP[j, 1]) - 4:int(KP[j, 1]) + 5, int(KP[j, 0]) - 4:int(KP[j, 0]) + 5].any()
    lk, ra = JOINT_INDEX["left_knee"], JOINT_INDEX["right_ankle"]
    assert near(heat[lk], lk) and not near(heat[lk], ra)
    assert near(heat[ra], ra) and not near(heat[ra], lk)
    assert all(near(heat["all"], j) for j in range(6))
    # the colour map runs from blue (0) to red (1)
    lo, hi = heatmap_colors(np.array([[0.0, 1.0]]))[0]
    assert lo[2] > lo[0] and hi[0] > hi[2]


def test_zoom_region_holds_every_joint_and_shows_them_larger():
    s = _series(3)
    region = athlete_region([s], (W, H))
    x, y, w, h = region
    assert (KP[:, 0] > x).all() and (KP[:, 0] < x + w).all() and (KP[:, 1] > y).all() and (KP[:, 1] < y + h).all()
    assert 3 / 4 - 1e-6 <= w / h <= 4 / 3 + 1e-6 and w < W and h <= H
    frame = np.zeros((H, W, 3), np.uint8)
    whole = render_panel(frame, s, 0, view_crop((W, H), None, 480), heatmap=None)
    zoom = render_panel(frame, s, 0, view_crop((W, H), region, 480), heatmap=None)

    def extent(img):  # height of the drawn skeleton, as a share of the picture's height
        ys = np.nonzero((img[60:] > 0).any(axis=2))[0]  # below the rep counter and title
        return (ys.max() - ys.min()) / img.shape[0]

    assert extent(zoom) > 1.5 * extent(whole)
    assert athlete_region([], (W, H)) is None


def _blob_series(peaks):
    """Heatmaps with a wide Gaussian (sigma 3 heatmap px) at each joint's place, of height
    ``peaks[j]``: a standing athlete's heat, spilling over the whole leg."""
    crop = Crop.from_box((250, 150, 150, 300), (96, 128))
    hm = np.zeros((1, 6, 32, 24), np.float32)
    yy, xx = np.mgrid[:32, :24]
    for j in range(6):
        x, y = (crop.to_input(KP[j]) + 0.5) / 4 - 0.5
        hm[0, j] = peaks[j] * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0 ** 2))
    return _series(1, hm.astype(np.float16), [crop])


def test_per_joint_heatmaps_show_each_joint_in_its_colour_not_a_blob():
    """Issue 31: 'all joints (max)' paints the whole leg; the per-joint view (the Compare tab's
    default) shows six compact spots, each joint in its own colour, a weak joint as well."""
    from engine.joints import JOINT_COLORS
    s = _blob_series([1.0, 1.0, 0.9, 0.9, 0.25, 0.8])  # the left ankle weak
    frame = np.full((H, W, 3), 90, np.uint8)
    view = view_crop((W, H), None, 640)
    bare = render_panel(frame, s, 0, view, heatmap=None, skeleton=False)
    area = {}
    for choice in ("all", "joints"):
        out = render_panel(frame, s, 0, view, heatmap=choice, skeleton=False)
        painted = np.abs(out.astype(int) - bare).sum(axis=2) > 30
        area[choice] = painted[:, :520].mean()
        if choice == "joints":
            for j in range(6):  # at each joint: its own colour, the weak ankle included
                x, y = KP[j].astype(int)
                px = out[y, x].astype(int)
                assert np.abs(px - JOINT_COLORS[j]).sum() < np.abs(px - 90).sum(), (j, px)
                assert np.argmin([np.abs(px - c).sum() for c in JOINT_COLORS]) == j, (j, px)
            assert painted[-120:, -90:].any()  # the legend of joint colours, lower right
    assert area["joints"] < 0.5 * area["all"], area
    # a model whose confidence scale lifts its peaks past 1: the spots stay as compact (each
    # joint over its raw peak, not over a top flattened by the clip at 1)
    s.meta["confidence_scale"] = 3.0
    out = render_panel(frame, s, 0, view, heatmap="joints", skeleton=False)
    scaled = (np.abs(out.astype(int) - bare).sum(axis=2) > 30)[:, :520].mean()
    assert scaled < 1.2 * area["joints"], (scaled, area)


def test_knee_angle_labels_stay_off_the_joint_dots():
    """A small athlete at the bottom of a side-view squat: the knees overlap and the far knee's
    outer side is where the hips are. No label covers a joint's dot or the other label."""
    from engine.video.render import _hits, _overlap, knee_label_places, label_box
    kp = np.array([[165.0, 205.0], [160.0, 206.0], [200.0, 200.0], [193.0, 201.0],
                   [188.0, 240.0], [183.0, 241.0]])
    shape = (480, 640, 3)
    places = knee_label_places(shape, kp, (70.0, 72.0))
    assert [p[0] for p in places] == [JOINT_INDEX["left_knee"], JOINT_INDEX["right_knee"]]
    boxes = [label_box(shape, text, org, 0.7, anchor) for _, text, org, anchor in places]
    for box in boxes:
        assert not _hits(box, kp, 6 + 2), (box, places)
    assert not _overlap(*boxes)
    # and drawn: the dots keep their colour under the labels
    out = annotate(np.zeros((H, W, 3), np.uint8), PoseSeries(kp[None], np.full((1, 6), 0.9), np.zeros(1),
                   np.zeros(1, int), (W, H), 30.0), 0, knee_angles=(70.0, 72.0))
    for name in ("right_hip", "right_ankle"):  # drawn last of the two overlapping dots
        x, y = kp[JOINT_INDEX[name]].astype(int)
        assert tuple(out[y, x]) == SIDE_COLORS[name.split("_")[0]], name
