"""Virtual pinhole cameras around a mocap subject, and the 2-D joints they would see.

World frame: the mocap's, Y up, metres. A camera is set by where it looks (a point, usually
the hip midpoint), its azimuth (degrees about the vertical, 0 = on the world's +Z side,
looking towards -Z), elevation (degrees above the horizontal: positive = looking down),
distance (metres) and focal length (pixels). Image pixels: x right, y down, principal point
at the image centre.

The lifter's 3-D frame (``heading`` frame) is the camera's frame with the tilt taken out: x
the camera's right (horizontal), y straight down (gravity), z horizontal, away from the
camera; origin at the hip midpoint. Vertical is known there, so depth (hip below knee), thigh
inclination and the floor are defined whatever the camera's elevation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A phone held by a person or on a tripod, filming a whole person in landscape.
IMAGE_SIZE = (1920, 1080)  # (width, height) pixels
#: Horizontal field of view of phone main cameras (about 26 mm equivalent): 60-75 degrees.
HFOV_RANGE_DEG = (60.0, 75.0)
DISTANCE_RANGE_M = (2.5, 5.0)
ELEVATION_RANGE_DEG = (-10.0, 40.0)


@dataclass
class Camera:
    """One static pinhole camera (arrays broadcast: a batch of cameras is fine)."""

    target: np.ndarray  # (..., 3) world point at the image centre
    azimuth_deg: np.ndarray  # (...,)
    elevation_deg: np.ndarray  # (...,)
    distance_m: np.ndarray  # (...,)
    focal_px: np.ndarray  # (...,)
    image_size: tuple[int, int] = IMAGE_SIZE

    def rotation(self) -> np.ndarray:
        """(..., 3, 3) world -> camera rotation (camera: x right, y down, z forward)."""
        return tilt(self.elevation_deg) @ heading_rotation(self.azimuth_deg)

    def center(self) -> np.ndarray:
        """(..., 3) camera position in the world."""
        a, e = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        d = np.asarray(self.distance_m)
        off = np.stack([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)], axis=-1)
        return np.asarray(self.target) + d[..., None] * off

    def _flat(self, points: np.ndarray) -> np.ndarray:
        """Points (batch..., any..., 3) -> (batch..., N, 3) for this camera's batch shape."""
        b = np.shape(self.azimuth_deg)
        return np.asarray(points, dtype=float).reshape(b + (-1, 3))

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (batch..., any..., 3) -> camera coordinates, same shape, metres."""
        r = self.rotation()
        p = self._flat(points)
        out = np.einsum("...ij,...nj->...ni", r, p - self.center()[..., None, :])
        return out.reshape(np.shape(points))

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., N, 3) -> (pixels (..., N, 2), depth (..., N) metres)."""
        pc = self._flat(self.to_camera(points))
        f = np.asarray(self.focal_px)[..., None, None]
        c = np.array(self.image_size, dtype=float) / 2
        px = f * pc[..., :2] / pc[..., 2:3] + c
        shape = np.shape(points)[:-1]
        return px.reshape(shape + (2,)), pc[..., 2].reshape(shape)

    def unproject(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels (batch..., any..., 2) at camera depth (batch..., any...) -> world points
        (batch..., any..., 3)."""
        f = np.asarray(self.focal_px)[..., None, None]
        c = np.array(self.image_size, dtype=float) / 2
        b = np.shape(self.azimuth_deg)
        px = np.asarray(pixels, dtype=float).reshape(b + (-1, 2))
        d = np.asarray(depth, dtype=float).reshape(b + (-1,))
        pc = np.concatenate([(px - c) / f * d[..., None], d[..., None]], axis=-1)
        r = self.rotation()
        out = np.einsum("...ji,...nj->...ni", r, pc) + self.center()[..., None, :]
        return out.reshape(np.shape(pixels)[:-1] + (3,))


def heading_rotation(azimuth_deg) -> np.ndarray:
    """(..., 3, 3) world (Y up) -> heading frame (x right, y down, z away from the camera)
    for a camera at ``azimuth_deg``, before its tilt."""
    a = np.radians(np.asarray(azimuth_deg, dtype=float))
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    # camera on the +Z side at azimuth 0 looks along -Z; its right is +X; down is -Y.
    rows = [[c, z, -s], [z, -o, z], [-s, z, -c]]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def tilt(elevation_deg) -> np.ndarray:
    """(..., 3, 3) heading frame -> camera frame for a camera looking down by ``elevation_deg``
    (a rotation about the camera's x axis)."""
    e = np.radians(np.asarray(elevation_deg, dtype=float))
    c, s, o, z = np.cos(e), np.sin(e), np.ones_like(e), np.zeros_like(e)
    rows = [[o, z, z], [z, c, -s], [z, s, c]]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def to_heading(points: np.ndarray, azimuth_deg, origin: np.ndarray) -> np.ndarray:
    """World points (B..., N, 3) -> the lifter's heading frame about ``origin`` (B..., 3), for
    cameras at ``azimuth_deg`` (B...)."""
    return np.einsum("...ij,...nj->...ni", heading_rotation(azimuth_deg),
                     points - np.asarray(origin)[..., None, :])


def focal_from_hfov(hfov_deg, width: int = IMAGE_SIZE[0]) -> np.ndarray:
    """Focal length in pixels of a camera with horizontal field of view ``hfov_deg``."""
    return width / (2 * np.tan(np.radians(np.asarray(hfov_deg, dtype=float)) / 2))


def random_cameras(rng: np.random.Generator, n: int, targets: np.ndarray,
                   azimuths: np.ndarray | None = None,
                   exclude_azimuths: np.ndarray | None = None, exclude_halfwidth: float = 5.0,
                   elevation_range=ELEVATION_RANGE_DEG, distance_range=DISTANCE_RANGE_M,
                   hfov_range=HFOV_RANGE_DEG, target_jitter_m: float = 0.15) -> Camera:
    """``n`` phone-like cameras looking near ``targets`` (n, 3): azimuth uniform 0-360 (outside
    ``exclude_halfwidth`` degrees of any of ``exclude_azimuths``) unless given, elevation,
    distance and field of view uniform in their ranges, the aim jittered by up to
    ``target_jitter_m`` so the person is not always centred."""
    if azimuths is None:
        azimuths = rng.uniform(0, 360, n)
        if exclude_azimuths is not None and len(exclude_azimuths):
            for _ in range(100):
                d = np.abs((azimuths[:, None] - np.asarray(exclude_azimuths)[None] + 180) % 360
                           - 180)
                bad = (d < exclude_halfwidth).any(axis=1)
                if not bad.any():
                    break
                azimuths[bad] = rng.uniform(0, 360, int(bad.sum()))
    return Camera(np.asarray(targets) + rng.uniform(-target_jitter_m, target_jitter_m, (n, 3)),
                  np.asarray(azimuths, dtype=float), rng.uniform(*elevation_range, n),
                  rng.uniform(*distance_range, n), focal_from_hfov(rng.uniform(*hfov_range, n)))


def detector_noise(rng: np.random.Generator, pixels: np.ndarray, sigma_rel: np.ndarray | float,
                   drop_p: float) -> tuple[np.ndarray, np.ndarray]:
    """2-D joints (B, T, 6, 2) as a pose model gives them: Gaussian noise with a standard
    deviation of ``sigma_rel`` (per sample, (B,) or a number) times the sample's median 2-D
    box height, and each joint missing with probability ``drop_p`` (NaN, visible False).
    Returns (noisy pixels, visible (B, T, 6) bool)."""
    box_h = np.nanmax(pixels[..., 1], axis=-1) - np.nanmin(pixels[..., 1], axis=-1)
    scale = np.nanmedian(box_h, axis=1)  # (B,)
    sig = (np.broadcast_to(np.asarray(sigma_rel, dtype=float), scale.shape) * scale)
    out = pixels + rng.normal(size=pixels.shape) * sig[:, None, None, None]
    visible = rng.random(pixels.shape[:-1]) >= drop_p
    out[~visible] = np.nan
    return out, visible
