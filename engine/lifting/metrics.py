"""Errors of 3-D joints: MPJPE after aligning the hip midpoint, after Procrustes, per joint,
and the knee angle's error."""
from __future__ import annotations

import numpy as np

from engine.analysis.angles import knee_angles, knee_valgus_3d
from engine.joints import JOINTS
from .data import hip_mid


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (N, J, 3) moved onto ``gt`` by the best similarity transform (rotation,
    uniform scale, translation; no reflection) per sample."""
    mp, mg = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p, g = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, g))
    d = np.sign(np.linalg.det(u @ vt))  # no reflection
    s[:, -1] *= d
    u[:, :, -1] *= d[:, None]
    r = u @ vt  # (N, 3, 3), p @ r ~ g
    scale = s.sum(1) / (p ** 2).sum((1, 2))
    return scale[:, None, None] * (p @ r) + mg


def joint_errors(pred: np.ndarray, gt: np.ndarray, procrustes: bool = False) -> np.ndarray:
    """(N, J) Euclidean errors, same units as the input, after putting both hip midpoints at 0
    (or after Procrustes)."""
    if procrustes:
        pred = procrustes_align(pred, gt)
    else:
        pred = pred - hip_mid(pred)[:, None]
        gt = gt - hip_mid(gt)[:, None]
    return np.linalg.norm(pred - gt, axis=-1)


def summary(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Figures for one evaluation set: MPJPE mm (hip-aligned, Procrustes), per joint, and
    knee-angle error (degrees; knee flexion = 180 - knee angle, so the same error)."""
    e = joint_errors(pred, gt) * 1000
    ep = joint_errors(pred, gt, procrustes=True) * 1000
    ke = np.abs(knee_angles(pred) - knee_angles(gt))
    ve = np.abs(knee_valgus_3d(pred) - knee_valgus_3d(gt))
    return {"samples": int(len(gt)),
            "mpjpe_mm": round(float(e.mean()), 1),
            "pa_mpjpe_mm": round(float(ep.mean()), 1),
            "per_joint_mm": {n: round(float(v), 1) for n, v in zip(JOINTS, e.mean(0))},
            "per_joint_pa_mm": {n: round(float(v), 1) for n, v in zip(JOINTS, ep.mean(0))},
            "knee_flexion_error_deg": {
                "median": round(float(np.median(ke)), 2),
                "mean": round(float(ke.mean()), 2),
                "p90": round(float(np.percentile(ke, 90)), 2)},
            "knee_valgus_error_deg": {
                "median": round(float(np.median(ve)), 2),
                "p90": round(float(np.percentile(ve, 90)), 2)}}
