"""The depth signal and the repetitions found in it.

Depth signal (per frame, 0 = standing, ~0.5 = thighs parallel, NaN = no reliable leg):
* front view: hip drop, 1 - (ankle y - hip y) / standing (ankle y - hip y). Hip height above
  the ankle, not above the floor, so a jump (legs straight in the air) reads as standing and
  a moving camera does not matter.
* side view: knee flexion, (standing knee angle - knee angle) / 180 deg, on about the same
  scale; where no knee angle is reliable the hip drop is used.
"Standing" is measured per view segment (a cut can change the zoom), as a high percentile
(``STANDING_PERCENTILE``) of the segment's values, per leg; the two legs are averaged.
A segment in which nobody stands upright gives NaN depth (it cannot be judged); so does a
'no person' segment (nobody in the frames), whose source is 'no person'. Shares of frames
(``MIN_ANKLE_SHARE``) count only the frames somebody is in (``angles.present``).

Repetitions: hysteresis on the depth signal. A rep starts at the last standing frame
(depth <= STAND_DEPTH) before the depth passes DOWN_DEPTH, has its bottom at the deepest
frame, and ends when the depth is back at or below STAND_DEPTH. Deliberate cases:
* pause at the bottom: the hysteresis band keeps it one rep, however long;
* partial rep (passes PARTIAL_DEPTH, never DOWN_DEPTH): listed in ``partials``, not counted;
* clip starting mid-rep (first reliable depth >= DOWN_DEPTH): that rep's descent was not
  seen; it is listed as a partial ('start') and not counted; so is a rep the athlete is found
  again in after a gap longer than MAX_GAP_S ('resumed');
* clip ending mid-rep: not counted unless the ascent is two thirds done (END_RETURN_SHARE);
* jump squats: in the air the legs are straight, so the flight reads as standing and each
  squat between jumps is one rep; a soft landing stays above DOWN_DEPTH;
* no squat (curls, walking, standing): the depth never reaches DOWN_DEPTH, so 0 reps;
* lost tracking for longer than MAX_GAP_S ends a rep in progress without counting it; once
  the descent has passed DOWN_DEPTH the limit is MAX_BOTTOM_GAP_S instead (the bottom is
  where the joints are hardest to see), so a rep whose bottom was not seen but whose descent
  and return to standing were still counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import thresholds as th
from .angles import LEGS, segment_lengths
from .view import NO_PERSON, SIDE, ViewSegment


@dataclass
class Rep:
    start: int  # frame indices into the series
    bottom: int
    end: int
    bottom_depth: float


@dataclass
class Partial:
    kind: str  # 'shallow', 'start' (clip starts mid-rep), 'resumed' (the athlete found again
    #            mid-rep after a gap longer than MAX_GAP_S), 'end' (clip ends mid-rep), 'lost',
    #            'not upright' (a knee bend while lying, sitting or kneeling), 'knee too
    #            closed' (thresholds.MIN_SIDE_KNEE_ANGLE_DEG: not legs)
    start: int
    end: int
    max_depth: float
    posture: str = ""  # for 'not upright': the posture seen instead (posture.py)
    knee_angle: float | None = None  # for 'knee too closed': the smallest knee angle, degrees


@dataclass
class RepResult:
    reps: list[Rep] = field(default_factory=list)
    partials: list[Partial] = field(default_factory=list)


@dataclass
class DepthSignal:
    depth: np.ndarray  # (T,)
    upright: list[bool]  # per view segment: did anybody stand upright in it?
    source: list[str]  # per view segment: 'knee flexion', 'hip drop', 'thigh inclination', 'thigh drop',
    #                   'no person'


def _pct(x: np.ndarray, q: float) -> float:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, q)) if len(x) else np.nan


def depth_signal(kp: np.ndarray, knee: np.ndarray, segments: list[ViewSegment],
                 posture: np.ndarray | None = None) -> DepthSignal:
    """Depth per frame from reliable keypoints ``kp`` (T, 6, 2), knee angles (T, 2), the view
    segments and the posture per frame (``posture.postures``; a segment without an upright
    frame never stands). See the module docstring."""
    from .angles import hip_angles, present
    from .posture import UPRIGHT
    n = len(kp)
    depth = np.full(n, np.nan)
    upright, source = [], []
    height = np.stack([kp[:, a, 1] - kp[:, h, 1] for h, _, a in LEGS], axis=1)  # (T, 2) px
    thigh_h = np.stack([kp[:, k, 1] - kp[:, h, 1] for h, k, _ in LEGS], axis=1)  # (T, 2) px
    thigh, shin = segment_lengths(kp)
    whole = np.isfinite(thigh + shin).any(axis=1)
    incline = hip_angles(kp)
    someone = present(kp)
    for seg in segments:
        sl = slice(seg.start, seg.end)
        if seg.view == NO_PERSON or not someone[sl].any():
            upright.append(False)
            source.append(NO_PERSON)
            continue
        any_up = posture is None or bool(np.any(posture[sl] == UPRIGHT))
        if whole[sl][someone[sl]].mean() < th.MIN_ANKLE_SHARE:
            # ankles out of the frame: the thighs alone (see thresholds.MIN_ANKLE_SHARE)
            if seg.view == SIDE:
                with np.errstate(all="ignore"):
                    d = np.nanmean(incline[sl], axis=1) / th.KNEE_FLEXION_SCALE_DEG
                src = "thigh inclination"
            else:
                t = thigh_h[sl]
                ref = np.array([_pct(t[:, s], th.STANDING_PERCENTILE) for s in range(2)])
                with np.errstate(all="ignore"):
                    ref[~(ref > 0)] = np.nan
                    d = th.THIGH_DROP_SCALE * np.nanmean(1.0 - t / ref, axis=1)
                src = "thigh drop"
            depth[sl] = d if any_up else np.nan
            upright.append(any_up)
            source.append(src)
            continue
        h = height[sl]
        ref_h = np.array([_pct(h[:, s], th.STANDING_PERCENTILE) for s in range(2)])
        leg = _pct(np.nanmax(thigh[sl] + shin[sl], axis=1) if seg.end > seg.start else np.zeros(0), 90)
        with np.errstate(all="ignore"):
            ref_h[~(ref_h > 0)] = np.nan
            hip_drop = np.nanmean(1.0 - h / ref_h, axis=1)
        stands_h = bool(np.nanmax(ref_h) >= th.UPRIGHT_RATIO * leg) if np.isfinite(leg) and np.isfinite(ref_h).any() else False
        d = hip_drop
        src = "hip drop"
        stands = stands_h
        if seg.view == SIDE:
            k = knee[sl]
            ref_k = np.array([_pct(k[:, s], th.STANDING_PERCENTILE) for s in range(2)])
            if np.isfinite(ref_k).any():
                with np.errstate(all="ignore"):
                    flex = np.nanmean((ref_k - k) / th.KNEE_FLEXION_SCALE_DEG, axis=1)
                d = np.where(np.isfinite(flex), flex, hip_drop)
                src = "knee flexion"
                stands = bool(np.nanmax(ref_k) >= th.UPRIGHT_KNEE_DEG)
        stands = stands and any_up
        depth[sl] = d if stands else np.nan
        upright.append(stands)
        source.append(src)
    return DepthSignal(depth, upright, source)


def find_reps(depth: np.ndarray, times: np.ndarray) -> RepResult:
    """Repetitions in a depth signal (T,) sampled at ``times`` (s); see the module docstring."""
    out = RepResult()
    state = "start"
    last_stand = start_i = bottom_i = -1
    peak_i, peak = -1, 0.0  # deepest point since the last standing frame (partial reps)
    last_i = -1

    def close_partial(i_end: int) -> None:
        nonlocal peak, peak_i
        if peak >= th.PARTIAL_DEPTH and peak < th.DOWN_DEPTH:
            out.partials.append(Partial("shallow", max(last_stand, 0), i_end, peak))
        peak, peak_i = 0.0, -1

    for i in np.flatnonzero(np.isfinite(depth)):
        d = float(depth[i])
        gap_limit = th.MAX_BOTTOM_GAP_S if state == "down" else th.MAX_GAP_S
        if last_i >= 0 and times[i] - times[last_i] > gap_limit:
            if state == "down":
                out.partials.append(Partial("lost", start_i, last_i, float(depth[bottom_i])))
            state = "start"
        resumed = last_i >= 0  # in state 'start' here: the athlete found again after a gap
        last_i = i
        if state == "start":
            if d >= th.DOWN_DEPTH:
                state, start_i, bottom_i = "midrep", i, i
                midrep_kind = "resumed" if resumed else "start"
            else:
                state, last_stand, peak, peak_i = "up", i, 0.0, -1
        if state == "midrep":
            if d > depth[bottom_i]:
                bottom_i = i
            if d <= th.STAND_DEPTH:
                out.partials.append(Partial(midrep_kind, start_i, i, float(depth[bottom_i])))
                state, last_stand = "up", i
        elif state == "up":
            if d <= th.STAND_DEPTH:
                close_partial(i)
                last_stand = i
            elif d > peak:
                peak, peak_i = d, i
            if d >= th.DOWN_DEPTH:
                state, start_i, bottom_i = "down", last_stand, i
                peak, peak_i = 0.0, -1
        elif state == "down":
            if d > depth[bottom_i]:
                bottom_i = i
            if d <= th.STAND_DEPTH:
                if times[i] - times[start_i] >= th.MIN_REP_S:
                    out.reps.append(Rep(int(start_i), int(bottom_i), int(i), float(depth[bottom_i])))
                state, last_stand = "up", i
    if state == "down" and last_i >= 0:
        b = float(depth[bottom_i])
        if last_i > bottom_i and depth[last_i] <= th.END_RETURN_SHARE * b \
                and times[last_i] - times[start_i] >= th.MIN_REP_S:
            out.reps.append(Rep(int(start_i), int(bottom_i), int(last_i), b))
        else:
            out.partials.append(Partial("end", start_i, last_i, b))
    elif state == "up":
        close_partial(last_i)
    _refine_ends(out.reps, depth)
    return out


def _rest_level(d: np.ndarray) -> float:
    """REST_BAND above the median of the standing (<= STAND_DEPTH) values of ``d``."""
    standing = d[np.isfinite(d) & (d <= th.STAND_DEPTH)]
    return float(np.median(standing) if len(standing) else np.nanmin(d)) + th.REST_BAND


def _refine_ends(reps: list[Rep], depth: np.ndarray) -> None:
    """Move each rep's start back to where the descent began and its end on to where the
    ascent finished: the last (first) frame within REST_BAND of the standing level around it (the median
    of the standing frames between it and the neighbouring rep, so noise and outliers cannot
    set it),
    rather than the STAND_DEPTH crossings the counting uses."""
    n = len(depth)
    for k, rep in enumerate(reps):
        lo = reps[k - 1].end if k else 0
        hi = reps[k + 1].start if k + 1 < len(reps) else n - 1
        before = depth[lo: rep.start + 1]
        if np.isfinite(before).any():
            level = _rest_level(before)
            ok = np.flatnonzero(before <= level)
            rep.start = lo + int(ok[-1])
        after = depth[rep.end: hi + 1]
        if np.isfinite(after).any():
            level = _rest_level(after)
            ok = np.flatnonzero(after <= level)
            rep.end = rep.end + int(ok[0])
