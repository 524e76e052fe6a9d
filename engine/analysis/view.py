"""Camera view per frame and as stable segments: side, front, back or 'front or back'.

Cues (six lower-body joints only):

* **Hip separation**: from the side the two hip joints overlap in the image; from the front
  or the back they are about a fifth of a leg length apart. Per frame: |x left hip - x right
  hip| / leg length (the longer of thigh + shin on the two sides, in the same frame, so a cut
  to another zoom does not matter), median-filtered over ``VIEW_MEDIAN_S``. A frame that shows
  one hip but not the other counts as overlapping (the far hip is hidden behind the body).
  Frames without a hip take their neighbours' value.
* **Hysteresis**: a frame is 'front' once the separation rises above FRONT_MIN_SEPARATION +
  VIEW_HYSTERESIS and stays so until it falls below FRONT_MIN_SEPARATION - VIEW_HYSTERESIS
  (and the other way round), so a separation hovering at the line does not flip the view.
* **Minimum length**: a run shorter than ``MIN_VIEW_SEGMENT_S`` (a brief turn of the body,
  noise) is merged into its neighbours; a real turn or a cut lasts longer and starts a new
  segment.
* **Knees and thighs in a bend** (per segment): from the side, both knees move the same way,
  forwards of the hip-ankle line, and the thighs turn in the image plane; from the front or
  back the knees move apart (or towards the camera, which the image does not show) and the
  thighs turn towards the camera, looking short. A segment whose hips look apart is still
  seen from the side (a camera well off the front, as in many of the Penn Action tracks
  labelled left/right) when, in its deepest frames, both knees point the same way by at least
  ``SIDE_KNEE_OFFSET`` leg lengths, or every thigh seen turns the same way with at least
  ``SIDE_THIGH_SHARE`` of its turn in the image plane (``thigh_shares``: it needs no ankle,
  so it also decides tracks whose feet are out of the frame). Both are ratios of the
  athlete's own segments, so they do not depend on where a joint source puts the hip joints
  (human labellers mark them wider apart than MediaPipe does).
* **No person**: a stretch of at least ``MIN_VIEW_SEGMENT_S`` in which not one joint is found
  (``angles.present``: an empty room, a black end card) is a segment of its own, 'no person',
  never a view; no segment is merged into it, and it does not take its neighbours' view.
  Shorter gaps take their neighbours' view as frames without a hip do.
* **Front or back** (per front-like segment): seen from the front the athlete's left hip is
  on the image's right; from behind, on the image's left. The segment is 'front' or 'back'
  when at least ``LATERALITY_SHARE`` of its frames agree, else 'front or back' (a model that
  is unsure of left and right, or an athlete turning). This trusts the joint source's left
  and right; a source that mirrors them would swap front and back, never side.

Joints far off the body (``angles.drop_stray_joints``, applied before any of this) are dropped
first: a hip placed in a corner of the frame would read as hips a body's width apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import thresholds as th
from .angles import LEGS, present, running, segment_lengths

SIDE, FRONT, BACK, FRONT_OR_BACK = "side", "front", "back", "front or back"
#: A stretch of frames with nobody in them (see the module docstring): not a view.
NO_PERSON = "no person"
#: Views analysed as a front view (hip drop depth, knee valgus and left/right symmetry).
FRONT_VIEWS = (FRONT, BACK, FRONT_OR_BACK)


@dataclass
class ViewSegment:
    view: str
    start: int  # first frame (index into the series)
    end: int  # one past the last frame

    def to_json(self, times: np.ndarray) -> dict:
        last = min(self.end, len(times)) - 1
        return {"view": self.view, "start_s": float(times[self.start]), "end_s": float(times[last]),
                "start_frame": self.start, "end_frame": last}


def leg_length(kp: np.ndarray) -> np.ndarray:
    """(T,) the longer thigh + shin of the two sides per frame, px; where no leg is whole (the
    ankles out of the frame), twice the longer thigh (thigh and shin are about equally long);
    NaN where no thigh is found either."""
    thigh, shin = segment_lengths(kp)
    with np.errstate(all="ignore"):
        if not len(kp):
            return np.zeros(0)
        whole = np.nanmax(thigh + shin, axis=1)
        return np.where(np.isfinite(whole), whole, 2.0 * np.nanmax(thigh, axis=1))


def signed_hip_separation(kp: np.ndarray) -> np.ndarray:
    """(T,) (x left hip - x right hip) / leg length per frame: positive when the athlete's left
    hip is on the image's right (seen from the front). 0 where exactly one hip is found (the
    other hidden behind the body); NaN where neither is, or no leg length is known. A frame
    without a whole leg takes the clip's median leg length (ankles out of the frame)."""
    leg = leg_length(kp)
    ok = np.isfinite(leg)
    if ok.any():
        leg = np.where(ok, leg, np.nanmedian(leg))
    with np.errstate(all="ignore"):
        sep = (kp[:, 0, 0] - kp[:, 1, 0]) / leg
    one = np.isfinite(kp[:, 0, 0]) ^ np.isfinite(kp[:, 1, 0])
    sep[one & np.isfinite(leg)] = 0.0
    return sep


def hip_separation(kp: np.ndarray) -> np.ndarray:
    """(T,) |horizontal hip gap| over leg length per frame (see ``signed_hip_separation``)."""
    return np.abs(signed_hip_separation(kp))


def _fill(x: np.ndarray) -> np.ndarray:
    """NaNs replaced by the nearest finite value (the earlier one on a tie); all-NaN stays."""
    good = np.flatnonzero(np.isfinite(x))
    if len(good) == 0 or len(good) == len(x):
        return x
    i = np.arange(len(x))
    nxt = good[np.clip(np.searchsorted(good, i), 0, len(good) - 1)]
    prv = good[np.clip(np.searchsorted(good, i) - 1, 0, len(good) - 1)]
    return x[np.where(np.abs(prv - i) <= np.abs(nxt - i), prv, nxt)]


def long_absences(kp: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames of stretches of at least MIN_VIEW_SEGMENT_S with nobody in them
    (``angles.present``), first to last frame of the stretch."""
    out = np.zeros(len(times), bool)
    for r in _runs(present(kp)):
        if r.view == "False" and times[r.end - 1] - times[r.start] >= th.MIN_VIEW_SEGMENT_S:
            out[r.start:r.end] = True
    return out


def frame_views(kp: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(T,) array of 'side' / 'front' / 'no person' (``long_absences``) / '' (unknown: no
    frame of the clip shows a hip), from the hip separation with hysteresis (see the module
    docstring). Front here means the hips are apart: front or back; ``view_segments`` tells
    them apart."""
    n = len(times)
    if n == 0:
        return np.array([], dtype=object)
    absent = long_absences(kp, times)
    sep = hip_separation(kp)
    dt = float(np.median(np.diff(times))) if n > 1 else 1.0
    half = max(1, int(round(th.VIEW_MEDIAN_S / 2 / max(dt, 1e-6))))
    sep = running(sep, half, np.median)
    sep[absent] = np.nan  # nobody there: their frames neither give nor take a view
    sep = _fill(sep)
    if not np.isfinite(sep).any():
        return np.where(absent, NO_PERSON, "").astype(object)
    hi, lo = th.FRONT_MIN_SEPARATION + th.VIEW_HYSTERESIS, th.FRONT_MIN_SEPARATION - th.VIEW_HYSTERESIS
    out = np.empty(n, dtype=object)
    state = FRONT if sep[0] >= th.FRONT_MIN_SEPARATION else SIDE
    for i, s in enumerate(sep):
        if state == SIDE and s >= hi:
            state = FRONT
        elif state == FRONT and s <= lo:
            state = SIDE
        out[i] = state
    out[absent] = NO_PERSON
    return out


def knee_offsets(kp: np.ndarray) -> np.ndarray:
    """(T, 2) horizontal offset of each knee from its own hip-ankle line (at the knee's
    height), over the clip's standing leg length; positive = towards the image's right;
    NaN where a joint of that leg is missing."""
    out = np.full((len(kp), 2), np.nan)
    leg = leg_length(kp)
    ref = np.nanpercentile(leg, 90) if np.isfinite(leg).any() else np.nan
    with np.errstate(all="ignore"):
        for s, (h, k, a) in enumerate(LEGS):
            hip, knee, ankle = kp[:, h], kp[:, k], kp[:, a]
            frac = (knee[:, 1] - hip[:, 1]) / (ankle[:, 1] - hip[:, 1])
            line_x = hip[:, 0] + frac * (ankle[:, 0] - hip[:, 0])
            out[:, s] = (knee[:, 0] - line_x) / ref
    return out


def hip_drop(kp: np.ndarray) -> np.ndarray:
    """(T,) the larger of the two legs' hip drop, 1 - (ankle y - hip y) / its 95th percentile
    over ``kp``: 0 standing, ~0.5 thighs parallel; NaN without a whole leg."""
    out = np.full((len(kp), 2), np.nan)
    with np.errstate(all="ignore"):
        for s, (h, _, a) in enumerate(LEGS):
            height = kp[:, a, 1] - kp[:, h, 1]
            if np.isfinite(height).any():
                ref = np.nanpercentile(height, 95)
                out[:, s] = 1.0 - height / ref if ref > 0 else np.nan
        return np.nanmax(out, axis=1) if len(kp) else np.zeros(0)


def deep_knee_offsets(kp: np.ndarray) -> np.ndarray:
    """(2,) median ``knee_offsets`` per knee over the deepest frames of ``kp`` (hip drop at
    least SIDE_KNEE_MIN_DROP and within 80% of the deepest); NaN for a knee not seen there, or
    both when the hips never drop that far (or no ankle is seen: no hip drop)."""
    drop = hip_drop(kp)
    if not np.isfinite(drop).any():
        return np.full(2, np.nan)
    deepest = float(np.nanmax(drop))
    if deepest < th.SIDE_KNEE_MIN_DROP:
        return np.full(2, np.nan)
    deep = drop >= max(0.8 * deepest, th.SIDE_KNEE_MIN_DROP)
    with np.errstate(all="ignore"):
        return np.nanmedian(knee_offsets(kp)[deep], axis=0)


def knees_point_one_way(kp: np.ndarray) -> bool:
    """True when, in the deepest frames of ``kp`` (``deep_knee_offsets``), the knees point the
    same way off their hip-ankle lines by at least SIDE_KNEE_OFFSET leg lengths each (one knee,
    when only one leg is seen): a side view."""
    f = deep_knee_offsets(kp)
    f = f[np.isfinite(f)]
    if len(f) == 0:
        return False
    return bool((np.all(f >= th.SIDE_KNEE_OFFSET) or np.all(f <= -th.SIDE_KNEE_OFFSET)))


def thigh_shares(kp: np.ndarray) -> np.ndarray:
    """(2,) per leg, left then right: how much of the thigh's turn at the bottom of the squat
    lies in the image plane, signed (positive = the knee travels towards the image's right).

    Per frame, the thigh (hip -> knee) over its own standing length (90th percentile of its
    lengths in ``kp``) has a vertical part v (1 standing, 0 level) and a horizontal part h.
    Seen from the side the thigh turns in the image plane, so |h| = sqrt(1 - v^2); seen from
    the front it turns towards the camera and |h| stays small (only the knees' spread). The
    share h / sqrt(1 - v^2) is about cos(splay) sin(camera angle from the front): ~0.9 from the
    side, ~0 for the two legs' mean from the front. Taken as the median over the deepest frames
    (the more bent thigh's v <= SIDE_THIGH_MAX_V, the lower half of those), the same frames for
    both legs, so it needs neither the ankles nor a known hip width; sqrt(1 - v^2) is taken as
    at least 0.5, so a thigh that hardly turned in those frames (a less bent leg) gives no
    large share. NaN for a leg not seen in those frames; both NaN when no thigh turns that far."""
    out = np.full(2, np.nan)
    v, x = np.full((len(kp), 2), np.nan), np.full((len(kp), 2), np.nan)
    with np.errstate(all="ignore"):
        for s, (h, k, _) in enumerate(LEGS):
            d = kp[:, k] - kp[:, h]
            length = np.linalg.norm(d, axis=1)
            if np.sum(np.isfinite(length)) < 3:
                continue
            ref = np.nanpercentile(length, 90)
            if ref > 0:
                v[:, s], x[:, s] = d[:, 1] / ref, d[:, 0] / ref
        if not np.isfinite(v).any():
            return out
        lowest = np.nanmin(v, axis=1)
        deep = np.isfinite(lowest) & (lowest <= th.SIDE_THIGH_MAX_V)
        if not deep.any():
            return out
        deep &= lowest <= np.median(lowest[deep])
        turn = np.sqrt(np.clip(1.0 - np.clip(v[deep], -1.0, 1.0) ** 2, 0.25, None))
        share = x[deep] / turn
        for s in range(2):
            if np.isfinite(share[:, s]).any():
                out[s] = float(np.nanmedian(share[:, s]))
    return out


def thighs_point_one_way(kp: np.ndarray) -> bool:
    """True when every thigh seen at the bottom of the squat (``thigh_shares``) turns the same
    way, in the image plane by at least SIDE_THIGH_SHARE: a side view (or one closer to the side
    than to the front), whether or not the ankles are in the frame."""
    f = thigh_shares(kp)
    f = f[np.isfinite(f)]
    if len(f) == 0:
        return False
    return bool(np.all(f >= th.SIDE_THIGH_SHARE) or np.all(f <= -th.SIDE_THIGH_SHARE))


def view_cues(kp: np.ndarray) -> dict:
    """The figures the view of a stretch of frames ``kp`` is decided on, rounded, None where
    not measured: ``hip_separation`` (median |hip gap| / leg length, ``hip_separation``),
    ``knee_offsets`` and ``thigh_shares`` (left, right: ``deep_knee_offsets``,
    ``thigh_shares``). Reported per view segment, so a user can see why a view was found."""
    def num(x: float) -> float | None:
        return round(float(x), 3) if np.isfinite(x) else None
    with np.errstate(all="ignore"):
        sep = hip_separation(kp)
        sep = float(np.nanmedian(sep)) if np.isfinite(sep).any() else np.nan
    return {"hip_separation": num(sep), "knee_offsets": [num(x) for x in deep_knee_offsets(kp)],
            "thigh_shares": [num(x) for x in thigh_shares(kp)]}


def facing(kp: np.ndarray) -> str:
    """'front', 'back' or 'front or back' for frames whose hips are apart: which side of the
    image the athlete's left hip is on, in at least LATERALITY_SHARE of the frames."""
    sep = signed_hip_separation(kp)
    sep = sep[np.isfinite(sep) & (np.abs(sep) >= th.FRONT_MIN_SEPARATION / 2)]
    if len(sep) == 0:
        return FRONT_OR_BACK
    right = float(np.mean(sep > 0))
    if right >= th.LATERALITY_SHARE:
        return FRONT
    if right <= 1.0 - th.LATERALITY_SHARE:
        return BACK
    return FRONT_OR_BACK


def _runs(views: np.ndarray) -> list[ViewSegment]:
    runs: list[ViewSegment] = []
    start = 0
    for i in range(1, len(views) + 1):
        if i == len(views) or views[i] != views[start]:
            runs.append(ViewSegment(str(views[start]), start, i))
            start = i
    return runs


def _join(runs: list[ViewSegment]) -> list[ViewSegment]:
    merged = [runs[0]]
    for r in runs[1:]:
        if r.view == merged[-1].view:
            merged[-1] = ViewSegment(r.view, merged[-1].start, r.end)
        else:
            merged.append(r)
    return merged


def _merge_short(runs: list[ViewSegment], times: np.ndarray) -> list[ViewSegment]:
    """Merge the shortest run under MIN_VIEW_SEGMENT_S into its longer neighbour, repeatedly;
    never into a 'no person' run (a short run between two of them, or between one and the
    clip's end, stays as it is)."""
    def dur(s: ViewSegment) -> float:
        return float(times[s.end - 1] - times[s.start]) if s.end > s.start else 0.0

    def seen(j: int) -> bool:
        return 0 <= j < len(runs) and runs[j].view != NO_PERSON

    while len(runs) > 1:
        short = [j for j in range(len(runs)) if dur(runs[j]) < th.MIN_VIEW_SEGMENT_S
                 and runs[j].view != NO_PERSON and (seen(j - 1) or seen(j + 1))]
        if not short:
            break
        k = min(short, key=lambda j: dur(runs[j]))
        if not seen(k - 1) or (seen(k + 1) and dur(runs[k + 1]) > dur(runs[k - 1])):
            runs[k + 1] = ViewSegment(runs[k + 1].view, runs[k].start, runs[k + 1].end)
        else:
            runs[k - 1] = ViewSegment(runs[k - 1].view, runs[k - 1].start, runs[k].end)
        del runs[k]
        runs = _join(runs)
    return runs


def view_segments(views: np.ndarray, times: np.ndarray, kp: np.ndarray | None = None) -> list[ViewSegment]:
    """Stable runs of one view (see the module docstring). ``views`` from ``frame_views``; with
    ``kp`` (T, 6, 2) each hips-apart segment is checked for knees pointing one way (side) and
    named front, back or 'front or back'."""
    n = len(views)
    if n == 0 or not np.isin(views, (SIDE, FRONT)).any():
        return [ViewSegment("", 0, n)] if n else []
    runs = _merge_short(_runs(views), times)
    if kp is None:
        return runs
    out = []
    for r in runs:
        seg = kp[r.start:r.end]
        if r.view == FRONT:
            view = SIDE if (knees_point_one_way(seg) or thighs_point_one_way(seg)) else facing(seg)
        else:
            view = r.view
        out.append(ViewSegment(view, r.start, r.end))
    return _join(out)


def describe(segments: list[ViewSegment]) -> str:
    """'side', 'front', 'back', 'front or back', 'side, then front', ... or 'unknown'."""
    names = [s.view for s in segments if s.view and s.view != NO_PERSON]
    return ", then ".join(names) if names else "unknown"
