"""Where models disagree: per frame, how far apart several models put each joint.

Pure functions on the models' ``PoseSeries`` of one clip (no video, no drawing). Distances
are in **leg lengths**: one leg length is the median over the clip, both sides and every
model of hip->knee + knee->ankle (image pixels) where the three joints of a leg are reliable,
so a figure does not depend on the camera's distance or resolution (the analysis's
thresholds use the same unit, ``thresholds``). 0.1 leg length is about a fifth of a thigh.

Only reliable joints count (confidence >= ``MIN_CONFIDENCE``, as in the analysis): a joint
one model did not find has no distance to the others in that frame (NaN), not a large one.

    a = agreement([series_a, series_b, series_mp], reference="mediapipe")
    a.spread[t, j]          # largest distance between any two models' joint j in frame t
    a.frame_spread[t]       # the worst joint of frame t
    a.from_reference["dilated"][t, j]   # dilated's joint j from MediaPipe's
    next_disagreement(a, position)      # the next frame where the models part ways
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.pose import PoseSeries
from .angles import reliable_keypoints, segment_lengths
from .thresholds import MIN_CONFIDENCE

#: Models disagree in a frame when some joint is this far apart (leg lengths) between two of
#: them: about a fifth of a thigh, well over the few hundredths two good models differ by on
#: a clear frame (oblique-single.mp4: medians 0.02-0.06) and under a joint put on the wrong
#: bone (a knee on the shin is ~0.25).
DISAGREE_LEGS = 0.1


@dataclass
class Agreement:
    """How far apart the models put each joint, per frame of their common frames."""

    names: list[str]  # the models, in the order given
    frame_indices: np.ndarray  # (T,) frames of the clip that every model processed
    times: np.ndarray  # (T,) seconds
    leg_px: float  # one leg length in pixels (NaN when no model found a whole leg)
    spread: np.ndarray  # (T, 6) leg lengths: largest distance between two models; NaN = < 2 found it
    reference: str | None = None  # the reference model (MediaPipe) when it is among the names
    #: per other model, (T, 6) leg lengths from the reference's joint (NaN = either missing)
    from_reference: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def frame_spread(self) -> np.ndarray:
        """(T,) the largest joint spread of each frame (NaN where no joint has two models)."""
        with np.errstate(all="ignore"):
            s = self.spread
            out = np.full(len(s), np.nan)
            ok = np.isfinite(s).any(axis=1)
            out[ok] = np.nanmax(s[ok], axis=1)
            return out

    def summary(self) -> dict:
        """Per model: median over frames of its mean joint distance from the reference
        (leg lengths), and the share of frames where the models disagree."""
        fs = self.frame_spread
        out = {"leg_px": None if not np.isfinite(self.leg_px) else round(float(self.leg_px), 1),
               "disagree_share": float(np.mean(fs[np.isfinite(fs)] > DISAGREE_LEGS)) if np.isfinite(fs).any() else None,
               "from_reference": {}}
        for name, d in self.from_reference.items():
            with np.errstate(all="ignore"):
                per_frame = np.nanmean(np.where(np.isfinite(d), d, np.nan), axis=1)
            v = per_frame[np.isfinite(per_frame)]
            out["from_reference"][name] = float(np.median(v)) if len(v) else None
        return out


def common_frames(series: Sequence[PoseSeries]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frame indices every series holds, and for each series the rows of those frames."""
    common = series[0].frame_indices
    for s in series[1:]:
        common = np.intersect1d(common, s.frame_indices)
    common = np.asarray(common, dtype=int)
    rows = []
    for s in series:
        where = {int(f): i for i, f in enumerate(s.frame_indices)}
        rows.append(np.array([where[int(f)] for f in common], dtype=int))
    return common, rows


def leg_length(keypoints: Sequence[np.ndarray]) -> float:
    """Median hip->knee + knee->ankle (pixels) over frames, sides and the given (T, 6, 2)
    arrays of reliable joints (NaN = unreliable); NaN when no whole leg is found anywhere."""
    lengths = [np.add(*segment_lengths(kp)).ravel() for kp in keypoints]
    v = np.concatenate(lengths) if lengths else np.array([])
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.median(v)) if len(v) else float("nan")


def agreement(series: Sequence[PoseSeries], reference: str | None = None,
              min_confidence: float = MIN_CONFIDENCE) -> Agreement:
    """Distances between the models' joints on the frames they share (see the module).

    ``series``: one per model, of the same clip (their ``model`` names them). ``reference``:
    the name of the model the others are measured from (MediaPipe in the app), if present."""
    if not series:
        raise ValueError("agreement needs at least one series")
    names = [s.model or f"model {i + 1}" for i, s in enumerate(series)]
    frames, rows = common_frames(series)
    kps = [reliable_keypoints(s.keypoints[r], s.confidence[r], min_confidence) for s, r in zip(series, rows)]
    times = np.asarray(series[0].times)[rows[0]] if len(frames) else np.zeros(0)
    leg = leg_length(kps)
    spread = np.full((len(frames), kps[0].shape[1] if kps else 6), np.nan)
    if len(series) >= 2 and np.isfinite(leg):
        stack = np.stack(kps)  # (M, T, 6, 2)
        # all pairwise distances (M, M, T, 6); NaN where either joint is unreliable
        d = np.linalg.norm(stack[:, None] - stack[None, :], axis=-1) / leg
        iu = np.triu_indices(len(series), k=1)
        pairs = d[iu]  # (P, T, 6)
        ok = np.isfinite(pairs).any(axis=0)
        spread[ok] = np.nanmax(pairs[:, ok], axis=0)
    ref = reference if reference in names else None
    from_ref: dict[str, np.ndarray] = {}
    if ref is not None and np.isfinite(leg):
        r = kps[names.index(ref)]
        for name, kp in zip(names, kps):
            if name != ref:
                from_ref[name] = np.linalg.norm(kp - r, axis=-1) / leg
    return Agreement(names, frames, times, leg, spread, ref, from_ref)


def disagreements(frame_spread: np.ndarray, threshold: float = DISAGREE_LEGS) -> list[tuple[int, int, int]]:
    """Runs of consecutive frames whose spread exceeds ``threshold``: (first, worst, last)
    positions, in time order (frames without a figure end a run)."""
    over = np.nan_to_num(np.asarray(frame_spread, dtype=float), nan=-np.inf) > threshold
    runs, start = [], None
    for i, o in enumerate(np.append(over, False)):
        if o and start is None:
            start = i
        elif not o and start is not None:
            seg = np.asarray(frame_spread[start:i], dtype=float)
            runs.append((start, start + int(np.nanargmax(seg)), i - 1))
            start = None
    return runs


def next_disagreement(a: Agreement, position: int, threshold: float = DISAGREE_LEGS) -> int | None:
    """The worst frame (position in ``a``'s frames) of the first disagreement that starts after
    ``position``, wrapping round to the clip's first; None when the models never disagree."""
    runs = disagreements(a.frame_spread, threshold)
    if not runs:
        return None
    for first, worst, _ in runs:
        if first > position:
            return worst
    return runs[0][1]
