"""The lifter: a small temporal convolution (as VideoPose3D) from a window of normalised 2-D
joints to the centre frame's six 3-D joints (heading frame, metres, hip midpoint at 0)."""
from __future__ import annotations

import torch
from torch import nn

from .data import IN_CHANNELS, WINDOW


class TemporalLifter(nn.Module):
    """Dilated 1-D convolutions over time (kernel 3, dilations 1, 3, 9: a 27-frame receptive
    field) with residual blocks; input (N, T, IN_CHANNELS), output (N, T - 26, 6, 3)."""

    def __init__(self, width: int = 128, dilations: tuple[int, ...] = (1, 3, 9),
                 dropout: float = 0.1):
        super().__init__()
        self.width, self.dilations = width, tuple(dilations)
        self.receptive_field = 1 + 2 * sum(dilations)
        assert self.receptive_field == WINDOW, (self.receptive_field, WINDOW)
        self.expand = nn.Sequential(nn.Conv1d(IN_CHANNELS, width, 3, dilation=dilations[0],
                                              bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                                    nn.Dropout(dropout))
        self.blocks = nn.ModuleList()
        for d in dilations[1:]:
            self.blocks.append(nn.Sequential(
                nn.Conv1d(width, width, 3, dilation=d, bias=False), nn.BatchNorm1d(width),
                nn.ReLU(), nn.Dropout(dropout),
                nn.Conv1d(width, width, 1, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                nn.Dropout(dropout)))
        self.head = nn.Conv1d(width, 18, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(x.transpose(1, 2))
        for block, d in zip(self.blocks, self.dilations[1:]):
            x = x[:, :, d:-d] + block(x)
        out = self.head(x)  # (N, 18, T')
        return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], 6, 3)

    def config(self) -> dict:
        return {"width": self.width, "dilations": list(self.dilations)}
