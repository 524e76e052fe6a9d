"""The model registry: every heatmap model by name, with one constructor signature.

Every model maps a normalised image batch (N, 3, H, W) (see ``preprocess``; H and W
multiples of 32) to heatmaps (N, 6, H/4, W/4), has ``stride = 4``, and is built with
``build_model(name, num_joints=6, **model_options)`` from random initialisation, or with an
ImageNet backbone by ``build_model(name, pretrained=PATH | "imagenet")`` (see
``engine.models.pretrained``). Trained weights are loaded by ``engine.models.weights.load_model``.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from .attention import TransPose
from .common import INPUT_MULTIPLE, MEAN, OUTPUT_STRIDE, STD, preprocess
from .dilated import DilatedNet
from .mobilenetv2 import MobileNetV2Pose
from .movenet import MoveNetPose
from .resnet import ResNetFPN, SimpleBaseline

__all__ = ["MEAN", "STD", "OUTPUT_STRIDE", "INPUT_MULTIPLE", "MODEL_INFO", "preprocess",
           "build_model", "list_models", "count_parameters", "count_flops"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "resnet18": SimpleBaseline,
    "resnet18_fpn": ResNetFPN,
    "dilated": DilatedNet,
    "attention": TransPose,
    "mobilenetv2": MobileNetV2Pose,
    "movenet_thunder": partial(MoveNetPose, variant="thunder"),
    "movenet_lightning": partial(MoveNetPose, variant="lightning"),
    # the same networks as SquatPose ships them fine-tuned (issue 28): another name, so that the
    # imported zero-shot files stay as they are and both are scored and compared side by side
    "movenet_thunder_ft": partial(MoveNetPose, variant="thunder"),
    "movenet_lightning_ft": partial(MoveNetPose, variant="lightning"),
}

#: One line per model, for CLIs and the app.
MODEL_INFO: dict[str, str] = {
    "resnet18": "SimpleBaseline: ResNet18 backbone + three 4x4 deconvolutions (256 ch) + 1x1 head",
    "resnet18_fpn": "ResNet18 + FPN top-down path (C2..C5 laterals, 128 ch) to stride 4 + 1x1 head",
    "dilated": "small CNN (64 ch): stem to stride 4 + residual dilated 3x3 blocks (1..16, twice); fast on CPU",
    "attention": "TransPose-style: ResNet18 to stride 8 + Transformer encoder over feature tokens "
                 "+ deconv to stride 4",
    "mobilenetv2": "SimpleBaseline on MobileNetV2 (TF padding, stride 32, 1280 ch) + three 4x4 "
                   "deconvolutions (256 ch) + 1x1 head; ImageNet backbone from the TFLite file",
    "movenet_thunder": "Google's MoveNet SinglePose Thunder (256x256): MobileNetV2 x1.75 + FPN + CenterNet "
                       "heads, trained on people; imported from its TensorFlow.js graph",
    "movenet_lightning": "Google's MoveNet SinglePose Lightning (192x192): MobileNetV2 x1.0 + FPN + "
                         "CenterNet heads, trained on people; imported from its TensorFlow.js graph",
    "movenet_thunder_ft": "MoveNet Thunder fine-tuned by SquatPose on its labels (a WiSE-FT weight mix of "
                          "the import and its fine-tuned self; decoded by the heatmap codec)",
    "movenet_lightning_ft": "MoveNet Lightning fine-tuned by SquatPose on its labels (a WiSE-FT weight mix "
                            "of the import and its fine-tuned self; decoded by the heatmap codec)",
}


def list_models() -> list[str]:
    """Registered model names, in the study's order."""
    return list(_REGISTRY)


def build_model(name: str, pretrained: str | None = None, backbone_bn: str = "auto", **kw) -> nn.Module:
    """A model by registry name; ``kw`` goes to its constructor (``num_joints`` for all, plus
    model-specific sizes). Randomly initialised, or with ``pretrained`` (a file or
    ``"imagenet"``) its backbone loaded strictly by ``engine.models.pretrained.load_backbone``
    (``backbone_bn``: auto, frozen or train). ``model.init_record`` says which (a dict for
    the sidecar); errors raise ``engine.models.pretrained.PretrainedError``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(_REGISTRY)})")
    model = _REGISTRY[name](**kw)
    if pretrained:
        from .pretrained import load_backbone
        model.init_record = load_backbone(model, name, pretrained, backbone_bn)
    else:
        model.init_record = {"backbone": "random"}
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those that require grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_size: tuple[int, int] = (192, 256)) -> int:
    """FLOPs of one forward pass on one image of ``input_size`` = (width, height).

    Counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts a multiply-add as
    2 FLOPs (so multiply-adds = FLOPs / 2) and counts convolutions, matrix products and
    attention only (not BatchNorm, activations or additions). Runs in eval mode with
    autograd on, so the Transformer fast path (which the counter cannot see) is not taken.
    """
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    # the CPU's fused attention kernel is missing from the counter's table: count it as the
    # GPU kernels are (2 * B * heads * L * S * E for Q K^T, the same for attention x V)
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    custom = {cpu_sdpa: lambda q, k, v, *a, out_shape=None, **kw: sdpa_flop_count(q, k, v)} \
        if cpu_sdpa is not None else {}
    w, h = input_size
    p = next(model.parameters())
    x = torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), FlopCounterMode(display=False, custom_mapping=custom) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
