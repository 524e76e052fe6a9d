"""Squat analysis on synthetic joint series: angle maths, view, reps, feedback, smoothing."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.analysis import analyze_series
from engine.analysis.angles import angle_at, hip_angles, inclination_from_vertical, knee_angles
from engine.analysis.feedback import rep_sentences, set_sentences
from engine.analysis.reps import find_reps
from engine.analysis import thresholds as th
from engine.pose import PoseSeries
from engine.video.smoothing import smooth_series

FPS = 30.0
THIGH, SHIN = 200.0, 200.0


def squat_profile(times, reps, start=0.5, down=1.0, hold=0.0, up=1.0, rest=0.8, bottom=70.0):
    """Knee angle (deg) over time: standing at 178, ``reps`` smooth reps to ``bottom``."""
    k = np.full(len(times), 178.0)
    t0 = start
    for _ in range(reps):
        for i, t in enumerate(times):
            if t0 <= t < t0 + down:
                f = (1 - math.cos(math.pi * (t - t0) / down)) / 2
            elif t0 + down <= t < t0 + down + hold:
                f = 1.0
            elif t0 + down + hold <= t < t0 + down + hold + up:
                f = (1 + math.cos(math.pi * (t - t0 - down - hold) / up)) / 2
            else:
                continue
            k[i] = 178.0 - f * (178.0 - bottom)
        t0 += down + hold + up + rest
    return k


def pose_from_knee(knee_deg, view="side", inward=None, lift=None, right_knee=None, outward=0.0):
    """Joints (T, 6, 2) in a 1280x720 frame for knee angles per frame. The shin leans
    forward 35% of the bend (at most 35 deg), the thigh the rest; ``inward`` (T,) moves the
    knees towards the midline (front view, px); ``outward`` moves each knee out by that many
    px per radian of its bend (knees tracking over turned-out toes); ``lift`` (T,) raises the
    whole body (a jump, px)."""
    n = len(knee_deg)
    kp = np.zeros((n, 6, 2))
    ankle_y = 650.0
    lift = np.zeros(n) if lift is None else lift
    inward = np.zeros(n) if inward is None else inward
    for side in (0, 1):
        kd = knee_deg if (side == 0 or right_knee is None) else right_knee
        bend = np.radians(180.0 - kd)
        a = np.minimum(0.35 * bend, np.radians(35.0))
        b = bend - a
        knee_fwd, knee_up = SHIN * np.sin(a), SHIN * np.cos(a)
        hip_fwd, hip_up = knee_fwd - THIGH * np.sin(b), knee_up + THIGH * np.cos(b)
        if view == "side":
            x0 = 600.0 + 4 * side
            kp[:, 4 + side] = np.stack([np.full(n, x0), np.full(n, ankle_y)], 1)
            kp[:, 2 + side] = np.stack([x0 + knee_fwd, ankle_y - knee_up], 1)
            kp[:, side] = np.stack([x0 + hip_fwd, ankle_y - hip_up], 1)
        else:
            sign = 1.0 if side == 0 else -1.0  # athlete's left on the image right
            hip_x, ankle_x = 640 + sign * 50, 640 + sign * 90
            frac = knee_up / np.maximum(hip_up, 1e-6)
            knee_x = ankle_x + (hip_x - ankle_x) * frac - sign * inward + sign * outward * bend
            kp[:, 4 + side] = np.stack([np.full(n, ankle_x), np.full(n, ankle_y)], 1)
            kp[:, 2 + side] = np.stack([knee_x, ankle_y - knee_up], 1)
            kp[:, side] = np.stack([np.full(n, hip_x), ankle_y - hip_up], 1)
    kp[..., 1] -= lift[:, None]
    return kp


def series_of(kp, times, conf=None):
    conf = np.full(kp.shape[:2], 0.9) if conf is None else conf
    return PoseSeries(kp, conf, times, np.arange(len(times)), (1280, 720), FPS, "synthetic")


def times_for(seconds):
    return np.arange(int(seconds * FPS)) / FPS


def clip(reps=3, view="side", seconds=None, noise=0.0, seed=0, **kw):
    seconds = seconds or 1.0 + reps * 3.0
    t = times_for(seconds)
    knee = squat_profile(t, reps, **kw)
    kp = pose_from_knee(knee, view)
    if noise:
        kp = kp + np.random.default_rng(seed).normal(0, noise, kp.shape)
    return series_of(kp, t)


# -- angles ------------------------------------------------------------------------------------
def test_angle_maths():
    a, b, c = np.array([0.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])
    assert angle_at(a, b, c) == pytest.approx(90.0)
    assert angle_at(np.array([0.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 2.0])) == pytest.approx(180.0)
    assert np.isnan(angle_at(a, a, c))
    assert inclination_from_vertical(np.array([0.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(0.0)
    assert inclination_from_vertical(np.array([0.0, 0.0]), np.array([5.0, 0.0])) == pytest.approx(90.0)


def test_knee_and_hip_angles_from_joints_and_nan_when_unreliable():
    knee = np.array([178.0, 120.0, 90.0])
    kp = pose_from_knee(knee, "side")
    ka = knee_angles(kp)
    assert ka[:, 0] == pytest.approx(knee, abs=0.01)
    ha = hip_angles(kp)
    assert ha[0, 0] < 5 and ha[2, 0] == pytest.approx(0.65 * 90, abs=0.5)  # thigh lean = 65% of the bend
    conf = np.full((3, 6), 0.9)
    conf[1, 2] = 0.1  # left knee unreliable in frame 1
    report = analyze_series(series_of(kp, np.arange(3) / FPS, conf))
    assert np.isnan(report.knee_angle[1, 0]) and np.isfinite(report.knee_angle[1, 1])


# -- view --------------------------------------------------------------------------------------
def test_view_side_front_and_a_cut():
    assert analyze_series(clip(2, "side")).view == "side"
    assert analyze_series(clip(2, "front")).view == "front"
    a, b = clip(2, "side"), clip(2, "front")
    t = np.arange(len(a) + len(b)) / FPS
    both = series_of(np.concatenate([a.keypoints, b.keypoints]), t)
    report = analyze_series(both)
    assert report.view == "side, then front"
    assert [s["view"] for s in report.view_segments] == ["side", "front"]
    assert report.view_segments[1]["start_s"] == pytest.approx(len(a) / FPS, abs=0.6)
    assert report.reps == 4


# -- repetitions -------------------------------------------------------------------------------
@pytest.mark.parametrize("view", ["side", "front"])
def test_reps_counted_with_noise(view):
    report = analyze_series(clip(3, view, noise=4.0))
    assert report.reps == 3
    d = report.rep_details[0]
    assert d["start_s"] < d["bottom_s"] < d["end_s"]
    # the hip drop barely moves in the first tenth of a bend, so the front view times from a
    # little later; descent and ascent stay alike for this symmetric rep
    assert 0.55 <= d["descent_s"] <= 1.2 and 0.55 <= d["ascent_s"] <= 1.2
    assert d["descent_s"] == pytest.approx(d["ascent_s"], abs=0.2)


def test_pause_at_the_bottom_is_one_rep():
    report = analyze_series(clip(2, "side", hold=3.0, noise=3.0, seconds=14))
    assert report.reps == 2


def test_partial_rep_is_reported_not_counted():
    t = times_for(10)
    knee = np.minimum(squat_profile(t, 2, start=0.5), squat_profile(t, 1, start=7.0, bottom=140))
    report = analyze_series(series_of(pose_from_knee(knee), t))
    assert report.reps == 2
    assert [p["kind"] for p in report.partials] == ["shallow"]
    assert any("partial squat" in s for s in report.feedback)


def test_clip_starting_mid_rep_does_not_count_that_rep():
    full = clip(3, "side", seconds=10)
    start = int(1.5 * FPS)  # the first rep's bottom
    t = full.times[start:] - full.times[start]
    report = analyze_series(series_of(full.keypoints[start:], t))
    assert report.reps == 2
    assert any("starts mid-rep" in s for s in report.feedback)


def test_clip_ending_at_the_bottom_does_not_count_that_rep():
    full = clip(3, "front", seconds=10)
    end = int((0.5 + 2 * 2.8 + 1.0) * FPS)  # the third rep's bottom
    report = analyze_series(series_of(full.keypoints[:end], full.times[:end]))
    assert report.reps == 2
    assert any("ends mid-rep" in s for s in report.feedback)


def test_no_squat_at_all_gives_zero():
    t = times_for(8)
    knee = 176 + 2 * np.sin(t * 3)  # standing, swaying a little (curls, talking)
    report = analyze_series(series_of(pose_from_knee(knee, "side") +
                                      np.random.default_rng(1).normal(0, 3, (len(t), 6, 2)), t))
    assert report.reps == 0 and report.judged
    assert any("No squat" in s for s in report.feedback)


def test_jump_squats_count_each_squat_once():
    t = times_for(8)
    knee = squat_profile(t, 2, start=0.5, down=0.6, up=0.5, rest=1.6, bottom=90)
    lift = np.where((t > 1.7) & (t < 2.2), 120 * np.sin(np.pi * (t - 1.7) / 0.5), 0.0)
    report = analyze_series(series_of(pose_from_knee(knee, "front", lift=lift), t))
    assert report.reps == 2


def test_find_reps_hysteresis_ignores_jitter_around_a_threshold():
    t = times_for(6)
    d = np.full(len(t), 0.02)
    d[30:60] = th.DOWN_DEPTH + 0.02 * np.sin(np.arange(30))  # jitter across DOWN_DEPTH at the bottom
    d[60:70] = th.STAND_DEPTH + 0.03  # a pause just above standing
    result = find_reps(d, t)
    assert len(result.reps) == 1



def _squat_depth(t: np.ndarray, start: float, end: float, bottom: float = 0.5) -> np.ndarray:
    """0 standing, a half-sine dip to ``bottom`` between ``start`` and ``end`` seconds."""
    inside = (t >= start) & (t <= end)
    return np.where(inside, bottom * np.sin(np.pi * (t - start) / (end - start)), 0.0)


@pytest.mark.parametrize("gap_s, counted", [(0.4, 1), (1.4, 1), (th.MAX_BOTTOM_GAP_S + 0.4, 0)])
def test_a_rep_whose_bottom_was_not_seen_counts_unless_the_gap_is_long(gap_s, counted):
    """The joints lost around the bottom (depth past DOWN_DEPTH on the way down, standing when
    next seen): one rep up to MAX_BOTTOM_GAP_S without joints, 'lost' beyond it."""
    t = times_for(8)
    mid = 3.0
    d = _squat_depth(t, 1.0, 1.0 + 2 * (mid - 1.0) + gap_s)  # slow enough to see both halves
    d[(t > mid) & (t < mid + gap_s)] = np.nan
    result = find_reps(d, t)
    assert len(result.reps) == counted
    # beyond the limit the rep is lost, and the ascent after the gap is a rep begun unseen
    assert [p.kind for p in result.partials] == ([] if counted else ["lost", "resumed"])


def test_a_long_gap_while_standing_still_ends_the_track():
    """Outside a rep the short limit holds: after 1 s without joints the athlete, seen deep
    at once, is a rep begun unseen (a partial, 'resumed'), not the bottom of a rep; said as
    such, not as a clip starting mid-rep."""
    t = times_for(8)
    d = _squat_depth(t, 3.0, 5.0)
    d[(t > 2.0) & (t < 3.0 + 1.0)] = np.nan  # lost while standing, found deep in the rep
    result = find_reps(d, t)
    assert len(result.reps) == 0 and [p.kind for p in result.partials] == ["resumed"]
    words = set_sentences([], result.partials, t)
    assert any("found again mid-rep at 4.0 s" in w for w in words)
    assert not any("clip starts mid-rep" in w for w in words)
    d[t < 4.0] = np.nan  # the same joints with nothing before: the clip itself starts mid-rep
    assert [p.kind for p in find_reps(d, t).partials] == ["start"]

# -- feedback ----------------------------------------------------------------------------------
def test_above_parallel_triggers_and_deep_does_not():
    shallow = analyze_series(clip(2, "side", bottom=115))
    assert shallow.reps == 2 and "Rep 1: hips stayed above parallel." in shallow.feedback
    deep = analyze_series(clip(2, "side", bottom=50))
    assert deep.reps == 2 and not any("above parallel" in s for s in deep.feedback)
    assert all(d["below_parallel"] for d in deep.rep_details)


def test_knee_valgus_on_the_way_up_triggers_and_tracking_knees_do_not():
    t = times_for(7)
    knee = squat_profile(t, 2)
    bend = (178 - knee) / (178 - 70)
    rising = np.gradient(knee) > 0
    inward = np.where(rising, 60 * bend, 0.0)  # knees cave in only while rising
    caving = analyze_series(series_of(pose_from_knee(knee, "front", inward=inward), t))
    assert caving.reps == 2
    assert any("drift inward on the way up" in s for s in caving.feedback)
    assert not any("on the way down" in s for s in caving.feedback)
    clean = analyze_series(series_of(pose_from_knee(knee, "front"), t))
    assert clean.reps == 2 and not any("inward" in s for s in clean.feedback)


def test_left_right_asymmetry_triggers_and_even_knees_do_not():
    t = times_for(7)
    knee = squat_profile(t, 2, bottom=70)
    right = squat_profile(t, 2, bottom=95)
    uneven = analyze_series(series_of(pose_from_knee(knee, "front", right_knee=right, outward=80), t))
    assert any("knees differ by" in s for s in uneven.feedback)
    even = analyze_series(series_of(pose_from_knee(knee, "front", outward=80), t))
    assert not any("differ by" in s for s in even.feedback)


def test_fast_descent_rule():
    base = {"reliable_share": 1.0, "below_parallel": True, "descent_s": 0.3, "ascent_s": 1.0,
            "knee_asymmetry": None, "valgus_descent": None, "valgus_ascent": None}
    assert any("fast descent" in s for s in rep_sentences(1, base))
    assert not any("fast descent" in s for s in rep_sentences(1, {**base, "descent_s": 1.2}))


def test_clip_that_cannot_be_judged_says_so():
    s = clip(2, "side")
    hidden = series_of(s.keypoints, s.times, np.zeros((len(s), 6)))
    report = analyze_series(hidden)
    assert report.reps == 0 and not report.judged
    assert "not visible" in report.feedback[0]
    assert len(report.unreliable_frames) == len(s)
    t = times_for(6)
    sitting = analyze_series(series_of(pose_from_knee(np.full(len(t), 95.0)), t))
    assert sitting.reps == 0 and not sitting.judged and "upright" in sitting.feedback[0]


def test_unreliable_frames_are_marked_not_guessed():
    s = clip(2, "side")
    conf = np.full((len(s), 6), 0.9)
    conf[40:50] = 0.1
    report = analyze_series(series_of(s.keypoints, s.times, conf))
    assert report.unreliable_frames == list(range(40, 50))
    assert np.isnan(report.depth[40:50]).all() and np.isnan(report.knee_angle[40:50]).all()
    assert report.reps == 2
    js = report.to_json()
    assert set(js) >= {"reps", "view", "view_segments", "rep_details", "feedback", "unreliable_frames"}


# -- smoothing ---------------------------------------------------------------------------------
def test_smoothing_reduces_jitter_and_keeps_gaps():
    s = clip(1, "side", seconds=4)
    noisy_kp = s.keypoints + np.random.default_rng(2).normal(0, 5, s.keypoints.shape)
    noisy_kp[30:40, 2] = np.nan
    noisy = series_of(noisy_kp, s.times)
    smooth = smooth_series(noisy)
    assert smooth is not noisy and np.isnan(noisy.keypoints[30:40, 2]).all()
    def jitter(kp):
        return np.nanstd(np.diff(kp, axis=0))
    assert jitter(smooth.keypoints) < 0.5 * jitter(noisy.keypoints)
    assert np.nanmean(np.abs(smooth.keypoints - s.keypoints)) < np.nanmean(np.abs(noisy.keypoints - s.keypoints))
    assert np.isnan(smooth.keypoints[30:40, 2]).all()
    assert np.isfinite(smooth.keypoints[40:, 2]).all()
    assert smooth.keypoints[40, 2] == pytest.approx(noisy.keypoints[40, 2])  # filter reset after the gap
    assert np.array_equal(smooth.confidence, noisy.confidence)


def test_smoothing_weighs_samples_by_confidence():
    t = times_for(3)
    steady = np.full(len(t), 300.0)
    spike = steady.copy()
    spike[45] = 400.0  # one wild detection
    from engine.video.smoothing import one_euro
    trusted = one_euro(spike / 720, t, weights=np.ones(len(t))) * 720
    doubtful_w = np.ones(len(t))
    doubtful_w[45] = 0.1 / 0.5  # confidence 0.1 against FULL_TRUST_CONFIDENCE 0.5
    doubtful = one_euro(spike / 720, t, weights=doubtful_w) * 720
    assert trusted[45] - 300 > 10  # a trusted jump is followed (quickly, as One Euro does)
    assert doubtful[45] - 300 < 0.25 * (trusted[45] - 300)  # a doubtful one barely moves it
    ignored_w = doubtful_w.copy()
    ignored_w[45] = 0.0
    assert one_euro(spike / 720, t, weights=ignored_w)[45] * 720 == pytest.approx(300.0)
    # through smooth_series: the joint's confidence is the weight; confidence is kept as it was
    s = clip(1, "side", seconds=3)
    kp = s.keypoints.copy()
    kp[45, 2] += 100.0
    conf = np.full((len(s), 6), 0.9)
    low = conf.copy()
    low[45, 2] = 0.05
    hi_s = smooth_series(series_of(kp, s.times, conf))
    lo_s = smooth_series(series_of(kp, s.times, low))
    moved = lambda x: np.linalg.norm(x.keypoints[45, 2] - s.keypoints[45, 2])
    assert moved(lo_s) < 0.2 * moved(hi_s)
    assert lo_s.confidence[45, 2] == pytest.approx(0.05)
    # a zero-confidence sample right after a gap does not become the filter's starting point
    after_gap = np.r_[np.nan, 900.0, np.full(len(t) - 2, 300.0)]
    w = np.r_[1.0, 0.0, np.ones(len(t) - 2)]
    out = one_euro(after_gap / 720, t, weights=w) * 720
    assert out[1] == pytest.approx(900.0) and out[2] == pytest.approx(300.0)


def test_one_knee_caving_is_named_and_knees_over_the_feet_are_not_valgus():
    t = times_for(7)
    knee = squat_profile(t, 2)
    bend = (178 - knee) / (178 - 70)
    kp = pose_from_knee(knee, "front")
    kp[:, 2, 0] -= 60 * bend  # the left knee (image right) moves towards the midline at depth
    report = analyze_series(series_of(kp, t))
    assert report.reps == 2 and {d["valgus_side"] for d in report.rep_details} == {"left"}
    assert "Rep 1: the left knee drifts inward on the way down." in report.feedback
    assert any(s.startswith("The left knee drifts inward on the way down (2 of 2 reps)") for s in report.feedback)
    # knees pushed out over turned-out toes, hips wide: the knee stays outside its ankle
    wide = analyze_series(series_of(pose_from_knee(knee, "front", outward=60), t))
    assert wide.reps == 2 and not any("inward" in s for s in wide.feedback)
    assert all(d["valgus_side"] is None for d in wide.rep_details)


def test_an_end_card_with_nobody_is_no_person_not_a_view_or_missing_joints():
    """Issue 31: a side-view clip whose athlete turns to walk off (hips apart for the last
    second) and then 3 s of an empty end card. The empty frames count as 'no person': not a
    view of their own, not a missing joint, not unreliable joints; the feedback names only
    what was measured (no 'ankles out of view' when every ankle was seen)."""
    t = times_for(10 + 3)
    knee = squat_profile(t, 3)
    kp = pose_from_knee(knee, "side")
    turn = (t >= 9) & (t < 10)  # turning away: the hips come apart, the legs straight
    kp[turn] = pose_from_knee(np.full(int(turn.sum()), 178.0), "front")
    conf = np.full((len(t), 6), 0.9)
    card = t >= 10
    conf[card] = 0.1  # the model's guesses on a black frame: below the confidence line
    report = analyze_series(series_of(kp, t, conf))
    assert report.reps == 3
    assert report.view == "side", report.view_segments
    assert [s["view"] for s in report.view_segments] == ["side", "no person"]
    assert report.view_segments[-1]["start_s"] == pytest.approx(10.0, abs=0.05)
    assert report.missing_joints == []
    assert report.no_person_frames == [int(i) for i in np.flatnonzero(card)]
    text = " ".join(report.feedback)
    assert "out of view" not in text and "unreliable" not in text, report.feedback
    assert "Nobody was in view from 10.0 s to 13.0 s" in text, report.feedback
    # the same clip with the ankles really gone (below the confidence line) does name them
    conf[~card, 4:] = 0.1
    gone = analyze_series(series_of(kp, t, conf))
    assert any("left ankle and right ankle were out of view" in s for s in gone.feedback), gone.feedback


def test_nobody_in_the_whole_clip_says_so():
    s = clip(2, "side")
    report = analyze_series(series_of(s.keypoints, s.times, np.zeros((len(s), 6))))
    assert not report.judged and report.view == "unknown"
    assert "nobody was found" in report.feedback[0] and "not visible" in report.feedback[0]
