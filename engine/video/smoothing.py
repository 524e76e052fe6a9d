"""Temporal smoothing of joints: the One Euro filter (Casiez, Roussel & Vogel, CHI 2012).

A low-pass filter whose cut-off rises with speed: slow motion (standing still, the bottom of
a squat) is smoothed hard, which removes jitter; fast motion gets a high cut-off, which keeps
lag small. Each joint's x and y are filtered separately over ``series.times`` (seconds, so a
stride or an uneven clock is handled). A missing joint (NaN) stays missing and resets that
joint's filter: the first point after a gap is taken as it is, nothing is invented across it.

Speeds are measured in frame heights per second, so ``beta`` does not depend on the clip's
resolution: with the defaults the cut-off is ``min_cutoff`` = 1 Hz at rest and about 3.5 Hz
at a squat's typical half a frame height per second.

Confidence-aware: a sample whose confidence is at least ``FULL_TRUST_CONFIDENCE`` is filtered
as usual; below it, its weight in the update shrinks in proportion (confidence 0.1 moves the
estimate a fifth as far as a trusted sample would), so one doubtful detection cannot drag the
track away and back. A sample with confidence 0 but coordinates is not used at all (the
estimate holds); its confidence stays 0, so analysis still treats it as missing.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from engine.pose import PoseSeries

#: default speed coefficient, in Hz per (frame height / s)
DEFAULT_BETA = 5.0
#: Samples at or above this confidence get the One Euro filter's full weight; below it the
#: weight falls linearly to 0. 0.5 is where the analysis starts trusting a joint
#: (``engine.analysis.thresholds.MIN_CONFIDENCE``): what analysis uses is filtered unchanged.
FULL_TRUST_CONFIDENCE = 0.5


def _alpha(cutoff_hz: float, dt: float) -> float:
    """Smoothing factor of an exponential filter with cut-off ``cutoff_hz`` at time step ``dt``."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


def one_euro(values: np.ndarray, times: np.ndarray, min_cutoff: float = 1.0,
             beta: float = DEFAULT_BETA, d_cutoff: float = 1.0,
             weights: np.ndarray | None = None) -> np.ndarray:
    """One Euro filter over a 1-D signal ``values`` sampled at ``times`` (seconds).

    NaN samples stay NaN and restart the filter; samples whose time does not advance are
    passed through unfiltered. ``weights`` (same shape, 0..1, default all 1) scale each
    sample's pull on the estimate (see the module docstring). Returns a new array.
    """
    x = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.clip(np.asarray(weights, dtype=np.float64), 0, 1)
    out = np.full_like(x, np.nan)
    prev_x = prev_dx = prev_t = None
    for i in range(len(x)):
        v = x[i]
        if not np.isfinite(v):
            prev_x = None  # a gap: start afresh after it
            continue
        if prev_x is None:
            out[i] = v
            if w[i] > 0:  # start from the first sample with any trust, never from a zero one
                prev_x, prev_dx, prev_t = v, 0.0, t[i]
            continue
        dt = t[i] - prev_t
        if not dt > 0:
            out[i] = v
            continue
        dx = (v - prev_x) / dt
        a_d = _alpha(d_cutoff, dt) * w[i]
        dx_hat = a_d * dx + (1 - a_d) * prev_dx
        cutoff = min_cutoff + beta * abs(dx_hat)
        a = _alpha(cutoff, dt) * w[i]
        out[i] = prev_x = a * v + (1 - a) * prev_x
        prev_dx, prev_t = dx_hat, t[i]
    return out


def smooth_series(series: PoseSeries, min_cutoff: float = 1.0, beta: float = DEFAULT_BETA,
                  d_cutoff: float = 1.0) -> PoseSeries:
    """A new ``PoseSeries`` with every joint's x and y One Euro filtered (see the module
    docstring; ``beta`` in Hz per frame height per second; confidence weights each sample).
    Confidences, times and the rest are copied unchanged; ``meta['smoothing']`` records the
    parameters."""
    out = copy.copy(series)
    out.meta = dict(series.meta)
    kp = np.array(series.keypoints, dtype=np.float64, copy=True)
    scale = float(series.frame_size[1]) if series.frame_size and series.frame_size[1] else 1.0
    times = np.asarray(series.times, dtype=np.float64)
    trust = np.clip(np.nan_to_num(np.asarray(series.confidence, dtype=np.float64)) / FULL_TRUST_CONFIDENCE, 0, 1)
    for j in range(kp.shape[1]):
        for c in range(2):
            kp[:, j, c] = one_euro(kp[:, j, c] / scale, times, min_cutoff, beta, d_cutoff,
                                   trust[:, j]) * scale
    out.keypoints = kp
    out.meta["smoothing"] = {"filter": "one_euro", "min_cutoff_hz": min_cutoff, "beta": beta,
                             "d_cutoff_hz": d_cutoff, "speed_unit": "frame heights per second",
                             "full_trust_confidence": FULL_TRUST_CONFIDENCE}
    return out
