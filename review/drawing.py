"""Pictures of one person for the Review tab: a crop for the gallery, the full image for detail.

Joints are told apart by look: visible = filled dot, occluded = hollow ring, fixed by the
reviewer (placed, or moved by a left/right swap) = square with a white border, missing
(unlabelled, no position) = listed in red text. Colours follow ``engine.joints`` (left orange,
right blue). An audited person's teacher skeleton (``review.audits``) is drawn over the
labels in dashed lines with hollow diamonds round its joints, left magenta, right cyan (warm = left, cool =
right on both), so a swap shows as orange on cyan; ``legend_image`` draws the key. Coordinates are original-image
pixels; the detail picture is the whole image at its original size (a click on it is an
image pixel) or a magnified part of it described by a ``View`` that maps clicks back.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine import images
from engine.data.coco import Person
from engine.geometry import Crop
from engine.joints import FLIP_INDEX, JOINTS, SKELETON, SIDE_COLORS, V_UNLABELED, V_VISIBLE, edge_color, side_of

SHORT = {"left_hip": "LH", "right_hip": "RH", "left_knee": "LK", "right_knee": "RK",
         "left_ankle": "LA", "right_ankle": "RA"}
MISSING_COLOR = (230, 40, 40)
BOX_COLOR = (60, 220, 60)
CROP_SIZE = (192, 256)  # gallery crop (width, height)
#: The teacher's skeleton (RGB): left magenta, right cyan; dashed lines, diamond joints.
TEACHER_COLORS = {"left": (255, 0, 255), "right": (0, 255, 255)}


def read_rgb(path) -> np.ndarray:
    """RGB uint8 (``engine.images.read_rgb``: size checked from the header first; a damaged or
    too large image is ``ImageProblem``, a ValueError naming the file)."""
    return images.read_rgb(path)


def unavailable_tile(side: int = 96) -> np.ndarray:
    """A grey tile with a cross: the gallery's place for a person whose image is refused."""
    tile = np.full((side, side, 3), 200, np.uint8)
    cv2.line(tile, (20, 20), (side - 20, side - 20), (120, 120, 120), 3)
    cv2.line(tile, (side - 20, 20), (20, side - 20), (120, 120, 120), 3)
    return tile


def joints_with_fixes(person: Person, fixes: dict | None,
                      swap: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xy (6, 2), v (6,), fixed (6,) bool) after a left/right ``swap`` (every labelled joint
    then counts as fixed) and then ``{joint: (x, y, v)}``."""
    xy = person.keypoints.astype(np.float64).copy()
    v = person.visibility.astype(np.int64).copy()
    fixed = np.zeros(len(JOINTS), dtype=bool)
    if swap:
        xy, v = xy[list(FLIP_INDEX)], v[list(FLIP_INDEX)]
        fixed = v > V_UNLABELED
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


def _dashed_line(img: np.ndarray, p, q, color, thickness: int, dash: float, clear: float = 0.0) -> None:
    """A dashed segment from p to q (picture pixels): dashes and gaps ``dash`` pixels long,
    leaving ``clear`` pixels free at either end (so a joint drawn there stays visible)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    length = float(np.linalg.norm(q - p))
    if length <= 2 * clear + 1:
        return
    u = (q - p) / length
    p, q = p + u * clear, q - u * clear
    length -= 2 * clear
    n = max(1, int(length // dash))
    for i in range(0, n, 2):
        a = p + (q - p) * (i / n)
        b = p + (q - p) * (min(i + 1, n) / n)
        cv2.line(img, tuple(int(round(c)) for c in a), tuple(int(round(c)) for c in b), color,
                 thickness, cv2.LINE_AA)


def _diamond(img: np.ndarray, p, r: int, color, thickness: int) -> None:
    """A hollow diamond of radius ``r`` about p: a label's dot inside it stays visible."""
    x, y = (int(round(c)) for c in p)
    pts = np.array([[x, y - r], [x + r, y], [x, y + r], [x - r, y]], dtype=np.int32)
    cv2.polylines(img, [pts], True, color, thickness, cv2.LINE_AA)


def _draw_teacher(img: np.ndarray, xy: np.ndarray, v: np.ndarray, scale: float) -> None:
    """The teacher's six joints (picture pixels, COCO flags ``v``): dashed edges between joints
    it found, hollow diamonds round them (thick: confident, thin: low confidence), drawn over
    the labels but leaving the middle of each diamond free."""
    r = max(5, int(round(10 * scale)))
    th = max(1, int(round(2 * scale)))
    ok = v > V_UNLABELED
    for a, b in SKELETON:
        if ok[a] and ok[b]:
            sa, sb = side_of(a), side_of(b)
            color = TEACHER_COLORS[sa] if sa == sb else SIDE_COLORS["center"]
            _dashed_line(img, xy[a], xy[b], color, th, max(3.0, 6 * scale), clear=r + th)
    for j in range(len(JOINTS)):
        if ok[j]:
            _diamond(img, xy[j], r, TEACHER_COLORS[side_of(j)], th if v[j] == V_VISIBLE else 1)


def legend_image(width: int = 620, height: int = 92) -> np.ndarray:
    """The key to the detail picture (RGB): the label's skeleton and the teacher's, per side."""
    img = np.full((height, width, 3), 30, dtype=np.uint8)
    col = width // 2
    for row, colors in enumerate((None, TEACHER_COLORS)):
        y = 20 + 28 * row
        for k, side in enumerate(("left", "right")):
            x = 10 + k * col
            if colors is None:
                c = SIDE_COLORS[side]
                cv2.line(img, (x, y), (x + 44, y), c, 2, cv2.LINE_AA)
                for px in (x, x + 44):
                    cv2.circle(img, (px, y), 5, (255, 255, 255), -1, cv2.LINE_AA)
                    cv2.circle(img, (px, y), 4, c, -1, cv2.LINE_AA)
                text = f"label {side} (solid, dots)"
            else:
                c = colors[side]
                _dashed_line(img, (x, y), (x + 44, y), c, 2, 5.0, clear=10)
                for px in (x, x + 44):
                    _diamond(img, (px, y), 8, c, 2 if px == x else 1)
                text = f"teacher {side} (dashed; thin: unsure)"
            cv2.putText(img, text, (x + 56, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1,
                        cv2.LINE_AA)
    y = 76
    for k, side in enumerate(("left", "right")):
        x = 10 + 22 * k
        cv2.rectangle(img, (x - 5, y - 5), (x + 5, y + 5), (255, 255, 255), 2)
        cv2.rectangle(img, (x - 4, y - 4), (x + 4, y + 4), SIDE_COLORS[side], -1)
    cv2.putText(img, "label fixed by the reviewer (placed, or moved by Swap left/right)", (66, y + 5),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return img


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
                size: tuple[int, int] = CROP_SIZE, swap: bool = False,
                teacher: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The person's box (grown as for training) at ``size`` (w, h) with joints drawn (after a
    left/right ``swap`` and ``fixes``), and the teacher's (xy (6, 2) image pixels, v (6,)) over
    them when given."""
    x, y, w, h = person.bbox
    crop = Crop.from_box((x, y, max(w, 2.0), max(h, 2.0)), size)
    out = crop.warp(image, border_value=(40, 40, 40))
    xy, v, fixed = joints_with_fixes(person, fixes, swap)
    _draw_joints(out, crop.to_input(xy), v, fixed, 1.0, labels=False)
    if teacher is not None:
        _draw_teacher(out, crop.to_input(teacher[0]), teacher[1], 0.6)
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


#: A person whose box's longer side is under this share of the image's longer side is shown
#: zoomed by default: the joint labels (LH, RH, ...) are drawn at a size set by the image, so on
#: a small person they overlap one another.
ZOOM_BY_DEFAULT_SHARE = 1 / 3


def zoom_by_default(person: Person, image_size: tuple[int, int]) -> bool:
    """Should the detail picture of ``person`` start zoomed: a small person in its image
    (``ZOOM_BY_DEFAULT_SHARE``), or an image so small that its picture would be (under half
    of ``ZOOM_TARGET`` on its longer side)?"""
    return (max(person.bbox[2], person.bbox[3]) < ZOOM_BY_DEFAULT_SHARE * max(image_size)
            or max(image_size) < ZOOM_TARGET / 2)


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
                  highlight: str | None = None, view: View | None = None, swap: bool = False,
                  teacher: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The image with the person's box, joints (labelled) and fixes (after a left/right
    ``swap``), and the teacher's joints (xy (6, 2) image pixels, v (6,)) when given: the whole
    image at its original size (a click on it is an image pixel), or the part ``view`` picks,
    magnified (map a click back with ``view.to_image``)."""
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
    xy, v, fixed = joints_with_fixes(person, fixes, swap)
    xy = view.to_picture(xy)
    _draw_joints(out, xy, v, fixed, scale, labels=True)
    if teacher is not None:
        _draw_teacher(out, view.to_picture(teacher[0]), teacher[1], scale)
    if highlight in JOINTS:
        j = JOINTS.index(highlight)
        if v[j] > V_UNLABELED:
            cv2.circle(out, tuple(int(round(t)) for t in xy[j]), int(10 * scale), (255, 255, 0),
                       max(1, int(round(2 * scale))), cv2.LINE_AA)
    _missing_text(out, v, scale)
    return out
