"""Is the athlete on their feet? Posture per frame from the legs' direction in the image.

A squat starts and ends standing: hips above knees above ankles, the legs roughly vertical.
Per frame and leg (y grows downwards):

* thigh_down = (knee y - hip y) / thigh length, shin_down = (ankle y - knee y) / shin length:
  1 = pointing straight down, 0 = horizontal, negative = pointing up.
* **upright**: (ankle y - hip y) >= UPRIGHT_RATIO x (thigh + shin), i.e. the whole leg points
  down within about 45 degrees; without the ankle, thigh_down >= UPRIGHT_RATIO.
* otherwise, from the leg's two parts (POSTURE_DOWN is "pointing down"):
  **kneeling** thigh down, shin not (the shin lies on the floor); **sitting** shin down, thigh
  not (thigh level on a seat); **lying** neither. Without the ankle: 'not on their feet'.

The leg that says most is used: upright if either leg is (one leg may be mislabelled or
hidden), else the posture of the leg with both parts found. Frames without a hip and knee on
either side are unknown ('').
"""
from __future__ import annotations

import numpy as np

from . import thresholds as th
from .angles import LEGS

UPRIGHT, LYING, SITTING, KNEELING, DOWN = "upright", "lying", "sitting", "kneeling", "not on their feet"
#: How a posture reads in a sentence ("... while the athlete was lying down").
WORDS = {LYING: "lying down", SITTING: "sitting", KNEELING: "kneeling", DOWN: "not on their feet"}


def postures(kp: np.ndarray) -> np.ndarray:
    """(T,) posture per frame (see the module docstring) from keypoints (T, 6, 2), NaN = missing."""
    n = len(kp)
    out = np.full(n, "", dtype=object)
    per_leg = []
    with np.errstate(all="ignore"):
        for h, k, a in LEGS:
            hip, knee, ankle = kp[:, h], kp[:, k], kp[:, a]
            thigh = np.linalg.norm(knee - hip, axis=1)
            shin = np.linalg.norm(ankle - knee, axis=1)
            thigh_down = (knee[:, 1] - hip[:, 1]) / thigh
            shin_down = (ankle[:, 1] - knee[:, 1]) / shin
            whole = (ankle[:, 1] - hip[:, 1]) / (thigh + shin)
            leg = np.full(n, "", dtype=object)
            has_thigh = np.isfinite(thigh_down)
            has_leg = has_thigh & np.isfinite(shin_down)
            up = np.where(has_leg, whole >= th.UPRIGHT_RATIO, thigh_down >= th.UPRIGHT_RATIO) & has_thigh
            t_dn, s_dn = thigh_down >= th.POSTURE_DOWN, shin_down >= th.POSTURE_DOWN
            leg[has_thigh & ~has_leg] = DOWN
            leg[has_leg & t_dn & ~s_dn] = KNEELING
            leg[has_leg & ~t_dn & s_dn] = SITTING
            leg[has_leg & ~t_dn & ~s_dn] = LYING
            leg[has_leg & t_dn & s_dn] = DOWN  # both parts down but bent: a crouch
            leg[up] = UPRIGHT
            per_leg.append((leg, has_leg))
    (a, a_whole), (b, b_whole) = per_leg
    out[:] = np.where(a == UPRIGHT, a, np.where(b == UPRIGHT, b, ""))
    rest = out == ""
    pick = np.where(a_whole | ~b_whole, a, b)  # the leg with both parts, else whichever there is
    pick = np.where(pick == "", np.where(a == "", b, a), pick)
    out[rest] = pick[rest]
    return out


def upright_share(p: np.ndarray) -> float:
    """Share of the frames with a known posture that are upright; NaN when none is known."""
    known = p != ""
    return float(np.mean(p[known] == UPRIGHT)) if known.any() else np.nan


def main_posture(p: np.ndarray) -> str:
    """The commonest posture other than upright among ``p``'s known frames ('' when none)."""
    vals, counts = np.unique([x for x in p if x and x != UPRIGHT], return_counts=True)
    return str(vals[np.argmax(counts)]) if len(vals) else ""
