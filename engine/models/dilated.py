"""The study's small model: a light stem to stride 4, then residual dilated 3x3 convolutions.

Dilations grow 1, 2, 4, 8, 16 and repeat, so the receptive field covers the whole crop
(hip to ankle) without any downsampling below stride 4 and without a decoder. Each block is
a 3x3 dilated conv (``groups`` > 1 makes it grouped, cheaper) and a 1x1 conv that mixes the
channels, with a residual connection around both.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.joints import NUM_JOINTS
from .common import OUTPUT_STRIDE, conv_bn_relu, heatmap_head


class DilatedBlock(nn.Module):
    """x + BN(1x1(ReLU(BN(3x3 dilated(x))))), then ReLU."""

    def __init__(self, channels: int, dilation: int, groups: int = 1):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.conv(x))


class DilatedNet(nn.Module):
    """Stem (two stride-2 3x3 convs) + ``repeats`` x blocks with ``dilations`` + 1x1 head."""

    stride = OUTPUT_STRIDE

    def __init__(self, num_joints: int = NUM_JOINTS, channels: int = 64,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 16), repeats: int = 2, groups: int = 1):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(3, 32, 3, stride=2), conv_bn_relu(32, channels, 3, stride=2))
        self.blocks = nn.Sequential(*(DilatedBlock(channels, d, groups)
                                      for _ in range(repeats) for d in dilations))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for b in self.blocks:  # start each residual branch near identity (zero-init last BN)
            nn.init.zeros_(b.conv[-1].weight)
        self.head = heatmap_head(channels, num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
