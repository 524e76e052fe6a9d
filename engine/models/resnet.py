"""ResNet18 heatmap models: SimpleBaseline (three deconvolutions) and an FPN variant.

Both use torchvision's ResNet18 with random initialisation (no pretrained weights can be
downloaded here). Input (N, 3, H, W), H and W multiples of 32; output (N, K, H/4, W/4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from engine.joints import NUM_JOINTS
from .common import OUTPUT_STRIDE, conv_bn_relu, deconv_stack, heatmap_head


class ResNetStages(nn.Module):
    """ResNet18 without its classifier, returning the C2..C5 feature maps (strides 4..32,
    64/128/256/512 channels) or only the deepest ``upto`` of them."""

    CHANNELS = (64, 128, 256, 512)

    def __init__(self, upto: int = 4):
        super().__init__()
        r = resnet18(weights=None)
        self.stem = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool)
        self.layers = nn.ModuleList([r.layer1, r.layer2, r.layer3, r.layer4][:upto])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class SimpleBaseline(nn.Module):
    """Xiao et al. 2018: ResNet18 (stride 32) + three 4x4 deconvolutions (256 ch) + 1x1 head."""

    stride = OUTPUT_STRIDE

    def __init__(self, num_joints: int = NUM_JOINTS, deconv_channels: int = 256):
        super().__init__()
        self.backbone = ResNetStages()
        self.deconv = deconv_stack(512, deconv_channels)
        self.head = heatmap_head(deconv_channels, num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.deconv(self.backbone(x)[-1]))


class ResNetFPN(nn.Module):
    """ResNet18 with a feature-pyramid top-down path (Lin et al. 2017) down to stride 4:
    1x1 laterals on C2..C5, nearest upsampling and addition, a 3x3 smoothing conv on P2,
    then the 1x1 heatmap head."""

    stride = OUTPUT_STRIDE

    def __init__(self, num_joints: int = NUM_JOINTS, channels: int = 128):
        super().__init__()
        self.backbone = ResNetStages()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in ResNetStages.CHANNELS)
        for m in self.lateral:
            nn.init.kaiming_uniform_(m.weight, a=1)
            nn.init.zeros_(m.bias)
        self.smooth = conv_bn_relu(channels, channels, 3)
        self.head = heatmap_head(channels, num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        p = self.lateral[-1](feats[-1])
        for lat, c in zip(reversed(self.lateral[:-1]), reversed(feats[:-1])):
            p = lat(c) + F.interpolate(p, size=c.shape[-2:], mode="nearest")
        return self.head(self.smooth(p))
