"""Heatmap codec: training targets and inference decoding live together so they cannot drift.

Heatmaps are ``stride`` times smaller than the model input. A point at input pixel ``x``
sits at heatmap pixel ``(x + 0.5) / stride - 0.5`` (pixel centres aligned). Targets are
unnormalised Gaussians (peak 1.0) of standard deviation ``sigma`` heatmap pixels, centred at
the sub-pixel position; decoding takes the arg-max and refines it to sub-pixel precision with
DARK's second-order Taylor step (Zhang et al., CVPR 2020) on the log-heatmap.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class HeatmapCodec:
    """Encode/decode between input-pixel keypoints and heatmaps.

    ``input_size`` and ``heatmap_size`` are (width, height) in pixels.
    """

    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] = (48, 64)
    sigma: float = 2.0

    @property
    def stride(self) -> tuple[float, float]:
        return (self.input_size[0] / self.heatmap_size[0], self.input_size[1] / self.heatmap_size[1])

    def input_to_heatmap(self, xy: np.ndarray) -> np.ndarray:
        """Input pixels (..., 2) -> heatmap pixels (..., 2)."""
        s = np.array(self.stride)
        return (np.asarray(xy, dtype=np.float64) + 0.5) / s - 0.5

    def heatmap_to_input(self, xy: np.ndarray) -> np.ndarray:
        """Heatmap pixels (..., 2) -> input pixels (..., 2)."""
        s = np.array(self.stride)
        return (np.asarray(xy, dtype=np.float64) + 0.5) * s - 0.5

    def encode(self, keypoints_xy: np.ndarray, weights: np.ndarray,
               absent_outside: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Targets for one instance.

        keypoints_xy: (K, 2) input pixels; weights: (K,) loss weight per joint (0 = unlabelled).
        Returns heatmaps (K, h, w) float32 and weights (K,) float32. A labelled joint whose
        Gaussian falls entirely outside the heatmap gets weight 0 (no target), or, with
        ``absent_outside``, an all-zero target at its weight: "this joint is not in the crop",
        which keeps a model shown only a foot from putting the hips there too.
        """
        w, h = self.heatmap_size
        k = len(keypoints_xy)
        target = np.zeros((k, h, w), dtype=np.float32)
        out_w = np.asarray(weights, dtype=np.float32).copy()
        mu = self.input_to_heatmap(keypoints_xy)
        xs = np.arange(w, dtype=np.float32)[None, :]
        ys = np.arange(h, dtype=np.float32)[:, None]
        r = 3 * self.sigma
        for j in range(k):
            mx, my = mu[j]
            if out_w[j] <= 0 or not np.isfinite(mu[j]).all():
                out_w[j] = 0.0
                continue
            if mx < -r or my < -r or mx > w - 1 + r or my > h - 1 + r:
                if not absent_outside:
                    out_w[j] = 0.0
                continue
            g = np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * self.sigma**2))
            target[j] = g
        return target, out_w

    def decode(self, heatmaps: np.ndarray, refine: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (N, K, h, w) -> keypoints (N, K, 2) in input pixels and scores (N, K).

        The score is the heatmap's maximum (about 1.0 for a confident joint).
        """
        hm = np.asarray(heatmaps, dtype=np.float32)
        n, k, h, w = hm.shape
        flat = hm.reshape(n, k, -1)
        idx = flat.argmax(axis=2)
        scores = flat.max(axis=2)
        coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float64)
        if refine:
            coords = self._dark_refine(hm, coords)
        return self.heatmap_to_input(coords), scores

    def _dark_refine(self, hm: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """DARK sub-pixel refinement (second-order Taylor expansion of the log-heatmap)."""
        n, k, h, w = hm.shape
        ks = int(2 * round(3 * self.sigma) + 1) | 1
        blurred = np.empty_like(hm)
        for i in range(n):
            for j in range(k):
                m = hm[i, j]
                b = cv2.GaussianBlur(m, (ks, ks), 0, borderType=cv2.BORDER_CONSTANT)
                mx = m.max()
                bmax = b.max()
                blurred[i, j] = b * (mx / bmax) if bmax > 0 else b
        logh = np.log(np.clip(blurred, 1e-10, None))
        padded = np.pad(logh, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
        x = coords[..., 0].astype(int) + 1
        y = coords[..., 1].astype(int) + 1
        ii, jj = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

        def at(dy, dx):
            return padded[ii, jj, y + dy, x + dx]

        c = at(0, 0)
        dx = 0.5 * (at(0, 1) - at(0, -1))
        dy = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = at(0, 1) - 2 * c + at(0, -1)
        dyy = at(1, 0) - 2 * c + at(-1, 0)
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy**2
        ok = (np.abs(det) > 1e-12) & (dxx < 0) & (dyy < 0)
        safe = np.where(ok, det, 1.0)
        ox = -(dyy * dx - dxy * dy) / safe
        oy = -(dxx * dy - dxy * dx) / safe
        ok &= (np.abs(ox) <= 1.0) & (np.abs(oy) <= 1.0)
        out = coords.copy()
        out[..., 0] += np.where(ok, ox, 0.0)
        out[..., 1] += np.where(ok, oy, 0.0)
        return out
