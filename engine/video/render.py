"""Drawing on frames: the lower-body skeleton, knee angles, a rep counter and heatmaps.

All drawing takes and returns RGB uint8 frames in frame pixels; colours come from
``engine.joints`` (left orange, right blue). Nothing here decides anything: it shows a
``PoseSeries`` and, optionally, the squat analysis of it.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from engine.analysis.thresholds import MIN_CONFIDENCE
from engine.geometry import Crop, fit_aspect, lower_body_box
from engine.joints import JOINT_COLORS, JOINTS, SKELETON, edge_color, side_of, SIDE_COLORS
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


def label_box(frame_shape, text: str, org: tuple[int, int], scale: float = 0.8,
              anchor: str = "left") -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the box ``put_label`` darkens for ``text`` at ``org``, unclipped."""
    s = max(max(frame_shape[0], frame_shape[1]) / 720.0, 0.75) * scale
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, s, max(1, int(round(2 * s))))
    x, y = int(org[0]) - (w if anchor == "right" else 0), int(org[1])
    pad = max(2, int(round(4 * s)))
    return x - pad, y - h - pad, x + w + pad, y + base + pad


def put_label(frame: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.8,
              color=(255, 255, 255), anchor: str = "left") -> tuple[int, int]:
    """Text on a darkened box, legible on any background (in place). ``org`` is the text's
    baseline start (``anchor='left'``) or end (``'right'``); returns the box's (width, height)
    in pixels. Text never gets smaller than legible on small frames."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    s = max(_scale(frame), 0.75) * scale
    th = max(1, int(round(2 * s)))
    bx0, by0, bx1, by1 = label_box(frame.shape, text, org, scale, anchor)
    pad = max(2, int(round(4 * s)))
    x, y = bx0 + pad, int(org[1])
    w, h = bx1 - bx0 - 2 * pad, by1 - by0 - 2 * pad
    x0, y0 = max(bx0, 0), max(by0, 0)
    x1, y1 = min(bx1, frame.shape[1]), min(by1, frame.shape[0])
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = (frame[y0:y1, x0:x1] * 0.35).astype(frame.dtype)
    cv2.putText(frame, text, (x, y), font, s, color, th, cv2.LINE_AA)
    return w + 2 * pad, h + 2 * pad


#: Colour map of the heatmaps: OpenCV's Turbo (dark blue 0 -> green -> red 1), legible over
#: any picture; ``draw_legend`` shows it with its scale.
HEATMAP_COLORMAP = cv2.COLORMAP_TURBO
#: Opacity of a heatmap value of 1 over the frame; a value v is blended with opacity
#: HEATMAP_ALPHA * sqrt(v), so that a weak peak still shows ...
HEATMAP_ALPHA = 0.7
#: ... and values under this are left out (transparent): the faint floor of a heatmap would
#: otherwise tint the model's whole crop and draw its rectangle on the frame.
HEATMAP_FLOOR = 0.05


def heatmap_colors(values: np.ndarray) -> np.ndarray:
    """RGB uint8 colours (..., 3) of heatmap values in [0, 1] (``HEATMAP_COLORMAP``)."""
    v = (np.clip(values, 0, 1) * 255).astype(np.uint8)
    return cv2.applyColorMap(v.reshape(v.shape[0], -1), HEATMAP_COLORMAP)[..., ::-1].reshape(*v.shape, 3)


def heatmap_in_crop(series: PoseSeries, t: int, joint: int | None = None) -> np.ndarray | None:
    """Frame ``t``'s heatmap of ``joint`` (an index into JOINTS; None = the maximum over the
    six joints) at the model's input size, on the confidence scale of the series (the value
    at a joint's peak is the confidence the analysis uses: heatmap x the model's
    ``confidence_scale``, clipped to [0, 1]). None when the series kept no heatmaps."""
    if series.heatmaps is None or series.crops is None or series.crops[t] is None:
        return None
    hm = series.heatmaps[t].astype(np.float32)
    hm = hm.max(axis=0) if joint is None else hm[int(joint)]
    hm = np.clip(hm * float(series.meta.get("confidence_scale", 1.0)), 0, 1)
    return cv2.resize(hm, series.crops[t].output_size, interpolation=cv2.INTER_LINEAR)


def heatmaps_per_joint(series: PoseSeries, t: int) -> np.ndarray | None:
    """Frame ``t``'s six heatmaps (6, H, W) at the model's input size, each divided by its
    own peak (so every joint shows where it is, however sure the model is of it; a joint
    whose peak is under ``HEATMAP_FLOOR`` is left all 0). None without heatmaps."""
    if series.heatmaps is None or series.crops is None or series.crops[t] is None:
        return None
    # over the raw peak, before the confidence scale's clip at 1 (which flattens a sure joint's
    # top into a plateau as wide as the leg)
    hm = np.clip(series.heatmaps[t].astype(np.float32), 0, None)
    peak = hm.reshape(len(hm), -1).max(axis=1)
    sure = peak * float(series.meta.get("confidence_scale", 1.0)) >= HEATMAP_FLOOR
    norm = np.where(sure[:, None, None], hm / np.maximum(peak, 1e-6)[:, None, None], 0.0)
    size = series.crops[t].output_size
    return np.stack([cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) for m in norm])


#: Per-joint view: each joint's own heatmap (over its peak) in its colour (``JOINT_COLORS``),
#: opaque HEATMAP_ALPHA x n^2 at n of its peak and left out under PER_JOINT_FLOOR of it, so
#: six compact spots rather than one blob over the leg.
PER_JOINT_FLOOR = 0.7


def blend_joint_heatmaps(image: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``image`` (RGB uint8) with six per-joint heatmaps ``values`` (6, H, W; each over its
    own peak, ``heatmaps_per_joint``) drawn in the joints' colours; where two overlap the
    higher wins."""
    v = np.clip(values, 0, 1).astype(np.float32)
    top = v.argmax(axis=0)
    n = np.take_along_axis(v, top[None], 0)[0]
    a = (HEATMAP_ALPHA * n ** 2 * (n >= PER_JOINT_FLOOR))[..., None]
    colors = np.asarray(JOINT_COLORS, np.float32)[top]
    return (image.astype(np.float32) * (1 - a) + colors * a).astype(np.uint8)


def draw_joint_legend(image: np.ndarray) -> np.ndarray:
    """The six joints' colours with their short names (L hip ... R ankle), in the image's
    lower right corner (in place; returns the image)."""
    h, w = image.shape[:2]
    s = max(_scale(image), 0.75)
    y = h - int(10 * s)
    for j in reversed(range(len(JOINTS))):
        side, part = JOINTS[j].split("_")
        _, bh = put_label(image, f"{side[0].upper()} {part}", (w - int(10 * s), y), 0.45, JOINT_COLORS[j], "right")
        y -= bh
    return image


def blend_heatmap(image: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``image`` (RGB uint8) with ``values`` (same H x W, in [0, 1]) colour-mapped over it
    (opacity ``HEATMAP_ALPHA`` x sqrt(value), none under ``HEATMAP_FLOOR``)."""
    v = np.clip(values, 0, 1).astype(np.float32)
    a = (HEATMAP_ALPHA * np.sqrt(v) * (v >= HEATMAP_FLOOR))[..., None]
    out = image.astype(np.float32) * (1 - a) + heatmap_colors(v).astype(np.float32) * a
    return out.astype(np.uint8)


def heatmap_overlay(frame: np.ndarray, series: PoseSeries, t: int, joint: int | None = None) -> np.ndarray:
    """The frame with frame ``t``'s heatmaps (``heatmap_in_crop``: one joint, or the maximum
    over joints) pasted back from the model's crop into frame pixels and colour-mapped. Frames
    without heatmaps come back unchanged."""
    hm = heatmap_in_crop(series, t, joint)
    if hm is None:
        return frame.copy()
    h, w = frame.shape[:2]
    return blend_heatmap(frame, series.crops[t].unwarp(hm, (w, h)))


def draw_legend(image: np.ndarray, caption: str) -> np.ndarray:
    """A colour bar of the heatmap scale (0 to 1) with ``caption`` above it, in the image's
    lower right corner (in place; returns the image)."""
    h, w = image.shape[:2]
    s = max(_scale(image), 0.75)
    bar_h, bar_w = int(min(0.4 * h, 160 * s)), max(6, int(12 * s))
    margin = int(10 * s)
    x1, y1 = w - margin, h - margin
    x0, y0 = x1 - bar_w, y1 - bar_h
    if x0 < 0 or y0 < 0:
        return image
    ramp = np.linspace(1.0, 0.0, bar_h)[:, None].repeat(bar_w, axis=1)
    image[y0:y1, x0:x1] = heatmap_colors(ramp)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), 1)
    for v in (1.0, 0.5, 0.0):
        y = int(y0 + (1 - v) * (bar_h - 1))
        cv2.line(image, (x0 - int(4 * s), y), (x0, y), (255, 255, 255), 1)
        put_label(image, f"{v:g}", (x0 - int(6 * s), y + int(5 * s)), 0.45, anchor="right")
    put_label(image, caption, (x1, y0 - int(8 * s)), 0.45, anchor="right")
    return image


def view_crop(frame_size: tuple[int, int], region=None, max_side: int = 640) -> Crop:
    """What a panel shows: the whole frame, or ``region`` (x, y, w, h in frame pixels), as a
    ``Crop`` whose output is at most ``max_side`` pixels on its longer side (frames are never
    enlarged; a region is, to the same size)."""
    fw, fh = frame_size
    if region is None:
        x, y, w, h = -0.5, -0.5, float(fw), float(fh)
        k = min(1.0, max_side / max(fw, fh))
    else:
        x, y, w, h = (float(v) for v in region)
        k = max_side / max(w, h)
    out = (max(2, int(round(w * k))), max(2, int(round(h * k))))
    size = (out[0] / k, out[1] / k)
    return Crop((x + w / 2, y + h / 2), size, out)


#: The zoomed view's aspect ratio (width / height) is kept between these, so that a standing
#: athlete's tall narrow region still makes a panel of ordinary shape.
ZOOM_ASPECT = (3 / 4, 4 / 3)


def athlete_region(series: Sequence[PoseSeries], frame_size: tuple[int, int],
                   min_conf: float = DRAW_MIN_CONFIDENCE) -> tuple[float, float, float, float] | None:
    """The region (x, y, w, h, frame pixels) to zoom every panel to: the union of the given
    models' confident joints over the clip (their 1st to 99th percentile, so one stray joint
    does not widen it), grown to the lower-body region of ``engine.geometry.lower_body_box``,
    by a further 10 %, to an aspect in ``ZOOM_ASPECT``, and moved inside the frame where it
    fits. None when no model found two joints anywhere."""
    pts = [s.keypoints[s.confidence >= min_conf] for s in series if len(s)]
    pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 2:
        return None
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    box = lower_body_box(np.array([lo, hi]))
    if box is None:
        return None
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    w, h = w * 1.1, h * 1.1
    aspect = float(np.clip(w / h, *ZOOM_ASPECT))
    w, h = fit_aspect(w, h, aspect)
    fw, fh = frame_size
    if w > fw or h > fh:  # larger than the frame: shrink to fit, keeping the aspect
        k = min(fw / w, fh / h)
        w, h = w * k, h * k
    x = float(np.clip(cx - w / 2, -0.5, fw - 0.5 - w))
    y = float(np.clip(cy - h / 2, -0.5, fh - 0.5 - h))
    return x, y, float(w), float(h)


def _warp_view(frame: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` through the 2x3 view matrix ``m`` (no rotation); a view that shrinks the
    frame resamples it by area first (no aliasing on thin lines), then warps the rest."""
    k = float(m[0, 0])
    if k < 0.8:
        small = cv2.resize(frame, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        # frame pixel p -> small pixel (p + 0.5) * k' - 0.5, with k' the size ratio actually used
        kx, ky = small.shape[1] / frame.shape[1], small.shape[0] / frame.shape[0]
        to_small = np.array([[kx, 0, 0.5 * kx - 0.5], [0, ky, 0.5 * ky - 0.5], [0, 0, 1]])
        m = (np.vstack([m, [0, 0, 1]]) @ np.linalg.inv(to_small))[:2]
        frame = small
    return cv2.warpAffine(frame, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(40, 40, 40))


def render_panel(frame: np.ndarray, series: PoseSeries, t: int, view: Crop, *,
                 heatmap: str | int | None = "all", skeleton: bool = True, knee_angles=None,
                 reps_done: int | None = None, title: str | None = None,
                 unreliable: bool = False) -> np.ndarray:
    """One comparison panel: ``view`` (``view_crop``) of the frame, with frame ``t``'s heatmap
    (``heatmap``: 'joints' = each joint in its own colour over its own peak, 'all' = the
    maximum over joints, a joint index, or None for none) and its legend, the skeleton and
    knee angles (``skeleton``), rep counter and title. The joints and heatmaps are mapped into
    the view, so lines keep their width when zoomed."""
    m = view.matrix
    base = _warp_view(frame, m, view.output_size)
    legend = None
    if heatmap == "joints":
        hms = heatmaps_per_joint(series, t)
        if hms is not None:
            mv = m @ np.vstack([series.crops[t].inverse, [0, 0, 1]])
            values = np.stack([cv2.warpAffine(h, mv, view.output_size, flags=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_CONSTANT, borderValue=0) for h in hms])
            base = blend_joint_heatmaps(base, values)
            legend = "joints"
        else:
            legend = "no heatmaps"
    elif heatmap is not None:
        joint = None if heatmap == "all" else int(heatmap)
        hm = heatmap_in_crop(series, t, joint)
        if hm is not None:
            # input pixels of the model's crop -> frame pixels -> view pixels, in one warp
            to_frame = np.vstack([series.crops[t].inverse, [0, 0, 1]])
            mv = m @ to_frame
            values = cv2.warpAffine(hm, mv, view.output_size, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            base = blend_heatmap(base, values)
            legend = "all joints (max)" if joint is None else JOINTS[joint].replace("_", " ")
        else:
            legend = "no heatmaps"
    kp = view.to_input(series.keypoints[t])
    out = annotate_points(base, kp, series.confidence[t], knee_angles if skeleton else None,
                          reps_done, title, unreliable, skeleton=skeleton)
    if legend == "no heatmaps":
        put_label(out, "no heatmaps (not a heatmap model)", (out.shape[1] - 8, out.shape[0] - 10),
                  0.45, anchor="right")
    elif legend == "joints":
        draw_joint_legend(out)
    elif legend:
        draw_legend(out, legend)
    return out


def annotate(frame: np.ndarray, series: PoseSeries, t: int, knee_angles=None, reps_done: int | None = None,
             title: str | None = None, unreliable: bool = False) -> np.ndarray:
    """One annotated frame: skeleton, knee angles at the knees, rep counter and model name.

    knee_angles: (left, right) degrees for frame ``t`` or None; reps_done: reps completed by
    this frame; unreliable: say on the frame that its joints were not used (marked, not
    guessed)."""
    return annotate_points(frame, series.keypoints[t], series.confidence[t], knee_angles, reps_done,
                           title, unreliable)


def _hits(box, kp: np.ndarray, r: float) -> bool:
    """Does ``box`` (x0, y0, x1, y1) come within ``r`` px of any found joint of ``kp``?"""
    x0, y0, x1, y1 = box
    ok = np.isfinite(kp).all(axis=1)
    dx = np.maximum(np.maximum(x0 - kp[ok, 0], 0), kp[ok, 0] - x1)
    dy = np.maximum(np.maximum(y0 - kp[ok, 1], 0), kp[ok, 1] - y1)
    return bool((np.hypot(dx, dy) < r).any())


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def knee_label_places(frame_shape, kp: np.ndarray, knee_angles, dots: bool = True) -> list[tuple]:
    """Where each knee's angle goes: [(joint, text, org, anchor)] for the knees with a finite
    angle. Each label starts on its own knee's outer side (away from the other knee, so
    overlapping knees of a side view do not put one number on the other) and moves, if it
    would cover a joint's dot (with ``dots``: the dot's radius and a margin) or the other
    label, to the first free place around its knee: out, up-out, down-out, up, down, then
    the inner side."""
    s = max(max(frame_shape[0], frame_shape[1]) / 720.0, 0.75)
    clear = (max(2, int(6 * s)) + 3 * s) if dots else 0.0  # the dot's radius (draw_skeleton) and a margin
    knees = [(JOINTS.index("left_knee"), knee_angles[0]), (JOINTS.index("right_knee"), knee_angles[1])]
    xs = [kp[j, 0] for j, _ in knees]
    out, taken = [], []
    for k, (j, ang) in enumerate(knees):
        p = kp[j]
        if not (np.isfinite(p).all() and ang is not None and np.isfinite(ang)):
            continue
        other = xs[1 - k]
        right = not np.isfinite(other) or other < p[0] or (other == p[0] and k == 0)
        text = f"{ang:.0f}"
        gap, up, down = 12 * s, -14 * s, 30 * s
        tries = [(right, 8 * s), (right, up), (right, down), (right, -34 * s), (right, 52 * s),
                 (not right, 8 * s), (not right, up), (not right, down)]
        place = None
        for side_right, dy in tries:
            org = (int(p[0] + (gap if side_right else -gap)), int(p[1] + dy))
            anchor = "left" if side_right else "right"
            box = label_box(frame_shape, text, org, 0.7, anchor)
            if not (clear and _hits(box, kp, clear)) and not any(_overlap(box, b) for b in taken):
                place = (org, anchor, box)
                break
        if place is None:  # crowded all round: the outer side, as before
            org = (int(p[0] + (gap if right else -gap)), int(p[1] + 8 * s))
            anchor = "left" if right else "right"
            place = (org, anchor, label_box(frame_shape, text, org, 0.7, anchor))
        taken.append(place[2])
        out.append((j, text, place[0], place[1]))
    return out


def annotate_points(frame: np.ndarray, kp: np.ndarray, conf: np.ndarray, knee_angles=None,
                    reps_done: int | None = None, title: str | None = None, unreliable: bool = False,
                    skeleton: bool = True) -> np.ndarray:
    """``annotate`` for one frame's joints ``kp`` (6, 2) in ``frame``'s pixels and ``conf``
    (6,); ``skeleton=False`` leaves the joints and angles out (text only)."""
    out = draw_skeleton(frame, kp, conf) if skeleton else frame.copy()
    s = max(_scale(frame), 0.75)
    if knee_angles is not None:
        for j, text, org, anchor in knee_label_places(out.shape, kp, knee_angles, skeleton):
            put_label(out, text, org, 0.7, SIDE_COLORS[side_of(j)], anchor)
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
