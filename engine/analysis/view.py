"""Side or front view, per frame and as segments (a clip may cut from one view to another).

Cue: from the side the two hip joints overlap in the image; from the front they are about a
fifth of a leg length apart. Per frame: |x left hip - x right hip| / leg length (the longer
of thigh + shin on the two sides, both measured in the same frame, so a cut to a different
zoom does not matter), median-filtered over ``VIEW_MEDIAN_S``; frames without both hips take
their neighbours' value. Runs shorter than ``MIN_VIEW_SEGMENT_S`` are merged into the
previous run (or the next one at the start).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import thresholds as th
from .angles import segment_lengths

SIDE, FRONT = "side", "front"


@dataclass
class ViewSegment:
    view: str
    start: int  # first frame (index into the series)
    end: int  # one past the last frame

    def to_json(self, times: np.ndarray) -> dict:
        last = min(self.end, len(times)) - 1
        return {"view": self.view, "start_s": float(times[self.start]), "end_s": float(times[last]),
                "start_frame": self.start, "end_frame": last}


def running_median(x: np.ndarray, half: int) -> np.ndarray:
    """NaN-ignoring running median with a window of ``2 * half + 1`` samples (shrinking at
    the ends); NaN only where the whole window is NaN."""
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        w = x[max(0, i - half): i + half + 1]
        w = w[np.isfinite(w)]
        if len(w):
            out[i] = np.median(w)
    return out


def hip_separation(kp: np.ndarray) -> np.ndarray:
    """(T,) horizontal hip gap over leg length per frame; NaN where not measurable.
    ``kp``: (T, 6, 2) with unreliable joints NaN."""
    thigh, shin = segment_lengths(kp)
    with np.errstate(all="ignore"):
        leg = np.nanmax(thigh + shin, axis=1) if len(kp) else np.zeros(0)
        return np.abs(kp[:, 0, 0] - kp[:, 1, 0]) / leg


def frame_views(kp: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(T,) array of 'side' / 'front' / '' (unknown: no frame of the clip shows both hips)."""
    n = len(times)
    if n == 0:
        return np.array([], dtype=object)
    sep = hip_separation(kp)
    dt = float(np.median(np.diff(times))) if n > 1 else 1.0
    half = max(1, int(round(th.VIEW_MEDIAN_S / 2 / max(dt, 1e-6))))
    sep = running_median(sep, half)
    good = np.flatnonzero(np.isfinite(sep))
    if len(good) == 0:
        return np.full(n, "", dtype=object)
    # fill unknown frames from the nearest known one
    nearest = good[np.clip(np.searchsorted(good, np.arange(n)), 0, len(good) - 1)]
    prev = good[np.clip(np.searchsorted(good, np.arange(n)) - 1, 0, len(good) - 1)]
    pick = np.where(np.abs(prev - np.arange(n)) < np.abs(nearest - np.arange(n)), prev, nearest)
    sep = sep[pick]
    return np.where(sep >= th.FRONT_MIN_SEPARATION, FRONT, SIDE).astype(object)


def view_segments(views: np.ndarray, times: np.ndarray) -> list[ViewSegment]:
    """Runs of one view, short runs merged into their neighbours, adjacent equal runs joined."""
    n = len(views)
    if n == 0 or views[0] == "":
        return [ViewSegment("", 0, n)] if n else []
    runs: list[ViewSegment] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or views[i] != views[start]:
            runs.append(ViewSegment(str(views[start]), start, i))
            start = i

    def dur(s: ViewSegment) -> float:
        return float(times[s.end - 1] - times[s.start]) if s.end > s.start else 0.0

    changed = True
    while changed and len(runs) > 1:
        changed = False
        k = min(range(len(runs)), key=lambda j: dur(runs[j]))
        if dur(runs[k]) < th.MIN_VIEW_SEGMENT_S:
            if k == 0:
                runs[1] = ViewSegment(runs[1].view, runs[0].start, runs[1].end)
            else:
                runs[k - 1] = ViewSegment(runs[k - 1].view, runs[k - 1].start, runs[k].end)
            del runs[k]
            merged = [runs[0]]
            for r in runs[1:]:
                if r.view == merged[-1].view:
                    merged[-1] = ViewSegment(r.view, merged[-1].start, r.end)
                else:
                    merged.append(r)
            runs = merged
            changed = True
    return runs


def describe(segments: list[ViewSegment]) -> str:
    """'side', 'front', 'side, then front', ... or 'unknown'."""
    names = [s.view for s in segments if s.view]
    return ", then ".join(names) if names else "unknown"
