"""The lifter on the real side-view clips: its 3-D knee angle against the 2-D knee angle a
pose model gives from the side, where the 2-D figure is trustworthy (the issue's second goal:
within 8 degrees median). The clips are never used in training."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.analysis import analyze_series
from engine.analysis.angles import knee_angles
from .predict import lift_series


def side_clips(clips_dir: Path) -> list[Path]:
    """The clips ``clips.json`` labels plainly 'side' (not 'side, then front'), and that
    contain squats."""
    manifest = json.loads((clips_dir / "clips.json").read_text())
    items = manifest["clips"] if isinstance(manifest, dict) else manifest
    return [clips_dir / c["file"] for c in items if c.get("view") == "side" and c.get("reps", 0) > 0]


def side_view_agreement(clips_dir: Path, model, pose_model: str = "mediapipe", stride: int = 1,
                        log=print) -> dict:
    """Per side-view clip: the median |3-D knee angle - 2-D knee angle| over the frames the
    analysis calls side with both legs' angles known (left and right pooled), and the same
    at the bottom of each rep (the frames within 20 degrees of the clip's deepest 2-D knee
    angle); overall medians over all those frames."""
    from engine.video.pipeline import make_predictor, predict
    predictor = make_predictor(pose_model)
    out, pooled, pooled_deep = {}, [], []
    for clip in side_clips(clips_dir):
        series = predict(clip, predictor, stride)
        rep = analyze_series(series)
        k2 = rep.knee_angle  # (T, 2), NaN where unreliable
        k3 = knee_angles(lift_series(series, model))
        side = np.asarray(rep.frame_views) == "side"
        ok = side[:, None] & np.isfinite(k2) & np.isfinite(k3)
        d = np.abs(k3 - k2)[ok]
        with np.errstate(all="ignore"):
            deep = ok & (k2 <= np.nanmin(np.where(ok, k2, np.nan)) + 20)
        dd = np.abs(k3 - k2)[deep]
        pooled.append(d)
        pooled_deep.append(dd)
        out[clip.name] = {"frames": int(ok.any(1).sum()), "median_abs_diff_deg": _m(d),
                          "bottom_median_abs_diff_deg": _m(dd),
                          "reps": rep.reps,
                          "bottom_knee_2d_3d": [[_m([d2["bottom_knee_angle"]]),
                                                 _m([d2.get("3d", {}).get("bottom_knee_angle")])]
                                                for d2 in _rep3d(rep, series, model)]}
        if log:
            log(f"{clip.name}: median |3-D - 2-D| knee {out[clip.name]['median_abs_diff_deg']} deg "
                f"over {out[clip.name]['frames']} frames")
    allv = np.concatenate(pooled) if pooled else np.zeros(0)
    deepv = np.concatenate(pooled_deep) if pooled_deep else np.zeros(0)
    return {"pose_model": pose_model, "clips": out, "median_abs_diff_deg": _m(allv),
            "bottom_median_abs_diff_deg": _m(deepv)}


def _rep3d(rep, series, model) -> list[dict]:
    from .predict import add_3d
    report = rep.to_json()
    add_3d(report, series, model, {})
    return report["rep_details"]


def _m(v) -> float | None:
    v = np.asarray([x for x in np.ravel(v) if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    return round(float(np.median(v)), 1) if len(v) else None
