"""Crop geometry: person box -> model input crop and back. The one place for it.

Coordinates: ``image`` pixels are those of the original image or video frame (x right,
y down, pixel centres at integer positions); ``input`` pixels are those of the model's input
crop of size ``(width, height)``. A crop is a similarity transform (scale, rotation, optional
horizontal flip) that maps an axis-aligned region of the image, centred on ``center`` and of
size ``size`` (image pixels, already fitted to the input's aspect ratio), onto the input.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: The study's box enlargement: the person box is grown 1.25x about its centre.
BOX_PADDING = 1.25


def fit_aspect(width: float, height: float, aspect_wh: float) -> tuple[float, float]:
    """Grow the shorter dimension of (width, height) so that width/height == aspect_wh."""
    if width <= 0 or height <= 0:
        raise ValueError(f"box must have positive size, got {width}x{height}")
    if width / height > aspect_wh:
        return width, width / aspect_wh
    return height * aspect_wh, height


def fit_inside(width: float, height: float, aspect_wh: float) -> tuple[float, float]:
    """The largest (width, height) of aspect ``aspect_wh`` inside (width, height)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"region must have positive size, got {width}x{height}")
    if width / height > aspect_wh:
        return height * aspect_wh, height
    return width, width / aspect_wh


def box_to_center_size(box_xywh, aspect_wh: float, padding: float = BOX_PADDING):
    """COCO box (x, y, w, h) in image pixels -> (center (2,), size (2,) = region w, h).

    The box is enlarged ``padding`` times about its centre, then its shorter side grown to
    match the model input's aspect ratio ``aspect_wh`` (= input width / input height).
    """
    x, y, w, h = (float(v) for v in box_xywh)
    center = np.array([x + w / 2.0, y + h / 2.0], dtype=np.float64)
    fw, fh = fit_aspect(w * padding, h * padding, aspect_wh)
    return center, np.array([fw, fh], dtype=np.float64)


def points_to_box(points_xy: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | None:
    """Tight (x, y, w, h) box of the valid points, or None when fewer than two are valid."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if valid is not None:
        pts = pts[np.asarray(valid, dtype=bool).reshape(-1)]
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 2:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return np.array([lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)])


#: Lower-body region around the six joints, as fractions of the joints' extent (the larger
#: of their box's width and height): room above the hips for the lower torso, and a margin
#: below the ankles (feet) and on the sides. ``BOX_PADDING`` is applied on top by the crop.
LOWER_BODY_ABOVE = 0.3
LOWER_BODY_MARGIN = 0.1


def lower_body_box(keypoints_xy: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | None:
    """The region a lower-body crop should show, from the six joints: (x, y, w, h) in the
    joints' pixels, or None when fewer than two joints are valid.

    The ONE rule shared by training augmentation (lower-body-only crops) and video tracking
    (the crop for the next frame from this frame's joints, as BlazePose derives its region of
    interest from the previous frame's landmarks): the joints' tight box, extended by
    ``LOWER_BODY_ABOVE`` x its extent upwards (the torso above the hips) and by
    ``LOWER_BODY_MARGIN`` x its extent below and on both sides. Feed it to ``Crop.from_box``,
    which grows it by ``BOX_PADDING`` and fits it to the input's aspect ratio.
    """
    box = points_to_box(keypoints_xy, valid)
    if box is None:
        return None
    x, y, w, h = box
    s = max(w, h)
    m, up = LOWER_BODY_MARGIN * s, LOWER_BODY_ABOVE * s
    return np.array([x - m, y - up, w + 2 * m, h + up + m])


@dataclass(frozen=True)
class Crop:
    """A crop of an image onto a model input of ``output_size`` = (width, height) pixels."""

    center: tuple[float, float]
    size: tuple[float, float]
    output_size: tuple[int, int]
    rotation: float = 0.0  # degrees, counter-clockwise in the image
    flip: bool = False  # mirror horizontally (after rotation)

    @classmethod
    def from_box(cls, box_xywh, output_size: tuple[int, int], padding: float = BOX_PADDING,
                 rotation: float = 0.0, flip: bool = False, scale: float = 1.0) -> "Crop":
        """Crop for a COCO box: enlarged ``padding`` x, fitted to the output aspect, then
        multiplied by ``scale`` (augmentation)."""
        c, s = box_to_center_size(box_xywh, output_size[0] / output_size[1], padding)
        s = s * scale
        return cls((float(c[0]), float(c[1])), (float(s[0]), float(s[1])),
                   (int(output_size[0]), int(output_size[1])), float(rotation), bool(flip))

    @property
    def matrix(self) -> np.ndarray:
        """2x3 affine matrix mapping image pixels to input pixels."""
        ow, oh = self.output_size
        k = ow / self.size[0]  # pixels of input per pixel of image (size fits the aspect)
        a = np.deg2rad(self.rotation)
        cos, sin = np.cos(a) * k, np.sin(a) * k
        # rotate about the crop centre (counter-clockwise as seen on screen, y down)
        m = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
        cx, cy = self.center
        m[:, 2] = np.array([(ow - 1) / 2.0, (oh - 1) / 2.0]) - m[:, :2] @ np.array([cx, cy])
        if self.flip:
            m[0, :] = -m[0, :]
            m[0, 2] += ow - 1
        return m

    @property
    def inverse(self) -> np.ndarray:
        """2x3 affine matrix mapping input pixels back to image pixels."""
        return cv2.invertAffineTransform(self.matrix)

    def to_input(self, points_xy: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) -> input pixels (..., 2)."""
        return apply_affine(points_xy, self.matrix)

    def to_image(self, points_xy: np.ndarray) -> np.ndarray:
        """Input pixels (..., 2) -> image pixels (..., 2)."""
        return apply_affine(points_xy, self.inverse)

    def warp(self, image: np.ndarray, border_value=(0, 0, 0)) -> np.ndarray:
        """Cut the crop out of ``image`` (H, W, C uint8) at the model's input size."""
        return cv2.warpAffine(image, self.matrix, self.output_size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)

    def unwarp(self, crop_image: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Paste an input-sized map (H, W[, C]) back onto an image of ``image_size`` = (w, h)."""
        return cv2.warpAffine(crop_image, self.inverse, image_size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_for(crop: Crop, output_size: tuple[int, int]) -> Crop:
    """The same crop for a model of another input ``output_size`` = (width, height): same
    centre, rotation and flip; the region's shorter side (for the new aspect) grown about the
    centre, so it covers all of ``crop``'s region (nothing the first model saw is cut off) and
    no more than the new aspect needs. ``crop`` itself when the size is the same. How the
    Compare tab runs several models on one tracking pass (``HeatmapPredictor.predict_shared``)."""
    out = (int(output_size[0]), int(output_size[1]))
    if out == tuple(crop.output_size):
        return crop
    w, h = fit_aspect(crop.size[0], crop.size[1], out[0] / out[1])
    return Crop(crop.center, (float(w), float(h)), out, crop.rotation, crop.flip)


def apply_affine(points_xy: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points of shape (..., 2)."""
    p = np.asarray(points_xy, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]
