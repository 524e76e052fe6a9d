"""Training and evaluation of the lifter on the shared CMU mocap trial.

Split (fixed, recorded in the sidecar and metrics.json): training centre frames come from the
trial before ``HELDOUT_FROM_S`` (windows that would reach into the held-out part are not
used); evaluation is on the trial from ``HELDOUT_FROM_S`` to its end (the second of its two
full squats), seen from ``HELDOUT_AZIMUTHS`` (12 azimuths; training never draws an azimuth
within ``EXCLUDE_HALFWIDTH_DEG`` of one) at ``EVAL_ELEVATIONS``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from .bvh import lower_body, read_bvh
from .camera import Camera, detector_noise, focal_from_hfov
from .data import FPS, MocapSplit, hip_mid, make_samples, mirror, split_trial, training_batch, windows
from .metrics import summary
from .model import TemporalLifter
from .weights import run_lifter

#: The shared trial, relative to the shared data folder.
TRIAL = "cmu-mocap/bvh/13_29.bvh"
MOCAP_FPS = 120.0
HELDOUT_FROM_S = 34.6  # after the first full squat (32.1-34.0 s); the second is 35.3-37.1 s
HELDOUT_AZIMUTHS = np.arange(12) * 30.0 + 15.0  # 15, 45, ..., 345 degrees
EXCLUDE_HALFWIDTH_DEG = 5.0
EVAL_ELEVATIONS = (0.0, 15.0, 30.0)
EVAL_DISTANCE_M, EVAL_HFOV_DEG = 3.5, 67.0
#: The noisy evaluation: 2-D noise of this many box heights (standard deviation per
#: coordinate) and this share of joints missing, like a pose model's (the default model
#: places 97% of joints within 0.05 of the box of BlazePose heavy's, weights/scorecard.md).
EVAL_NOISE_SIGMA, EVAL_DROP_P = 0.02, 0.05


def load_split(bvh_path: str | Path) -> MocapSplit:
    """The trial's six joints (metres, T-pose frame dropped) and the fixed split."""
    return split_trial(lower_body(read_bvh(bvh_path)), MOCAP_FPS, HELDOUT_FROM_S)


def train_lifter(split: MocapSplit, steps: int, batch: int = 256, lr: float = 1e-3,
                 width: int = 128, seed: int = 0, straighten: float = 0.0,
                 log=print) -> tuple[TemporalLifter, dict]:
    """Train a lifter for ``steps`` batches on random virtual-camera views of the training
    part of the trial and its mirror image, ``straighten`` of them with the knees opened
    (``data.straighten_knees``). Returns the model (eval mode) and a log dict."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TemporalLifter(width=width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1))))
    sequences = [split.joints, mirror(split.joints)]
    model.train()
    t0, losses = time.time(), []
    for step in range(steps):
        x, y = training_batch(rng, split, sequences, batch, HELDOUT_AZIMUTHS,
                              straighten_share=straighten)
        pred = model(torch.from_numpy(x))[:, 0]
        loss = torch.linalg.vector_norm(pred - torch.from_numpy(y), dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log and (step + 1) % max(1, steps // 10) == 0:
            log(f"step {step + 1}/{steps}: MPJPE {np.mean(losses[-50:]) * 1000:.1f} mm "
                f"(training batches), {time.time() - t0:.0f} s")
    model.eval()
    return model, {"steps": steps, "batch": batch, "lr": lr, "seed": seed, "straighten": straighten,
                   "seconds": round(time.time() - t0, 1),
                   "final_train_mpjpe_mm": round(float(np.mean(losses[-50:])) * 1000, 1)}


def heldout_cameras(centre_world: np.ndarray) -> tuple[Camera, np.ndarray]:
    """Every held-out (azimuth, elevation) pair for each centre frame (N, 6, 3): a Camera with
    batch N x 36 and the frame index of each."""
    az, el = np.meshgrid(HELDOUT_AZIMUTHS, np.asarray(EVAL_ELEVATIONS), indexing="ij")
    az, el = az.ravel(), el.ravel()
    n, k = len(centre_world), len(az)
    frame = np.repeat(np.arange(n), k)
    cams = Camera(hip_mid(centre_world)[frame], np.tile(az, n), np.tile(el, n),
                  np.full(n * k, EVAL_DISTANCE_M), np.full(n * k, float(focal_from_hfov(EVAL_HFOV_DEG))))
    return cams, frame


def evaluate_lifter(model: TemporalLifter, split: MocapSplit, seed: int = 1,
                    flip: bool = True) -> dict:
    """metrics.json's figures: on every 4th held-out frame (30 fps) from the 12 held-out
    azimuths at 3 elevations, with exact 2-D and with noisy 2-D (``flip``: the test-time flip
    of ``weights.run_lifter``)."""
    stride = int(round(split.rate / FPS))
    centres = split.test_centres(stride)
    world = windows(split.joints, centres, stride)
    cams, frame = heldout_cameras(world[:, world.shape[1] // 2])
    w = world[frame]
    x, target, px = make_samples(w, w[:, w.shape[1] // 2], cams)
    out = {"exact_2d": summary(run_lifter(model, x, flip=flip), target)}
    rng = np.random.default_rng(seed)
    npx, _ = detector_noise(rng, px, EVAL_NOISE_SIGMA, EVAL_DROP_P)
    from .data import normalize_2d
    out["noisy_2d"] = summary(run_lifter(model, normalize_2d(npx), flip=flip), target)
    per_az = {}
    for a in HELDOUT_AZIMUTHS:  # exact 2-D, per azimuth
        m = cams.azimuth_deg == a
        per_az[f"{a:.0f}"] = summary(run_lifter(model, x[m], flip=flip), target[m])["mpjpe_mm"]
    out["exact_2d"]["mpjpe_mm_per_azimuth"] = per_az
    out["heldout"] = {"trial": TRIAL, "from_s": HELDOUT_FROM_S,
                      "frames": int(len(centres)), "azimuths_deg": HELDOUT_AZIMUTHS.tolist(),
                      "elevations_deg": list(EVAL_ELEVATIONS), "distance_m": EVAL_DISTANCE_M,
                      "hfov_deg": EVAL_HFOV_DEG, "noise_sigma_box": EVAL_NOISE_SIGMA,
                      "drop_p": EVAL_DROP_P, "test_time_flip": flip}
    return out
