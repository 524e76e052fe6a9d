"""Pictures of one person for the Review tab: a crop for the gallery, the full image for detail.

Joints are told apart by look: visible = filled dot, occluded = hollow ring, fixed by the
reviewer = square with a white border, missing (unlabelled, no position) = listed in red text.
Colours follow ``engine.joints`` (left orange, right blue). Coordinates are original-image
pixels; the detail picture is the whole image at its original size (a click on it is an
image pixel) or a magnified part of it described by a ``View`` that maps clicks back.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.data.coco import Person
from engine.geometry import Crop
from engine.joints import JOINTS, SKELETON, SIDE_COLORS, V_UNLABELED, edge_color, side_of

SHORT = {"left_hip": "LH", "right_hip": "RH", "left_knee": "LK", "right_knee": "RK",
         "left_ankle": "LA", "right_ankle": "RA"}
MISSING_COLOR = (230, 40, 40)
BOX_COLOR = (60, 220, 60)
CROP_SIZE = (192, 256)  # gallery crop (width, height)


def read_rgb(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: image missing or unreadable")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def joints_with_fixes(person: Person, fixes: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xy (6, 2), v (6,), fixed (6,) bool) after applying ``{joint: (x, y, v)}``."""
    xy = person.keypoints.astype(np.float64).copy()
    v = person.visibility.astype(np.int64).copy()
    fixed = np.zeros(len(JOINTS), dtype=bool)
    for name, (x, y, vis) in (fixes or {}).items():
        j = JOINTS.index(name)
        xy[j] = (x, y)
        v[j] = int(vis)
        fixed[j] = True
    return xy, v, fixed


def _draw_joints(img: np.ndarray, xy: np.ndarray, v: np.ndarray, fixed: np.ndarray,
                 scale: float, labels: bool) -> None:
    r = max(2, int(round(4 * scale)))
    th = max(1, int(round(2 * scale)))
    ok = v > V_UNLABELED
    for a, b in SKELETON:
        if ok[a] and ok[b]:
            cv2.line(img, tuple(int(round(c)) for c in xy[a]), tuple(int(round(c)) for c in xy[b]),
                     edge_color((a, b)), th, cv2.LINE_AA)
    for j in range(len(JOINTS)):
        if not ok[j]:
            continue
        c = SIDE_COLORS[side_of(j)]
        p = tuple(int(round(t)) for t in xy[j])
        if fixed[j]:
            cv2.rectangle(img, (p[0] - r - 1, p[1] - r - 1), (p[0] + r + 1, p[1] + r + 1),
                          (255, 255, 255), th + 1)
            cv2.rectangle(img, (p[0] - r, p[1] - r), (p[0] + r, p[1] + r), c,
                          -1 if v[j] == 2 else th)
        elif v[j] == 2:
            cv2.circle(img, p, r + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(img, p, r, c, -1, cv2.LINE_AA)
        else:
            cv2.circle(img, p, r + 1, c, th + 1, cv2.LINE_AA)
        if labels:
            cv2.putText(img, SHORT[JOINTS[j]], (p[0] + r + 2, p[1] - r), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * scale, (255, 255, 255), max(1, th), cv2.LINE_AA)


def _missing_text(img: np.ndarray, v: np.ndarray, scale: float, org=(4, 0)) -> None:
    missing = [SHORT[JOINTS[j]] for j in range(len(JOINTS)) if v[j] == V_UNLABELED]
    if not missing:
        return
    text = "missing: " + " ".join(missing) if len(missing) < len(JOINTS) else "missing: all six"
    fs = 0.45 * scale
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, 1)
    y = org[1] + h + 6
    cv2.rectangle(img, (org[0] - 2, org[1] + 2), (org[0] + w + 4, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (org[0], y), cv2.FONT_HERSHEY_SIMPLEX, fs, MISSING_COLOR,
                max(1, int(scale)), cv2.LINE_AA)


def render_crop(image: np.ndarray, person: Person, fixes: dict | None = None,
                size: tuple[int, int] = CROP_SIZE) -> np.ndarray:
    """The person's box (grown as for training) at ``size`` (w, h) with joints drawn."""
    x, y, w, h = person.bbox
    crop = Crop.from_box((x, y, max(w, 2.0), max(h, 2.0)), size)
    out = crop.warp(image, border_value=(40, 40, 40))
    xy, v, fixed = joints_with_fixes(person, fixes)
    _draw_joints(out, crop.to_input(xy), v, fixed, 1.0, labels=False)
    _missing_text(out, v, 0.9)
    return out


@dataclass(frozen=True)
class View:
    """Which part of the original image a detail picture shows, and how magnified.

    Picture pixel (px, py) shows image pixel (x0 + (px + 0.5) / scale - 0.5, ...): the same
    pixel-centre convention as ``engine.geometry`` and cv2.resize. ``scale == 1`` and
    ``x0 == y0 == 0`` is the whole image at its own size.
    """

    x0: int = 0
    y0: int = 0
    width: int = 0  # region size in image pixels (0: the whole image)
    height: int = 0
    scale: float = 1.0

    def to_image(self, px: float, py: float) -> tuple[float, float]:
        """Picture pixel -> original-image pixel."""
        s = self.scale
        return self.x0 + (px + 0.5) / s - 0.5, self.y0 + (py + 0.5) / s - 0.5

    def to_picture(self, xy: np.ndarray) -> np.ndarray:
        """Original-image pixels (..., 2) -> picture pixels (..., 2)."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy - (self.x0, self.y0) + 0.5) * self.scale - 0.5


#: Zoomed detail: the person box grown this much about its centre, at least ZOOM_MIN_SIDE
#: image pixels a side, magnified so its longer side is about ZOOM_TARGET picture pixels.
ZOOM_PADDING = 1.6
ZOOM_MIN_SIDE = 64
ZOOM_TARGET = 640
ZOOM_MAX_SCALE = 8.0


def zoom_view(person: Person, image_size: tuple[int, int], zoom: bool = True) -> View:
    """The View of the detail picture: the whole image, or (``zoom``) the person's surroundings
    magnified so that small people can be fixed precisely. ``image_size`` = (width, height)."""
    iw, ih = int(image_size[0]), int(image_size[1])
    if not zoom:
        return View(0, 0, iw, ih, 1.0)
    x, y, w, h = person.bbox
    side_w = min(iw, max(w * ZOOM_PADDING, ZOOM_MIN_SIDE))
    side_h = min(ih, max(h * ZOOM_PADDING, ZOOM_MIN_SIDE))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(np.clip(round(cx - side_w / 2.0), 0, max(0, iw - side_w)))
    y0 = int(np.clip(round(cy - side_h / 2.0), 0, max(0, ih - side_h)))
    rw, rh = max(1, int(round(side_w))), max(1, int(round(side_h)))
    rw, rh = min(rw, iw - x0), min(rh, ih - y0)
    scale = float(np.clip(ZOOM_TARGET / max(rw, rh), 1.0, ZOOM_MAX_SCALE))
    return View(x0, y0, rw, rh, scale)


def render_detail(image: np.ndarray, person: Person, fixes: dict | None = None,
                  highlight: str | None = None, view: View | None = None) -> np.ndarray:
    """The image with the person's box, joints (labelled) and fixes: the whole image at its
    original size (a click on it is an image pixel), or the part ``view`` picks, magnified
    (map a click back with ``view.to_image``)."""
    if view is None or (view.x0 == 0 and view.y0 == 0 and view.scale == 1.0
                        and (view.width, view.height) in ((0, 0), (image.shape[1], image.shape[0]))):
        view, out = View(0, 0, image.shape[1], image.shape[0], 1.0), image.copy()
    else:
        region = image[view.y0: view.y0 + view.height, view.x0: view.x0 + view.width]
        size = (max(1, int(round(region.shape[1] * view.scale))),
                max(1, int(round(region.shape[0] * view.scale))))
        out = cv2.resize(region, size, interpolation=cv2.INTER_LINEAR)
    scale = max(out.shape[0], out.shape[1]) / 640.0
    x, y, w, h = person.bbox
    (bx0, by0), (bx1, by1) = view.to_picture([[x, y], [x + w, y + h]])
    cv2.rectangle(out, (int(bx0), int(by0)), (int(bx1), int(by1)), BOX_COLOR,
                  max(1, int(round(2 * scale))))
    xy, v, fixed = joints_with_fixes(person, fixes)
    xy = view.to_picture(xy)
    _draw_joints(out, xy, v, fixed, scale, labels=True)
    if highlight in JOINTS:
        j = JOINTS.index(highlight)
        if v[j] > V_UNLABELED:
            cv2.circle(out, tuple(int(round(t)) for t in xy[j]), int(10 * scale), (255, 255, 0),
                       max(1, int(round(2 * scale))), cv2.LINE_AA)
    _missing_text(out, v, scale)
    return out
