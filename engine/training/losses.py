"""Training loss: visibility-weighted MSE between predicted and target heatmaps."""
from __future__ import annotations

import torch


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean squared error over (N, K, h, w) heatmaps, each joint's map scaled by ``weight``
    (N, K): unlabelled joints (weight 0) contribute nothing. Averaged over all maps so that
    the scale matches SimpleBaseline's JointsMSELoss (x 0.5)."""
    w = weight[:, :, None, None].to(pred.dtype)
    return 0.5 * ((pred.float() - target.float()) ** 2 * w).mean()
