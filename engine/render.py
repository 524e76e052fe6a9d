"""Drawing on frames: the lower-body skeleton, knee angles, a rep counter and heatmaps.

All drawing takes and returns RGB uint8 frames in frame pixels; colours come from
``engine.joints`` (left orange, right blue). Nothing here decides anything: it shows a
``PoseSeries`` and, optionally, the squat analysis of it.
"""
from __future__ import annotations

import cv2
import numpy as np

from .analysis.thresholds import MIN_CONFIDENCE
from .joints import JOINTS, SKELETON, edge_color, side_of, SIDE_COLORS
from .pose import PoseSeries

#: Joints below this confidence are drawn hollow and their edges thin: the confidence below
#: which the analysis does not use a joint, so the video shows what the numbers rest on.
DRAW_MIN_CONFIDENCE = MIN_CONFIDENCE


def _scale(frame: np.ndarray) -> float:
    return max(frame.shape[0], frame.shape[1]) / 720.0


def draw_skeleton(frame: np.ndarray, kp: np.ndarray, conf: np.ndarray,
                  min_conf: float = DRAW_MIN_CONFIDENCE) -> np.ndarray:
    """Skeleton of one frame's six joints (kp (6, 2) frame pixels, conf (6,)). Returns a copy."""
    out = frame.copy()
    s = _scale(frame)
    ok = np.isfinite(kp).all(axis=1)
    for a, b in SKELETON:
        if ok[a] and ok[b]:
            strong = conf[a] >= min_conf and conf[b] >= min_conf
            cv2.line(out, tuple(np.round(kp[a]).astype(int)), tuple(np.round(kp[b]).astype(int)),
                     edge_color((a, b)), max(1, int((4 if strong else 1) * s)), cv2.LINE_AA)
    for j in range(len(JOINTS)):
        if not ok[j]:
            continue
        c = tuple(np.round(kp[j]).astype(int))
        r = max(2, int(6 * s))
        color = SIDE_COLORS[side_of(j)]
        cv2.circle(out, c, r, color, -1 if conf[j] >= min_conf else max(1, int(2 * s)), cv2.LINE_AA)
        cv2.circle(out, c, r, (255, 255, 255), max(1, int(s)), cv2.LINE_AA)
    return out


def put_label(frame: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.8,
              color=(255, 255, 255)) -> None:
    """Text with a dark outline, legible on any background (in place)."""
    s = _scale(frame) * scale
    th = max(1, int(2 * s))
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, s, (0, 0, 0), th + 3, cv2.LINE_AA)
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, s, color, th, cv2.LINE_AA)


def heatmap_overlay(frame: np.ndarray, series: PoseSeries, t: int, alpha: float = 0.55) -> np.ndarray:
    """The frame with frame ``t``'s heatmaps (max over joints, colour-mapped) pasted back from
    the model's crop into frame pixels. Frames without heatmaps come back unchanged."""
    if series.heatmaps is None or series.crops is None or series.crops[t] is None:
        return frame.copy()
    crop = series.crops[t]
    hm = np.clip(series.heatmaps[t].astype(np.float32).max(axis=0), 0, 1)
    up = cv2.resize(hm, crop.output_size, interpolation=cv2.INTER_LINEAR)
    h, w = frame.shape[:2]
    back = crop.unwarp(up, (w, h))
    color = cv2.applyColorMap((back * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    a = (np.clip(back, 0, 1) * alpha)[..., None]
    out = frame.astype(np.float32) * (1 - a) + color.astype(np.float32) * a
    return out.astype(np.uint8)


def annotate(frame: np.ndarray, series: PoseSeries, t: int, knee_angles=None, reps_done: int | None = None,
             title: str | None = None, unreliable: bool = False) -> np.ndarray:
    """One annotated frame: skeleton, knee angles at the knees, rep counter and model name.

    knee_angles: (left, right) degrees for frame ``t`` or None; reps_done: reps completed by
    this frame; unreliable: say on the frame that its joints were not used (marked, not
    guessed)."""
    out = draw_skeleton(frame, series.keypoints[t], series.confidence[t])
    s = _scale(frame)
    if knee_angles is not None:
        for j, ang in ((JOINTS.index("left_knee"), knee_angles[0]), (JOINTS.index("right_knee"), knee_angles[1])):
            p = series.keypoints[t, j]
            if np.isfinite(p).all() and ang is not None and np.isfinite(ang):
                put_label(out, f"{ang:.0f}", (int(p[0] + 10 * s), int(p[1])), 0.7, SIDE_COLORS[side_of(j)])
    y = int(36 * s)
    if reps_done is not None:
        put_label(out, f"Reps: {reps_done}", (int(12 * s), y), 1.0)
        y += int(34 * s)
    if title:
        put_label(out, title, (int(12 * s), y), 0.6)
        y += int(28 * s)
    if unreliable:
        put_label(out, "joints unreliable", (int(12 * s), y), 0.6, (255, 80, 80))
    return out
