"""Lifting a clip's 2-D joints (a ``PoseSeries``) to 3-D, and the per-rep 3-D figures.

The lifter sees windows of ``data.WINDOW`` frames at about ``data.FPS`` frames per second: a
series at another rate is sampled every ``round(fps / FPS)`` frames inside the window. Joints
below the analysis's confidence threshold count as missing; a frame with fewer than
``MIN_JOINTS`` joints found gets no 3-D joints (NaN)."""
from __future__ import annotations

import warnings

import numpy as np

from engine.analysis.angles import (hip_angles, hip_below_knee, knee_angles, knee_valgus_3d,
                                    reliable_keypoints)
from engine.pose import PoseSeries
from .data import FPS, WINDOW, normalize_2d
from .weights import load_lifter, run_lifter

MIN_JOINTS = 4


def lift_series(series: PoseSeries, model=None, flip: bool = True) -> np.ndarray:
    """(T, 6, 3) joints in the heading frame (x right, y down, z away from the camera,
    metres, hip midpoint at 0) for each frame of ``series``; NaN where too little was found.
    ``model``: a loaded lifter (default: the shipped one)."""
    if model is None:
        model, _ = load_lifter()
    n = len(series)
    if n == 0:
        return np.zeros((0, 6, 3))
    kp = reliable_keypoints(series.keypoints, series.confidence)
    step = max(1, int(round((series.fps or FPS) / FPS)))
    offs = (np.arange(WINDOW) - WINDOW // 2) * step
    idx = np.clip(np.arange(n)[:, None] + offs[None], 0, n - 1)
    x = normalize_2d(kp[idx])
    out = run_lifter(model, x, flip=flip).astype(np.float64)
    found = np.isfinite(kp).all(axis=-1).sum(axis=-1)
    out[found < MIN_JOINTS] = np.nan
    return out


def _r(x, nd: int = 1):
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def rep_figures_3d(kp3: np.ndarray, rep: dict) -> dict:
    """3-D figures of one rep (``rep``: a ``rep_details`` entry of the report, frames are
    indices into the series): at the bottom frame (the smallest 3-D knee angle in the rep)
    knee angles (180 = straight; flexion = 180 - angle), thigh inclination from vertical,
    hip below knee (metres, > 0 below parallel) and knee valgus (degrees, > 0 knee inside)."""
    sl = slice(int(rep["start_frame"]), int(rep["end_frame"]) + 1)
    k = knee_angles(kp3[sl])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames: nothing lifted there
        mean_k = np.nanmean(k, axis=1)
        if not np.isfinite(mean_k).any():
            return {"bottom_frame": None}
        b = int(np.nanargmin(mean_k))
        h = hip_angles(kp3[sl])[b]
        dep = hip_below_knee(kp3[sl])[b]
        val = knee_valgus_3d(kp3[sl])[b]
    depth = float(np.nanmean(dep))
    return {"bottom_frame": sl.start + b,
            "bottom_knee_angle": _r(mean_k[b]),
            "bottom_knee_angle_left": _r(k[b, 0]), "bottom_knee_angle_right": _r(k[b, 1]),
            "bottom_knee_flexion": _r(180 - mean_k[b]),
            "bottom_hip_angle_left": _r(h[0]), "bottom_hip_angle_right": _r(h[1]),
            "hip_below_knee_m": _r(depth, 3),
            "below_parallel": None if not np.isfinite(depth) else bool(depth >= 0),
            "bottom_valgus_deg_left": _r(val[0]), "bottom_valgus_deg_right": _r(val[1])}


def add_3d(report: dict, series: PoseSeries, model=None, meta: dict | None = None) -> np.ndarray:
    """Lift ``series`` and put each rep's 3-D figures into ``report['rep_details'][i]['3d']``
    (beside the 2-D ones) and what was used into ``report['lift3d']``. Returns the 3-D joints."""
    if model is None:
        model, meta = load_lifter()
    kp3 = lift_series(series, model)
    for d in report.get("rep_details", []):
        d["3d"] = rep_figures_3d(kp3, d)
    report["lift3d"] = {
        "frame": "heading: x right, y down, z away from the camera, metres, hip midpoint at 0",
        "lifter": (meta or {}).get("trained_on", "weights/lift3d/lifter.safetensors"),
        "frames_lifted": int(np.isfinite(kp3).all(axis=(1, 2)).sum()),
        "definitions": {
            "bottom_knee_angle": "3-D hip-knee-ankle angle at the rep's deepest 3-D frame, "
                                 "degrees, 180 = straight (knee flexion = 180 - angle)",
            "bottom_hip_angle": "3-D thigh inclination from the vertical, degrees",
            "hip_below_knee_m": "hip height below the knee's, metres; >= 0 is below parallel",
            "bottom_valgus_deg": "knee valgus at that frame: the thigh's angle inside the "
                                 "hip-ankle line, towards the other hip, degrees (< 0: knees out)"}}
    return kp3


_SHIPPED_CACHE: dict = {}


def shipped_lifter():
    """(model, sidecar) of the shipped lifter, loaded once per process (raises
    ``LifterWeightsError`` when it is missing or broken)."""
    if "model" not in _SHIPPED_CACHE:
        _SHIPPED_CACHE["model"], _SHIPPED_CACHE["meta"] = load_lifter()
    return _SHIPPED_CACHE["model"], _SHIPPED_CACHE["meta"]


def try_add_3d(report: dict, series: PoseSeries) -> np.ndarray | None:
    """``add_3d`` with the shipped lifter, for the analysis: the 3-D joints, or None with the
    reason in ``report['lift3d']`` when no lifter can be loaded (the 2-D report stands)."""
    from .weights import LifterWeightsError
    try:
        model, meta = shipped_lifter()
    except (LifterWeightsError, ImportError) as e:
        report["lift3d"] = {"error": str(e)}
        return None
    return add_3d(report, series, model, meta)
