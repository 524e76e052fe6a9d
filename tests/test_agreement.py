"""Where models disagree (engine.analysis.agreement): distances in leg lengths between the
models' reliable joints, checked on made-up series whose answer is known, and on a real clip
against a direct computation from the keypoints.csv files the models wrote."""
from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pytest

from engine.analysis.agreement import (DISAGREE_LEGS, agreement, disagreements, leg_length,
                                       next_disagreement)
from engine.analysis.thresholds import MIN_CONFIDENCE
from engine.joints import JOINTS
from engine.pose import PoseSeries
from tests.conftest import has_module

# a standing person: hips at y 100, knees 200, ankles 300 -> one leg = 200 px
STAND = np.array([[120.0, 100], [80, 100], [120, 200], [80, 200], [120, 300], [80, 300]])


def _series(name, n=10, offsets=None, conf=None, frames=None):
    kp = np.repeat(STAND[None], n, 0).copy()
    if offsets is not None:
        kp = kp + offsets
    c = np.full((n, 6), 0.9) if conf is None else conf
    idx = np.arange(n) if frames is None else np.asarray(frames)
    return PoseSeries(kp, c, idx / 30.0, idx, (320, 400), 30.0, name)


def test_spread_is_the_largest_pairwise_distance_in_leg_lengths():
    off = np.zeros((10, 6, 2))
    off[4, 2] = [50.0, 0.0]  # frame 4: model b's left knee 50 px (a quarter leg) to the right
    off2 = np.zeros((10, 6, 2))
    off2[4, 2] = [-20.0, 0.0]  # and model c's 20 px to the left: a to b 0.25, b to c 0.35
    a = agreement([_series("a"), _series("b", offsets=off), _series("c", offsets=off2)])
    assert a.leg_px == pytest.approx(200.0)
    assert a.spread[4, 2] == pytest.approx(70 / 200)
    assert np.nanmax(np.delete(a.spread, 4, axis=0)) == 0.0
    assert a.frame_spread[4] == pytest.approx(0.35) and a.frame_spread[3] == 0.0
    assert a.reference is None and a.from_reference == {}


def test_unreliable_joints_have_no_distance_and_frames_are_aligned():
    conf = np.full((10, 6), 0.9)
    conf[2, 0] = MIN_CONFIDENCE - 0.01  # b not sure of its left hip in frame 2
    off = np.full((10, 6, 2), 10.0)
    # b processed every frame, a only the even ones: compared on the frames both hold
    a = agreement([_series("a", n=5, frames=[0, 2, 4, 6, 8]), _series("b", offsets=off, conf=conf)])
    assert list(a.frame_indices) == [0, 2, 4, 6, 8]
    assert np.isnan(a.spread[1, 0]) and np.isfinite(a.spread[1, 1])
    assert a.spread[0, 0] == pytest.approx(math.hypot(10, 10) / 200)


def test_distance_from_the_reference_model():
    off = np.zeros((10, 6, 2))
    off[:, 4] = [0.0, 40.0]  # the model's left ankle 40 px below MediaPipe's in every frame
    a = agreement([_series("dilated", offsets=off), _series("mediapipe")], reference="mediapipe")
    assert a.reference == "mediapipe" and set(a.from_reference) == {"dilated"}
    d = a.from_reference["dilated"]
    assert d[:, 4] == pytest.approx(np.full(10, 0.2)) and np.all(d[:, [0, 1, 2, 3, 5]] == 0)
    assert a.summary()["from_reference"]["dilated"] == pytest.approx(0.2 / 6)
    # a single model: nothing to compare, no error
    solo = agreement([_series("dilated")])
    assert np.isnan(solo.spread).all() and np.isnan(solo.frame_spread).all()


def test_disagreement_runs_and_the_next_one():
    fs = np.array([0.0, 0.3, 0.5, 0.2, 0.0, np.nan, 0.4, 0.0, 0.0, 0.12])
    assert disagreements(fs) == [(1, 2, 3), (6, 6, 6), (9, 9, 9)]
    off = np.zeros((10, 6, 2))
    off[:, 0, 0] = fs * 200  # the left hip apart by fs leg lengths
    a = agreement([_series("a"), _series("b", offsets=np.nan_to_num(off))])
    assert np.nanmax(np.abs(a.frame_spread - np.nan_to_num(fs))) < 1e-9
    assert next_disagreement(a, 0) == 2  # the worst frame of the first run after frame 0
    assert next_disagreement(a, 2) == 6
    assert next_disagreement(a, 9) == 2  # wraps round
    assert next_disagreement(agreement([_series("a"), _series("b")]), 0) is None
    assert DISAGREE_LEGS == 0.1


def _read_csv(path):
    """{frame: (6, 2) xy, (6,) conf} from a keypoints.csv, NaN for empty coordinates."""
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            kp, c = rows.setdefault(int(r["frame"]), (np.full((6, 2), np.nan), np.zeros(6)))
            j = JOINTS.index(r["joint"])
            if r["x"] and r["y"]:
                kp[j] = float(r["x"]), float(r["y"])
            c[j] = float(r["confidence"])
    return rows


@pytest.fixture(scope="module")
def clip_runs(tmp_path_factory, clips_dir):
    """Two shipped models on a real clip, every 3rd frame: the dilated CNN and MediaPipe (the
    reference) when installed, else the dilated CNN and ResNet18-FPN."""
    from engine.video.pipeline import run_analysis
    names = ["dilated"] + (["mediapipe"] if has_module("mediapipe") else ["resnet18_fpn"])
    out = tmp_path_factory.mktemp("agree")
    runs = {}
    for name in names:
        _, series, _ = run_analysis(clips_dir / "oblique-single.mp4", out / name, model=name, stride=3,
                                    device="cpu")
        runs[name] = series
    return out, runs


def test_disagreement_on_a_real_clip_matches_a_direct_computation(clip_runs):
    out, runs = clip_runs
    names = list(runs)
    a = agreement(list(runs.values()), reference="mediapipe")
    # directly, from the files the models wrote, one frame and joint at a time
    data = {n: _read_csv(out / n / "keypoints.csv") for n in names}
    frames = sorted(set.intersection(*(set(d) for d in data.values())))
    assert list(a.frame_indices) == frames and len(frames) == 30

    def ok(n, f, j):
        kp, c = data[n][f]
        return c[j] >= MIN_CONFIDENCE and np.isfinite(kp[j]).all()

    legs = []
    for n in names:
        for f in frames:
            kp = data[n][f][0]
            for h, k, an in ((0, 2, 4), (1, 3, 5)):
                if ok(n, f, h) and ok(n, f, k) and ok(n, f, an):
                    legs.append(math.dist(kp[h], kp[k]) + math.dist(kp[k], kp[an]))
    leg = float(np.median(legs))
    assert a.leg_px == pytest.approx(leg, rel=1e-3)
    checked = 0
    for t, f in enumerate(frames):
        for j in range(6):
            d = [math.dist(data[m][f][0][j], data[n][f][0][j]) / leg
                 for m, n in itertools.combinations(names, 2) if ok(m, f, j) and ok(n, f, j)]
            if d:
                assert a.spread[t, j] == pytest.approx(max(d), abs=1e-3), (f, JOINTS[j])
                checked += 1
            else:
                assert np.isnan(a.spread[t, j]), (f, JOINTS[j])
            if "mediapipe" in names:
                for n in names[:-1]:
                    want = (math.dist(data[n][f][0][j], data["mediapipe"][f][0][j]) / leg
                            if ok(n, f, j) and ok("mediapipe", f, j) else None)
                    got = a.from_reference[n][t, j]
                    assert (np.isnan(got) if want is None else got == pytest.approx(want, abs=1e-3))
    assert checked > 100  # most joints of most frames were found by two models or more
    # the models do agree on this clear clip most of the time, and not everywhere
    fs = a.frame_spread
    assert np.nanmedian(fs) < DISAGREE_LEGS and np.nanmax(fs) > 0.02
