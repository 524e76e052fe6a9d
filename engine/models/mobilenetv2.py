"""MobileNetV2 with TensorFlow's padding, as host for the ImageNet TFLite weights, and the
``mobilenetv2`` heatmap model built on it.

The network is torchvision's ``mobilenet_v2`` (same modules, same state-dict keys) with each
``Conv2d`` replaced by ``TFSameConv2d``, which pads as TensorFlow's SAME does: on a stride-2
layer over an even side, nothing before and one pixel after (PyTorch's ``padding=1`` would
pad one on each side and shift every later feature by half a pixel). TensorFlow's MobileNetV2
takes RGB scaled to [-1, 1].

``load_folded`` puts the folded (BatchNorm-in-the-convolution) weights of a ``TFLiteNet`` into
this network: each convolution gets the folded weight, and the BatchNorm after it becomes an
exact identity plus the folded bias (weight 1, running mean 0, running variance 1 - eps), so
in eval mode the network computes what the TFLite graph computes (up to its quantisation of
activations). In training mode those BatchNorms must stay in eval mode (``freeze_batchnorm``):
batch statistics would re-normalise every layer and undo the folding.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

from engine.joints import NUM_JOINTS
from .common import MEAN, OUTPUT_STRIDE, STD, deconv_stack, heatmap_head
from .tflite_import import TFLiteImportError, TFLiteNet

#: torchvision MobileNetV2: 52 convolutions in ``features`` (+ the classifier).
BACKBONE_CONVS = 52
FEATURE_CHANNELS = 1280


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) of one side."""
    eff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


class TFSameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's SAME padding. Stride 1 (odd kernel) pads symmetrically,
    done by the convolution itself; larger strides pad (before, after) from the input size."""

    def __init__(self, *args, **kw):
        kw["padding"] = 0
        super().__init__(*args, **kw)
        self._static = all(s == 1 for s in self.stride) and all(k % 2 for k in self.kernel_size)
        if self._static:
            self.padding = tuple((k - 1) // 2 * d for k, d in zip(self.kernel_size, self.dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._static:
            top, bottom = _same_pad(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
            left, right = _same_pad(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
            if top or bottom or left or right:
                x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def tf_mobilenet_v2(num_classes: int = 1001, width_mult: float = 1.0,
                    last_channel: int | None = None) -> nn.Module:
    """torchvision's MobileNetV2 (random init) with TensorFlow SAME padding everywhere;
    ``num_classes`` 1001 as in the TFLite files (class 0 = background). ``width_mult`` scales
    every layer as torchvision (and Keras) do; ``last_channel`` overrides the width of the final
    1x1 convolution (torchvision widens it past 1280 when ``width_mult`` > 1, MoveNet's
    Keras backbone keeps 1280)."""
    net = mobilenet_v2(weights=None, num_classes=num_classes, width_mult=width_mult)
    if last_channel is not None:
        from torchvision.ops.misc import Conv2dNormActivation
        net.features[-1] = Conv2dNormActivation(net.features[-1][0].in_channels, last_channel,
                                                kernel_size=1, norm_layer=nn.BatchNorm2d,
                                                activation_layer=nn.ReLU6)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv2d:
                new = TFSameConv2d(child.in_channels, child.out_channels, child.kernel_size,
                                   child.stride, dilation=child.dilation, groups=child.groups,
                                   bias=child.bias is not None)
                new.weight = child.weight
                setattr(parent, name, new)
    return net


def conv_layers(features: nn.Module) -> list[tuple[str, nn.Conv2d, str, nn.BatchNorm2d, bool]]:
    """(conv name, conv, BatchNorm name, the BatchNorm after it, whether a ReLU6 follows) for
    every convolution of a MobileNetV2 ``features`` module, in execution order."""
    out = []

    def walk(parent: nn.Module, prefix: str) -> None:
        kids = list(parent.named_children())
        for j, (cname, child) in enumerate(kids):
            if isinstance(child, nn.Conv2d):
                bn = kids[j + 1][1] if j + 1 < len(kids) else None
                if not isinstance(bn, nn.BatchNorm2d):
                    raise ValueError(f"{prefix}{cname}: no BatchNorm after the convolution")
                relu6 = j + 2 < len(kids) and isinstance(kids[j + 2][1], nn.ReLU6)
                out.append((prefix + cname, child, prefix + kids[j + 1][0], bn, relu6))
            else:
                walk(child, f"{prefix}{cname}.")

    walk(features, "")
    return out


def _residual_blocks(features: nn.Module, convs) -> list[tuple[int, int]]:
    """(first, last) conv index of every block with a residual connection."""
    index = {id(c[1]): i for i, c in enumerate(convs)}
    blocks = []
    for m in features:
        if getattr(m, "use_res_connect", False):
            ids = [index[id(c)] for c in m.modules() if isinstance(c, nn.Conv2d)]
            blocks.append((min(ids), max(ids)))
    return blocks


def folded_state(features: nn.Module, net: TFLiteNet) -> dict[str, torch.Tensor]:
    """The complete state dict of ``features`` (a ``tf_mobilenet_v2().features``) holding
    ``net``'s first 52 convolutions; every structural fact is checked against the file
    (count, shapes, strides, depthwise groups, SAME padding, fused ReLU6, residual additions
    and the chain of tensors), and a mismatch raises ``TFLiteImportError`` naming the layer."""
    convs = conv_layers(features)
    path = net.path
    if len(net.convs) < len(convs):
        raise TFLiteImportError(f"{path}: {len(net.convs)} convolutions, MobileNetV2 needs "
                                f"{len(convs)}: not a MobileNetV2 1.0 file")
    state = {}
    for i, ((name, conv, bn_name, bn, relu6), op) in enumerate(zip(convs, net.convs)):
        where = f"{path}: convolution {i} (operator {op.index}) -> {name}"
        if tuple(op.weight.shape) != tuple(conv.weight.shape):
            raise TFLiteImportError(f"{where}: weight shape {tuple(op.weight.shape)}, the network "
                                    f"needs {tuple(conv.weight.shape)}")
        if op.depthwise != (conv.groups > 1 and conv.groups == conv.in_channels):
            raise TFLiteImportError(f"{where}: depthwise in one and not the other")
        if op.stride != tuple(conv.stride):
            raise TFLiteImportError(f"{where}: stride {op.stride}, the network has {tuple(conv.stride)}")
        if op.padding != "SAME":
            raise TFLiteImportError(f"{where}: {op.padding} padding; the network pads SAME")
        if op.relu6 != relu6:
            raise TFLiteImportError(f"{where}: fused ReLU6 is {op.relu6}, the network has {relu6}")
        if i and op.input != net.convs[i - 1].output and not any(
                op.input == out and net.convs[i - 1].output in ins for ins, out in net.adds):
            raise TFLiteImportError(f"{where}: its input is not the previous layer's output (or "
                                    "a residual sum of it): the graph is not MobileNetV2's chain")
        state[f"{name}.weight"] = torch.from_numpy(op.weight.copy())
        set_identity_bn(state, bn_name, bn, torch.from_numpy(op.bias.copy()))
    for first, last in _residual_blocks(features, convs):
        want = {net.convs[first].input, net.convs[last].output}
        if not any(set(ins) == want for ins, _ in net.adds):
            raise TFLiteImportError(f"{path}: no residual ADD around convolutions {first}..{last}; "
                                    "the graph is not MobileNetV2's")
    own = features.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:  # cannot happen with a MobileNetV2 host; guards against a partial load
        raise TFLiteImportError(f"{path}: the import leaves {len(missing)} tensors unset: {missing[:3]}")
    return state


def set_identity_bn(state: dict, name: str, bn: nn.BatchNorm2d, bias: torch.Tensor) -> None:
    """State of a BatchNorm that is an exact identity plus ``bias`` in eval mode."""
    c = bn.num_features
    state[f"{name}.weight"] = torch.ones(c)
    state[f"{name}.bias"] = bias.float()
    state[f"{name}.running_mean"] = torch.zeros(c)
    state[f"{name}.running_var"] = torch.full((c,), 1.0 - bn.eps)
    state[f"{name}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)


def classifier_state(net: nn.Module, tfl: TFLiteNet) -> dict[str, torch.Tensor]:
    """Full state dict of a ``tf_mobilenet_v2(1001)`` classifier from ``tfl`` (52 backbone
    convolutions + the 1x1 classifier convolution as the Linear layer)."""
    state = {f"features.{k}": v for k, v in folded_state(net.features, tfl).items()}
    linear = net.classifier[-1]
    if len(tfl.convs) != BACKBONE_CONVS + 1:
        raise TFLiteImportError(f"{tfl.path}: {len(tfl.convs)} convolutions; a MobileNetV2 "
                                f"classifier has {BACKBONE_CONVS + 1}")
    head = tfl.convs[-1]
    if head.weight.shape != (linear.out_features, linear.in_features, 1, 1):
        raise TFLiteImportError(f"{tfl.path}: classifier weight {head.weight.shape}, expected "
                                f"({linear.out_features}, {linear.in_features}, 1, 1)")
    state["classifier.1.weight"] = torch.from_numpy(head.weight[:, :, 0, 0].copy())
    state["classifier.1.bias"] = torch.from_numpy(head.bias.copy())
    return state


def freeze_batchnorm(module: nn.Module) -> int:
    """Make every BatchNorm2d inside ``module`` keep its running statistics: it stays in eval
    mode whatever ``.train()`` says (its affine weight and bias still learn). Returns how
    many were frozen. The state-dict keys do not change."""
    n = 0
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d) and not isinstance(m, FrozenStatsBatchNorm2d):
            m.__class__ = FrozenStatsBatchNorm2d
            m.eval()
            n += 1
    return n


class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d that always normalises with its stored statistics (never batch ones)."""

    def train(self, mode: bool = True):
        return super().train(False)


class MobileNetV2Pose(nn.Module):
    """SimpleBaseline on MobileNetV2 (as MMPose's ``mobilenetv2`` top-down config): the
    MobileNetV2 features to stride 32 (1280 channels) + three 4x4 deconvolutions (256 ch)
    + 1x1 head. Takes the project's ImageNet-normalised input and rescales it to the [-1, 1]
    that TensorFlow's MobileNetV2 was trained on."""

    stride = OUTPUT_STRIDE

    def __init__(self, num_joints: int = NUM_JOINTS, deconv_channels: int = 256):
        super().__init__()
        self.backbone = tf_mobilenet_v2().features
        # x01 = x * std + mean; x_tf = 2 * x01 - 1
        self.register_buffer("in_scale", 2 * torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_shift", (2 * torch.tensor(MEAN) - 1).view(1, 3, 1, 1), persistent=False)
        self.deconv = deconv_stack(FEATURE_CHANNELS, deconv_channels)
        self.head = heatmap_head(deconv_channels, num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.deconv(self.backbone(x * self.in_scale + self.in_shift)))
