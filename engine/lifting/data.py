"""Training and evaluation samples for the lifter: mocap windows seen by virtual cameras.

A sample is a window of ``WINDOW`` frames at ``FPS`` frames per second of the six 2-D joints
(normalised by ``normalize_2d``) and, as target, the six 3-D joints of the window's centre
frame in the heading frame (``camera.to_heading``: x right, y down, z away from the camera,
metres, origin at the hip midpoint).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.joints import FLIP_INDEX, JOINT_INDEX
from .camera import Camera, detector_noise, random_cameras, to_heading

#: Frames in the lifter's window (its receptive field) and their rate.
WINDOW = 27
FPS = 30.0
#: Input channels per frame: (x, y, visible) of six joints, then the hip midpoint's move
#: from the centre frame (x, y).
IN_CHANNELS = 6 * 3 + 2
HIPS = (JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"])


def hip_mid(p: np.ndarray) -> np.ndarray:
    """Hip midpoint (..., D) of joints (..., 6, D)."""
    return p[..., HIPS, :].mean(axis=-2)


def mirror(p: np.ndarray) -> np.ndarray:
    """World joints (F, 6, 3) of the mirrored person (x -> -x, left and right exchanged)."""
    return p[:, list(FLIP_INDEX)] * np.array([-1.0, 1.0, 1.0])


def normalize_2d(px: np.ndarray) -> np.ndarray:
    """2-D windows (B, W, 6, 2) in pixels, NaN = missing -> inputs (B, W, IN_CHANNELS).

    Per frame the joints are taken about the hip midpoint (one visible hip stands in for it;
    with neither, the nearest frame's), divided by the window's scale: the median over its
    frames of the larger side of the visible joints' box. Missing joints are 0 with visible 0.
    The last two channels are the hip midpoint's offset from the centre frame's, same scale."""
    px = np.asarray(px, dtype=np.float64)
    b, w = px.shape[:2]
    vis = np.isfinite(px).all(axis=-1)  # (B, W, 6)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmean(px[:, :, HIPS], axis=2)  # (B, W, 2)
            anyc = np.isfinite(centre).all(-1)
            for i in range(b):  # fill frames with no hip from the nearest that has one
                if not anyc[i].all():
                    ok = np.flatnonzero(anyc[i])
                    if len(ok) == 0:
                        centre[i] = np.nanmean(px[i].reshape(-1, 2), axis=0)
                    else:
                        near = ok[np.abs(np.arange(w)[:, None] - ok[None]).argmin(1)]
                        centre[i] = centre[i, near]
            ext = np.nanmax(px, axis=2) - np.nanmin(px, axis=2)  # (B, W, 2)
            scale = np.nanmedian(np.nanmax(ext, axis=-1), axis=1)  # (B,)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    rel = (px - centre[:, :, None]) / scale[:, None, None, None]
    rel = np.where(vis[..., None], rel, 0.0)
    move = (centre - centre[:, w // 2][:, None]) / scale[:, None, None]
    move = np.nan_to_num(move)
    x = np.concatenate([rel, vis[..., None].astype(np.float64)], axis=-1).reshape(b, w, 18)
    return np.concatenate([x, move], axis=-1).astype(np.float32)


@dataclass
class MocapSplit:
    """The trial's frames (world metres, ``rate`` fps) and which centre frames train / test."""

    joints: np.ndarray  # (F, 6, 3) world, Y up
    rate: float  # frames per second of ``joints``
    heldout_start: int  # first held-out frame; held out to the end of the trial

    def train_centres(self, max_stride: int) -> np.ndarray:
        """Centre frames whose whole window (at ``max_stride``) ends before the held-out part."""
        half = (WINDOW // 2) * max_stride
        return np.arange(half, self.heldout_start - half)

    def test_centres(self, stride: int) -> np.ndarray:
        """Every ``stride``-th held-out frame (its window may reach back into training frames:
        inputs only, never a training target)."""
        return np.arange(self.heldout_start, len(self.joints), stride)


def split_trial(joints: np.ndarray, rate: float, heldout_from_s: float) -> MocapSplit:
    """A split holding out the trial from ``heldout_from_s`` seconds (of the dropped-T-pose
    frames) to its end."""
    return MocapSplit(joints, rate, int(round(heldout_from_s * rate)))


def windows(joints: np.ndarray, centres: np.ndarray, stride: np.ndarray | int) -> np.ndarray:
    """(B, WINDOW, 6, 3) windows of ``joints`` (F, 6, 3) about ``centres`` (B,), frames
    ``stride`` apart (edges repeat the first / last frame)."""
    offs = (np.arange(WINDOW) - WINDOW // 2)[None] * np.asarray(stride).reshape(-1, 1)
    idx = np.clip(np.asarray(centres)[:, None] + offs, 0, len(joints) - 1)
    return joints[idx]


def make_samples(world: np.ndarray, centre_frame: np.ndarray, cams: Camera,
                 rng: np.random.Generator | None = None, sigma_rel=0.0, drop_p: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows (B, W, 6, 3) world seen by ``cams`` (batch B) -> (inputs (B, W, IN_CHANNELS),
    targets (B, 6, 3) heading frame metres, 2-D pixels (B, W, 6, 2) as given to the lifter)."""
    px, _ = cams.project(world)
    if rng is not None and (np.any(np.asarray(sigma_rel) > 0) or drop_p > 0):
        px, _ = detector_noise(rng, px, sigma_rel, drop_p)
    target = to_heading(centre_frame, cams.azimuth_deg, hip_mid(centre_frame))
    return normalize_2d(px), target.astype(np.float32), px


#: Knee straightening (``straighten_knees``): knee angles from ``STRAIGHTEN_FROM`` degrees up
#: are opened towards ``STRAIGHT_KNEE``, fully from ``STRAIGHTEN_FULL`` up.
STRAIGHT_KNEE, STRAIGHTEN_FROM, STRAIGHTEN_FULL = 178.0, 120.0, 150.0


def straighten_knees(world: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """A copy of windows ``world`` (B, W, 6, 3) with the ankles swung about the knees, in the
    plane of each leg, so that a knee angle ``a`` becomes ``a + amount * ramp(a) * (178 - a)``
    (``amount`` (B,) in 0..1; ``ramp`` 0 below 120 degrees, 1 from 150). The mocap subject
    stands with his knees at 156-168 degrees while pose models see people's standing legs at
    about 175: without this the lifter never gives a straight knee. The mapping is smooth and
    monotonic in the angle, so a window stays a smooth motion; bone lengths are kept."""
    from engine.analysis.angles import LEGS
    out = np.array(world, dtype=np.float64, copy=True)
    for h, k, a in LEGS:
        t = out[..., h, :] - out[..., k, :]
        v = out[..., a, :] - out[..., k, :]
        n = np.cross(t, v)
        nn = np.linalg.norm(n, axis=-1, keepdims=True)
        with np.errstate(all="ignore"):
            cos = np.sum(t * v, -1) / (np.linalg.norm(t, axis=-1) * np.linalg.norm(v, axis=-1))
            ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            ramp = np.clip((ang - STRAIGHTEN_FROM) / (STRAIGHTEN_FULL - STRAIGHTEN_FROM), 0, 1)
            phi = np.radians(np.asarray(amount)[:, None] * ramp * (STRAIGHT_KNEE - ang))
            phi = np.where(np.isfinite(phi) & (nn[..., 0] > 1e-9), np.maximum(phi, 0), 0.0)
            n = np.where(nn > 1e-9, n / nn, 0.0)
        v2 = v * np.cos(phi)[..., None] + np.cross(n, v) * np.sin(phi)[..., None]
        out[..., a, :] = out[..., k, :] + v2
    return out


def training_batch(rng: np.random.Generator, split: MocapSplit, sequences: list[np.ndarray],
                   batch: int, exclude_azimuths: np.ndarray, strides=(3, 4, 5),
                   noisy_share: float = 0.75, max_sigma: float = 0.04, drop_p: float = 0.05,
                   straighten_share: float = 0.0):
    """One random batch: a random sequence (the trial or its mirror), centre frame, speed
    (frame stride), camera (azimuths near ``exclude_azimuths`` never drawn), for
    ``straighten_share`` of the samples knees opened by a random amount (``straighten_knees``),
    and for ``noisy_share`` of the samples 2-D noise up to ``max_sigma`` box heights and
    dropped joints. Returns (inputs, targets) as float32 arrays."""
    centres = rng.choice(split.train_centres(max(strides)), batch)
    seq = rng.integers(0, len(sequences), batch)
    stride = rng.choice(np.asarray(strides), batch)
    world = np.empty((batch, WINDOW, 6, 3))
    for s, joints in enumerate(sequences):
        m = seq == s
        if m.any():
            world[m] = windows(joints, centres[m], stride[m])
    if straighten_share > 0:
        amount = np.where(rng.random(batch) < straighten_share, rng.uniform(0, 1, batch), 0.0)
        world = straighten_knees(world, amount)
    centre = world[:, WINDOW // 2]
    cams = random_cameras(rng, batch, hip_mid(centre), exclude_azimuths=exclude_azimuths)
    noisy = rng.random(batch) < noisy_share
    sigma = np.where(noisy, rng.uniform(0, max_sigma, batch), 0.0)
    px, _ = cams.project(world)
    npx, _ = detector_noise(rng, px, sigma, drop_p)
    px = np.where(noisy[:, None, None, None], npx, px)
    target = to_heading(centre, cams.azimuth_deg, hip_mid(centre))
    return normalize_2d(px), target.astype(np.float32)
