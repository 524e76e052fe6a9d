"""Drawing on frames: the lower-body skeleton, knee angles, a rep counter and heatmaps.

All drawing takes and returns RGB uint8 frames in frame pixels; colours come from
``engine.joints`` (left orange, right blue). Nothing here decides anything: it shows a
``PoseSeries`` and, optionally, the squat analysis of it.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.analysis.thresholds import MIN_CONFIDENCE
from engine.joints import JOINTS, SKELETON, edge_color, side_of, SIDE_COLORS
from engine.pose import PoseSeries

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
              color=(255, 255, 255), anchor: str = "left") -> tuple[int, int]:
    """Text on a darkened box, legible on any background (in place). ``org`` is the text's
    baseline start (``anchor='left'``) or end (``'right'``); returns the box's (width, height)
    in pixels. Text never gets smaller than legible on small frames."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    s = max(_scale(frame), 0.75) * scale
    th = max(1, int(round(2 * s)))
    (w, h), base = cv2.getTextSize(text, font, s, th)
    x, y = int(org[0]) - (w if anchor == "right" else 0), int(org[1])
    pad = max(2, int(round(4 * s)))
    x0, y0 = max(x - pad, 0), max(y - h - pad, 0)
    x1, y1 = min(x + w + pad, frame.shape[1]), min(y + base + pad, frame.shape[0])
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = (frame[y0:y1, x0:x1] * 0.35).astype(frame.dtype)
    cv2.putText(frame, text, (x, y), font, s, color, th, cv2.LINE_AA)
    return w + 2 * pad, h + base + 2 * pad


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
    s = max(_scale(frame), 0.75)
    if knee_angles is not None:
        knees = [(JOINTS.index("left_knee"), knee_angles[0]), (JOINTS.index("right_knee"), knee_angles[1])]
        xs = [series.keypoints[t, j, 0] for j, _ in knees]
        for k, (j, ang) in enumerate(knees):
            p = series.keypoints[t, j]
            if np.isfinite(p).all() and ang is not None and np.isfinite(ang):
                # each label on its own knee's outer side, so that overlapping knees (side view)
                # do not put one number on top of the other
                other = xs[1 - k]
                outer_right = not np.isfinite(other) or other < p[0] or (other == p[0] and k == 0)
                dx = 12 * s if outer_right else -12 * s
                put_label(out, f"{ang:.0f}", (int(p[0] + dx), int(p[1] + 8 * s)), 0.7,
                          SIDE_COLORS[side_of(j)], "left" if outer_right else "right")
    x, y = int(10 * s), int(10 * s)
    lines = []
    if reps_done is not None:
        lines.append((f"Reps: {reps_done}", 1.0, (255, 255, 255)))
    if title:
        lines.append((title, 0.6, (255, 255, 255)))
    if unreliable:
        lines.append(("joints unreliable", 0.6, (255, 110, 110)))
    for text, size, color in lines:
        (_, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, s * size, max(1, int(round(2 * s * size))))
        _, box_h = put_label(out, text, (x, y + h + int(4 * s)), size, color)
        y += box_h + int(4 * s)
    return out
