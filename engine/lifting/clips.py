"""The lifter on the real clips (never used in training), with MediaPipe Pose's joints as input:

* against the 2-D knee angle on the side-view clips, where the 2-D figure is trustworthy (the
  issue's second goal: within 8 degrees median);
* against MediaPipe's own 3-D estimate (its world landmarks) on every clip with squats:
  MPJPE after Procrustes (its frame is not ours) and the knee angle. MediaPipe's 3-D is itself
  an estimate, not ground truth.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from engine.analysis import analyze_series
from engine.analysis.angles import knee_angles
from .metrics import joint_errors
from .predict import add_3d, lift_series


def squat_clips(clips_dir: Path) -> list[tuple[Path, str]]:
    """(clip, labelled view) for the clips of ``clips.json`` with at least one rep."""
    manifest = json.loads((clips_dir / "clips.json").read_text())
    items = manifest["clips"] if isinstance(manifest, dict) else manifest
    return [(clips_dir / c["file"], c.get("view", "")) for c in items if c.get("reps", 0) > 0]


def clip_agreement(clips_dir: Path, model, stride: int = 1, flip: bool = True, log=print) -> dict:
    """Per clip: with MediaPipe (full) giving the 2-D joints, the median |3-D - 2-D| knee angle
    over the frames the analysis calls side (clips labelled plainly 'side' only; left and right
    pooled), the same near the bottom (within 20 degrees of the clip's deepest 2-D knee angle),
    each rep's bottom knee angle in 2-D and 3-D; on every clip the median knee-angle difference
    and the MPJPE after Procrustes against MediaPipe's world landmarks. Overall medians pool
    the frames of all clips."""
    from engine.video.mediapipe_pose import MediaPipePose
    out, side_all, deep_all, world_k, world_pa = {}, [], [], [], []
    for clip, view in squat_clips(clips_dir):
        series = MediaPipePose().predict_video(str(clip), stride=stride, keep_world=True)
        rep = analyze_series(series)
        kp3 = lift_series(series, model, flip)
        k3 = knee_angles(kp3)
        world = series.meta["world"]
        res = {"view": view, "reps": rep.reps}
        if view == "side":
            k2 = rep.knee_angle  # (T, 2), NaN where unreliable
            ok = (np.asarray(rep.frame_views) == "side")[:, None] & np.isfinite(k2) & np.isfinite(k3)
            d = np.abs(k3 - k2)[ok]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                deep = ok & (k2 <= np.nanmin(np.where(ok, k2, np.nan)) + 20)
            side_all.append(d)
            deep_all.append(np.abs(k3 - k2)[deep])
            report = rep.to_json()
            add_3d(report, series, model, {})
            res.update({"side_frames": int(ok.any(1).sum()), "side_knee_median_abs_diff_deg": _m(d),
                        "side_bottom_knee_median_abs_diff_deg": _m(deep_all[-1]),
                        "rep_bottom_knee_2d_3d_deg": [[d2["bottom_knee_angle"],
                                                       d2["3d"].get("bottom_knee_angle")]
                                                      for d2 in report["rep_details"]]})
        both = np.isfinite(kp3).all(axis=(1, 2)) & np.isfinite(world).all(axis=(1, 2))
        if both.any():
            kd = np.abs(k3[both] - knee_angles(world[both])).ravel()
            pa = joint_errors(kp3[both], world[both], procrustes=True).mean(axis=1) * 1000
            world_k.append(kd)
            world_pa.append(pa)
            res.update({"world_frames": int(both.sum()), "world_knee_median_abs_diff_deg": _m(kd),
                        "world_pa_mpjpe_mm": round(float(pa.mean()), 1)})
        out[clip.name] = res
        if log:
            log(f"{clip.name}: " + ", ".join(f"{k} {v}" for k, v in res.items()
                                              if k.endswith(("_deg", "_mm"))))
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
    return {"pose_model": "mediapipe", "clips": out,
            "side_knee_median_abs_diff_deg": _m(cat(side_all)),
            "side_bottom_knee_median_abs_diff_deg": _m(cat(deep_all)),
            "world_knee_median_abs_diff_deg": _m(cat(world_k)),
            "world_pa_mpjpe_mm": round(float(cat(world_pa).mean()), 1) if world_pa else None}


def _m(v) -> float | None:
    v = np.asarray(v, dtype=float).ravel()
    v = v[np.isfinite(v)]
    return round(float(np.median(v)), 1) if len(v) else None
