"""Joint angles per frame, in degrees, from the six 2-D joints (image pixels, y down).

* Knee angle: the angle at the knee between knee->hip and knee->ankle; 180 = straight leg,
  ~90 = thigh and shin square, smaller = deeper flexion. From the front it is foreshortened
  (a thigh pointing at the camera looks short), so treat front-view knee angles as indicative.
* Hip angle: we have no shoulders, so the true hip flexion (torso vs thigh) cannot be
  measured. What we report is the *thigh inclination from vertical*: the angle between
  hip->knee and straight down; 0 = thigh vertical (standing), 90 = thigh horizontal (about
  parallel, seen from the side), > 90 = knee above hip. Meaningful from the side; from the
  front it mostly shows the knees moving outwards.

A value is NaN wherever any of its joints is below ``MIN_CONFIDENCE`` or missing.
"""
from __future__ import annotations

import numpy as np

from engine.joints import JOINT_INDEX
from .thresholds import MIN_CONFIDENCE, STRAY_LIMB_RATIO, STRAY_WINDOW_S

#: (hip, knee, ankle) joint indices per side, left then right.
LEGS = tuple((JOINT_INDEX[f"{s}_hip"], JOINT_INDEX[f"{s}_knee"], JOINT_INDEX[f"{s}_ankle"])
             for s in ("left", "right"))


def reliable_keypoints(keypoints: np.ndarray, confidence: np.ndarray,
                       min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """A copy of ``keypoints`` (T, 6, 2) with joints below ``min_confidence`` set to NaN."""
    kp = np.array(keypoints, dtype=np.float64, copy=True)
    kp[~(np.asarray(confidence) >= min_confidence)] = np.nan
    return kp


def present(kp: np.ndarray) -> np.ndarray:
    """(T,) bool: somebody is in the frame, i.e. at least one of the six joints of ``kp``
    (reliable keypoints, NaN = not found) was found. A frame where none was (an empty room, a
    black end card) counts as 'no person': not a view, not a missing joint."""
    return np.isfinite(kp).all(axis=2).any(axis=1) if len(kp) else np.zeros(0, bool)


def running(x: np.ndarray, half: int, reduce=np.max) -> np.ndarray:
    """NaN-ignoring running ``reduce`` (``np.max``, ``np.median``) with a window of
    ``2 * half + 1`` samples (shrinking at the ends); NaN only where the whole window is NaN."""
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        w = x[max(0, i - half): i + half + 1]
        w = w[np.isfinite(w)]
        if len(w):
            out[i] = reduce(w)
    return out


def drop_stray_joints(kp: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A copy of ``kp`` (T, 6, 2) without joints placed far off the body: in a frame that shows
    both thighs, a thigh more than ``STRAY_LIMB_RATIO`` times the longest the other thigh is
    within ``STRAY_WINDOW_S`` either side (a 2-D thigh is never much longer than the other one:
    foreshortening only shortens it; the other thigh seen in the same frame keeps a cut to
    another zoom from mattering) loses its hip, or its knee when the shin is as much too long
    too. Such joints are labelling or detection slips
    (a Penn Action track has a hip placed near the frame's corner throughout); left in, they
    read as hips a body's width apart and as a leg that never bends."""
    kp = np.array(kp, dtype=np.float64, copy=True)
    if len(kp) < 2:
        return kp
    thigh, shin = segment_lengths(kp)
    dt = float(np.median(np.diff(times)))
    half = max(1, int(round(STRAY_WINDOW_S / max(dt, 1e-6))))
    with np.errstate(all="ignore"):
        for s, (h, k, _) in enumerate(LEGS):
            o = 1 - s
            ref_t, ref_s = running(thigh[:, o], half), running(shin[:, o], half)
            bad = np.isfinite(thigh[:, o]) & (thigh[:, s] > STRAY_LIMB_RATIO * ref_t)
            knee_bad = bad & (shin[:, s] > STRAY_LIMB_RATIO * ref_s)
            kp[bad & ~knee_bad, h] = np.nan
            kp[knee_bad, k] = np.nan
    return kp


def angle_at(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle ABC at ``b`` in degrees (0..180) for points (..., 2); NaN when any is NaN or a
    segment has zero length."""
    u, v = a - b, c - b
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * v, axis=-1) / (nu * nv)
    out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.where((nu > 0) & (nv > 0), out, np.nan)


def inclination_from_vertical(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Angle in degrees between top->bottom and straight down in the image (0..180)."""
    d = bottom - top
    n = np.linalg.norm(d, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = d[..., 1] / n
    return np.where(n > 0, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), np.nan)


def knee_angles(kp: np.ndarray) -> np.ndarray:
    """(T, 2) knee angles, left then right, from keypoints (T, 6, 2) with unreliable joints NaN."""
    return np.stack([angle_at(kp[:, h], kp[:, k], kp[:, a]) for h, k, a in LEGS], axis=1)


def hip_angles(kp: np.ndarray) -> np.ndarray:
    """(T, 2) thigh inclinations from vertical (see the module docstring), left then right."""
    return np.stack([inclination_from_vertical(kp[:, h], kp[:, k]) for h, k, _ in LEGS], axis=1)


def segment_lengths(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thigh, shin) lengths in pixels, each (T, 2) left then right, NaN where unreliable."""
    thigh = np.stack([np.linalg.norm(kp[:, k] - kp[:, h], axis=-1) for h, k, _ in LEGS], axis=1)
    shin = np.stack([np.linalg.norm(kp[:, a] - kp[:, k], axis=-1) for _, k, a in LEGS], axis=1)
    return thigh, shin


# --- 3-D joints (engine.lifting's heading frame: x right, y down, z away from the camera,
# metres). ``knee_angles`` and ``hip_angles`` above apply unchanged to (T, 6, 3) joints there:
# the knee angle is the 3-D hip-knee-ankle angle (knee flexion = 180 - it) and, y being
# straight down, the thigh inclination is from the true vertical.

def hip_below_knee(kp3: np.ndarray) -> np.ndarray:
    """(T, 2) how far each hip is below its knee, metres (y down): > 0 below parallel, 0 at
    parallel, < 0 above; left then right."""
    return np.stack([kp3[:, h, 1] - kp3[:, k, 1] for h, k, _ in LEGS], axis=1)


def knee_valgus_3d(kp3: np.ndarray) -> np.ndarray:
    """(T, 2) knee valgus in degrees from 3-D joints, left then right: the angle between the
    thigh and the hip-ankle line, counting only the knee's offset from that line along the
    horizontal hip-to-other-hip direction; > 0 the knee is inside the hip-ankle line (valgus),
    < 0 outside (varus, knees out)."""
    out = []
    for s, (h, k, a) in enumerate(LEGS):
        oh = LEGS[1 - s][0]
        with np.errstate(all="ignore"):
            m = kp3[:, oh] - kp3[:, h]
            m[:, 1] = 0.0  # horizontal
            u = kp3[:, a] - kp3[:, h]
            u = u / np.linalg.norm(u, axis=-1, keepdims=True)
            m = m - np.sum(m * u, axis=-1, keepdims=True) * u  # across the leg line
            m = m / np.linalg.norm(m, axis=-1, keepdims=True)
            t = kp3[:, k] - kp3[:, h]
            inward = np.sum(t * m, axis=-1)
            out.append(np.degrees(np.arcsin(np.clip(inward / np.linalg.norm(t, axis=-1), -1, 1))))
    return np.stack(out, axis=1)
