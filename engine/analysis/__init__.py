"""Squat analysis of a ``PoseSeries``: angles, view, repetitions, per-rep figures, feedback.

    from . import analyze_series
    report = analyze_series(series)      # a SquatReport
    report.reps, report.view, report.feedback, report.knee_angle[:, 0]   # left knee, degrees
    report.to_json()                     # the dict written to report.json

Modules: ``thresholds`` (every threshold, with its reason), ``angles``, ``view``, ``reps``
(depth signal and hysteresis counting), ``feedback`` (figures and sentences).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from engine.pose import PoseSeries
from . import thresholds
from engine.joints import JOINTS
from .angles import LEGS, drop_stray_joints, hip_angles, knee_angles, present, reliable_keypoints
from .feedback import bottom_knee, rep_figures, rep_sentences, set_sentences
from .posture import WORDS, main_posture, postures, upright_share
from .reps import Partial, Rep, depth_signal, find_reps
from .view import NO_PERSON, SIDE, describe, frame_views, view_cues, view_segments

__all__ = ["SquatReport", "analyze_series", "thresholds"]


@dataclass
class SquatReport:
    """What the analysis found. Per-frame arrays (for charts) share the series' frames."""

    reps: int
    view: str
    view_segments: list[dict]
    rep_details: list[dict]
    feedback: list[str]
    unreliable_frames: list[int]  # frame numbers in the clip (series.frame_indices)
    judged: bool  # False when the clip could not be judged at all
    times: np.ndarray = field(repr=False)  # (T,) s
    knee_angle: np.ndarray = field(repr=False)  # (T, 2) deg, left/right; NaN = unreliable
    hip_angle: np.ndarray = field(repr=False)  # (T, 2) deg, thigh inclination from vertical
    depth: np.ndarray = field(repr=False)  # (T,) 0 standing, ~0.5 parallel; NaN = unreliable
    frame_views: np.ndarray = field(repr=False)  # (T,) 'side' / 'front' (hips apart) / 'no person' / ''
    partials: list[dict] = field(default_factory=list)
    #: found in under half the frames somebody is in (frames with nobody are not counted)
    missing_joints: list[str] = field(default_factory=list)
    #: frame numbers in the clip with not one joint found (``angles.present``): nobody there
    no_person_frames: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"reps": int(self.reps), "view": self.view, "view_segments": self.view_segments,
                "rep_details": self.rep_details, "feedback": list(self.feedback),
                "unreliable_frames": [int(f) for f in self.unreliable_frames],
                "judged": self.judged, "partial_reps": self.partials,
                "missing_joints": list(self.missing_joints),
                "no_person_frames": [int(f) for f in self.no_person_frames],
                "frames": int(len(self.times)),
                "angle_definitions": {
                    "knee_angle": "hip-knee-ankle angle in the image, degrees, 180 = straight leg",
                    "hip_angle": "thigh inclination from vertical, degrees, 0 = thigh vertical, "
                                 "90 = thigh horizontal (no torso joints, so not true hip flexion)",
                    "depth": "hip (or, seen from the side, bend of the knee) drop from standing: "
                             "0 = standing, about 0.5 = thighs parallel"}}


def _missing_parts(kp: np.ndarray) -> str:
    """Which of hips, knees, ankles are mostly missing (both sides), as words: 'the ankles are'."""
    found = np.isfinite(kp).all(axis=2).mean(axis=0) if len(kp) else np.zeros(6)  # (6,) share
    parts = [name for name, (l, r) in (("hips", (0, 1)), ("knees", (2, 3)), ("ankles", (4, 5)))
             if max(found[l], found[r]) < thresholds.MIN_VISIBLE_SHARE]
    if not parts or len(parts) == 3:
        return "the hips, knees and ankles are"
    return "the " + " and the ".join(parts) + " are"


def analyze_series(series: PoseSeries) -> SquatReport:
    """Angles, view, repetitions and feedback for one clip's joints (see the modules)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are expected: NaN = unreliable
        return _analyze(series)


def missing_joints(kp: np.ndarray) -> list[str]:
    """Names of the joints found in fewer than MISSING_JOINT_SHARE of the frames somebody is
    in (``angles.present``; a frame with nobody is no joint's fault)."""
    kp = kp[present(kp)]
    if not len(kp):
        return []
    found = np.isfinite(kp).all(axis=2).mean(axis=0)
    return [name for name, f in zip(JOINTS, found) if f < thresholds.MISSING_JOINT_SHARE]


def _upright_at(rep: Rep, posture: np.ndarray, times: np.ndarray) -> tuple[bool, str]:
    """(on their feet at the rep's start and end?, the posture seen instead): the frames within
    POSTURE_WINDOW_S before the start and after the end (see thresholds.UPRIGHT_SHARE)."""
    w = thresholds.POSTURE_WINDOW_S
    ok, seen = True, ""
    for lo, hi in ((times[rep.start] - w, times[rep.start]), (times[rep.end], times[rep.end] + w)):
        p = posture[(times >= lo - 1e-9) & (times <= hi + 1e-9)]
        share = upright_share(p)
        if np.isfinite(share) and share < thresholds.UPRIGHT_SHARE:
            ok, seen = False, seen or main_posture(p)
    return ok, seen


def _analyze(series: PoseSeries) -> SquatReport:
    times = np.asarray(series.times, dtype=np.float64)
    kp = drop_stray_joints(reliable_keypoints(series.keypoints, series.confidence), times)
    knee, hip = knee_angles(kp), hip_angles(kp)
    views = frame_views(kp, times)
    segments = view_segments(views, times, kp)
    posture = postures(kp)
    signal = depth_signal(kp, knee, segments, posture)
    depth = signal.depth
    reliable = np.isfinite(depth)
    unreliable = [int(f) for f in np.asarray(series.frame_indices)[~reliable]]
    n = len(times)
    feedback: list[str] = []
    missing = missing_joints(kp)
    someone = present(kp)  # frames with nobody count as 'no person', never as missing joints
    # a usable thigh (hip and knee of one side) per frame; the ankles may be out of the frame
    thigh_ok = np.zeros(n, bool)
    for h, k, _ in LEGS:
        thigh_ok |= np.isfinite(kp[:, [h, k]]).all(axis=(1, 2))
    visible_share = float(thigh_ok[someone].mean()) if someone.any() else 0.0
    judged = True
    if n == 0:
        judged = False
        feedback.append("Could not judge this clip: it has no frames.")
    elif not someone.any():
        judged = False
        feedback.append("Could not judge this clip: nobody was found in it (the hips, knees and "
                        "ankles are not visible in any frame). Film the whole lower body, hips to feet, side-on "
                        "or from the front.")
    elif someone.mean() < thresholds.MIN_VISIBLE_SHARE:  # a person passing through, not a set
        judged = False
        feedback.append(f"Could not judge this clip: somebody was in view in only {someone.mean():.0%} "
                        "of its frames. Film the whole set, the lower body in view from start to end.")
    elif visible_share < thresholds.MIN_VISIBLE_SHARE:
        judged = False
        feedback.append(f"Could not judge this clip: {_missing_parts(kp)} not visible in most frames. "
                        "Film the whole lower body, hips to feet, side-on or from the front.")
    elif not any(signal.upright):
        judged = False
        how = main_posture(posture)
        why = f" (the athlete is {WORDS[how]})" if how else ""
        feedback.append("Could not judge this clip: nobody stands upright in it" + why + ", so there "
                        "is no standing position to measure squat depth from. Knee bends lying down, "
                        "sitting or kneeling are not squats and count 0.")
    result = find_reps(depth, times) if judged else None
    details, sentences = [], []
    if result is not None:
        def segment_of(rep: Rep):
            return next(s for s in segments if s.start <= rep.bottom < s.end)

        kept = []
        for rep in result.reps:
            ok, seen = _upright_at(rep, posture, times)
            angle = bottom_knee(rep, knee)[1]
            side = segment_of(rep).view == SIDE
            if not ok:
                result.partials.append(Partial("not upright", rep.start, rep.end, rep.bottom_depth,
                                               posture=seen))
            elif side and angle < thresholds.MIN_SIDE_KNEE_ANGLE_DEG:
                result.partials.append(Partial("knee too closed", rep.start, rep.end, rep.bottom_depth,
                                               knee_angle=round(angle, 1)))
            else:
                kept.append(rep)
        result.reps = kept
        result.partials.sort(key=lambda p: p.start)
        for i, rep in enumerate(result.reps, 1):
            seg = segment_of(rep)
            d = rep_figures(rep, kp, knee, times, seg.view, reliable, kp[seg.start:seg.end])
            details.append(d)
            sentences += rep_sentences(i, d)
        feedback += set_sentences(details, result.partials, times)
        if not result.reps and not any(p.kind in ("not upright", "knee too closed") for p in result.partials):
            feedback.append("No squat repetitions found: the hips never dropped far enough from "
                            "standing to count as a squat.")
        feedback += sentences
    if judged:
        feedback += _thigh_only_sentences(kp, times, segments, signal.source)
    share_bad = 1.0 - float(reliable[someone].mean()) if someone.any() else 0.0
    if judged and share_bad > 0.1:
        feedback.append(f"The joints were unreliable in {100 * share_bad:.0f}% of the frames somebody "
                        "was in; those frames are marked in the report, not guessed.")
    if judged:
        for seg in segments:
            if seg.view == NO_PERSON:
                feedback.append(f"Nobody was in view from {times[seg.start]:.1f} s to "
                                f"{times[seg.end - 1]:.1f} s; those frames are left out.")
    seg_json = [s.to_json(times) for s in segments] if n else []
    for s, seg, up, src in zip(seg_json, segments, signal.upright, signal.source):
        s["upright"], s["depth_from"] = bool(up), src
        s["view_cues"] = view_cues(kp[seg.start:seg.end])
    partials = [] if result is None else [
        {"kind": p.kind, "start_s": float(times[p.start]), "end_s": float(times[p.end]),
         "max_depth": round(float(p.max_depth), 3), **({"posture": p.posture} if p.posture else {}),
         **({"knee_angle": p.knee_angle} if p.knee_angle is not None else {})}
        for p in result.partials]
    # an unjudged clip reports no view: what could not be judged is not described either
    return SquatReport(reps=len(details), view=describe(segments) if judged else "unknown",
                       view_segments=seg_json,
                       rep_details=details, feedback=feedback, unreliable_frames=unreliable,
                       judged=judged, times=times, knee_angle=knee, hip_angle=hip, depth=depth,
                       frame_views=views, partials=partials, missing_joints=missing,
                       no_person_frames=[int(f) for f in np.asarray(series.frame_indices)[~someone]])


def _thigh_only_sentences(kp: np.ndarray, times: np.ndarray, segments, sources: list[str]) -> list[str]:
    """Where depth came from the thighs alone (``reps.depth_signal``: too few whole legs),
    say so, naming only what was measured: the joints missing in those segments' frames
    with somebody in them, else how rarely a whole leg was seen."""
    out = []
    for seg, src in zip(segments, sources):
        if not src.startswith("thigh"):
            continue
        part = kp[seg.start:seg.end]
        gone = [j.replace("_", " ") for j in missing_joints(part)]
        span = f"from {times[seg.start]:.1f} s to {times[seg.end - 1]:.1f} s"
        if gone:
            names = gone[0] if len(gone) == 1 else ", ".join(gone[:-1]) + " and " + gone[-1]
            what = f"The {names} {'were' if len(gone) > 1 else 'was'} out of view in most frames {span}"
        else:
            seen = part[present(part)]
            whole = np.zeros(len(seen), bool)
            for leg in LEGS:
                whole |= np.isfinite(seen[:, list(leg)]).all(axis=(1, 2))
            what = (f"A whole leg (hip, knee and ankle together) was seen in only "
                    f"{100 * whole.mean():.0f}% of the frames {span}")
        out.append(what + ": reps there were counted from the hips and knees that were seen, so "
                   "depth is less certain. Film hips to feet for the full analysis.")
    return out
