"""What every model shares: input normalisation and the layer and init helpers.

Models take crops normalised with the ImageNet mean and standard deviation (the convention
of torchvision backbones, kept although training starts from random weights, so that
pretrained backbones could be dropped in) and output heatmaps at stride 4.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.joints import FLIP_INDEX

#: ImageNet channel mean and standard deviation (RGB, on a 0..1 scale).
MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Every model's heatmaps are this many times smaller than its input.
OUTPUT_STRIDE = 4
#: Input sides must be multiples of this (the deepest backbones reach stride 32).
INPUT_MULTIPLE = 32
#: Where shipped weights live (``SQUATPOSE_WEIGHTS_DIR`` names another folder); ``engine.models.weights``
#: reads and writes them
WEIGHTS_DIR = Path(os.environ.get("SQUATPOSE_WEIGHTS_DIR", Path(__file__).resolve().parents[2] / "weights"))


def preprocess(crops: np.ndarray | torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """RGB uint8 crops (N, H, W, 3) or one (H, W, 3), numpy or torch -> normalised float32
    tensor (N, 3, H, W) on ``device`` (default: the input tensor's device, else the CPU)."""
    x = torch.from_numpy(np.ascontiguousarray(crops)) if isinstance(crops, np.ndarray) else crops
    if device is not None:
        x = x.to(device, non_blocking=True)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected RGB crops (N, H, W, 3), got shape {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def predict_heatmaps(model: nn.Module, x: torch.Tensor, flip_test: bool = False) -> torch.Tensor:
    """Float32 heatmaps of a normalised batch ``x`` (N, 3, H, W). With ``flip_test`` the batch
    and its mirror image go through the model together (one pass of 2N) and each crop's
    heatmaps are averaged with its mirror's, mirrored back with left and right exchanged (the
    flip test of SimpleBaseline and HRNet). Pixel centres map exactly under the mirror
    (``engine.codec``: heatmap x = (input x + 0.5) / stride - 0.5), so no shift is needed.
    The caller sets the mode (``torch.inference_mode``, CUDA autocast)."""
    if not flip_test:
        return model(x).float()
    n = x.shape[0]
    hm = model(torch.cat([x, torch.flip(x, dims=[3])])).float()
    return 0.5 * (hm[:n] + torch.flip(hm[n:], dims=[3])[:, list(FLIP_INDEX)])


def predict_keypoints(model: nn.Module, x: torch.Tensor, codec, flip_test: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmaps (N, 6, h, w) float32, joints (N, 6, 2) in input pixels and their scores (N, 6)
    of a normalised batch ``x``: the one place inference turns a model's output into joints.
    A model with its own decoding (``decodes_keypoints`` true: MoveNet with its own weights,
    decoded with its centre, regression and offset heads) gives them by ``forward_keypoints``;
    every other model's heatmaps go through ``codec.decode`` (arg-max + DARK), after the flip
    test when asked. The caller sets the mode."""
    if getattr(model, "decodes_keypoints", False):
        own = model.forward_keypoints
        if flip_test:
            raise ValueError(f"{type(model).__name__} decodes its own joints; the flip test is not "
                             "available for it (set flip_test false in its sidecar)")
        hm, xy, sc = own(x)
        return (hm.float().cpu().numpy(), xy.double().cpu().numpy(),
                sc.double().cpu().numpy())
    hm = predict_heatmaps(model, x, flip_test).cpu().numpy()
    xy, sc = codec.decode(hm)
    return hm, xy, sc


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding for odd kernels) -> BatchNorm -> ReLU."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def heatmap_head(cin: int, num_joints: int) -> nn.Conv2d:
    """The final 1x1 conv to one heatmap per joint, initialised as in SimpleBaseline
    (normal, std 0.001, zero bias) so that untrained heatmaps start near zero."""
    head = nn.Conv2d(cin, num_joints, 1)
    nn.init.normal_(head.weight, std=0.001)
    nn.init.zeros_(head.bias)
    return head


def deconv_stack(cin: int, channels: int = 256, count: int = 3) -> nn.Sequential:
    """SimpleBaseline's decoder: ``count`` 4x4 stride-2 deconvolutions with BatchNorm and ReLU
    (each doubles the resolution), initialised by ``init_decoder``."""
    layers = []
    for _ in range(count):
        layers += [nn.ConvTranspose2d(cin, channels, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        cin = channels
    stack = nn.Sequential(*layers)
    init_decoder(stack)
    return stack


def init_decoder(module: nn.Module) -> None:
    """SimpleBaseline init for layers added on top of a backbone: convs and deconvs normal
    (std 0.001), BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d into the (transposed) convolution registered just before it in
    the same parent module, in place, for inference (eval mode only; about 1.3-1.5x faster on
    the CPU). This holds for the models of this registry and torchvision's ResNets, where a
    conv registered right before a BN feeds only that BN; the BN becomes an ``nn.Identity``."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fuse_conv_bn is for inference: call model.eval() first")
    for parent in model.modules():
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = parent._modules[a], parent._modules[b]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d) \
                    and bn.num_features == conv.out_channels and bn.track_running_stats:
                transpose = isinstance(conv, nn.ConvTranspose2d)
                parent._modules[a] = fuse_conv_bn_eval(conv, bn, transpose=transpose)
                parent._modules[b] = nn.Identity()
    return model
