"""TransPose-style model (Yang et al., ICCV 2021): a CNN for local features, a Transformer
encoder over the feature tokens so every location attends to every other (the hips inform
the ankles and back), then upsampling to stride 4 and a 1x1 heatmap head.

ResNet18 up to layer2 (stride 8) -> 1x1 projection to ``d_model`` -> 2D sine positional
encoding (computed for the actual H, W, so any input size divisible by 32 works) ->
``nn.TransformerEncoder`` -> 4x4 deconvolution to stride 4 -> head.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from engine.joints import NUM_JOINTS
from .common import OUTPUT_STRIDE, heatmap_head, init_decoder
from .resnet import ResNetStages


def sine_position_encoding(h: int, w: int, dim: int, temperature: float = 10000.0,
                           device=None, dtype=torch.float32) -> torch.Tensor:
    """DETR's 2D sine encoding for an h x w grid: (h * w, dim), the first half encoding y and
    the second x, each as sin/cos pairs at geometric frequencies; positions normalised to
    [0, 2 pi] so the encoding does not depend on the grid size."""
    if dim % 4:
        raise ValueError(f"positional encoding dim must be a multiple of 4, got {dim}")
    q = dim // 4
    freq = temperature ** (-torch.arange(q, device=device, dtype=torch.float32) / q)
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 * math.pi
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 * math.pi
    ey = ys[:, None] * freq[None]  # (h, q)
    ex = xs[:, None] * freq[None]  # (w, q)
    ey = torch.cat([ey.sin(), ey.cos()], dim=1)[:, None, :].expand(h, w, 2 * q)
    ex = torch.cat([ex.sin(), ex.cos()], dim=1)[None, :, :].expand(h, w, 2 * q)
    return torch.cat([ey, ex], dim=2).reshape(h * w, dim).to(dtype)


class TransPose(nn.Module):
    """ResNet18 (to stride 8) + Transformer encoder over the feature tokens + deconv to stride 4."""

    stride = OUTPUT_STRIDE

    def __init__(self, num_joints: int = NUM_JOINTS, d_model: int = 128, layers: int = 4,
                 heads: int = 8, ff: int = 256, dropout: float = 0.1):
        super().__init__()
        self.backbone = ResNetStages(upto=2)  # C2, C3: stride 8, 128 channels
        self.proj = nn.Sequential(nn.Conv2d(128, d_model, 1, bias=False), nn.BatchNorm2d(d_model),
                                  nn.ReLU(inplace=True))
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, activation="relu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.up = nn.Sequential(nn.ConvTranspose2d(d_model, d_model, 4, stride=2, padding=1, bias=False),
                                nn.BatchNorm2d(d_model), nn.ReLU(inplace=True))
        init_decoder(self.up)
        self.head = heatmap_head(d_model, num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.proj(self.backbone(x)[-1])
        n, c, h, w = f.shape
        tokens = f.flatten(2).transpose(1, 2)  # (N, h*w, C)
        tokens = tokens + sine_position_encoding(h, w, c, device=f.device, dtype=f.dtype)
        f = self.encoder(tokens).transpose(1, 2).reshape(n, c, h, w)
        return self.head(self.up(f))
