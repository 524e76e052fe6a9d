"""MoveNet SinglePose (Thunder, Lightning) as a PyTorch module: a pose-trained heatmap network.

The network is Google's MoveNet SinglePose v4 as its TensorFlow.js graph has it
(``../shared/pretrained/pose/movenet-*.json``, ``modelTopology.node``):

- backbone: MobileNetV2 (``engine.models.mobilenetv2.tf_mobilenet_v2``: torchvision's modules
  with TensorFlow's SAME padding) at width 1.75 (Thunder) or 1.0 (Lightning), its final 1x1
  convolution 1280 wide at both widths; BatchNorm folded into the convolutions, so the
  BatchNorms are identities plus a bias and are frozen (``freeze_batchnorm``);
- FPN: 1x1 laterals on the outputs of blocks 2, 5, 9 (strides 4, 8, 16) and of the final
  convolution (stride 32, 64 channels); three x2 bilinear upsamplings (half-pixel centres), each
  added to its lateral and followed by a separable 3x3 convolution with ReLU (64 -> 32 -> 24 -> 24);
- four CenterNet heads on the stride-4 features, each a separable 3x3 convolution (24 -> 96, ReLU)
  and a 1x1 convolution: ``kpt_heatmap`` (17 keypoint heatmaps, sigmoid), ``center`` (the
  person's centre, sigmoid), ``kpt_regress`` (34: each keypoint's (dy, dx) from the centre) and
  ``kpt_offset`` (34: each keypoint's sub-cell (dy, dx)).

For the engine the model maps an ImageNet-normalised batch (``engine.models.preprocess``) to
our six heatmaps (COCO keypoints 11-16, after the sigmoid), so training and the tools treat it
like every other registry model. Joints are decoded the graph's way by ``forward_keypoints``
(``decode``): the centre cell is the arg-max of the centre heatmap weighted towards the middle of
the crop, each keypoint the arg-max of its heatmap divided by the distance to where the centre's
regression puts it (+1.8 cells), refined by its sub-cell offset. The input scaling the graph applies
to its int32 0-255 input ((x - mean) * scale - offset: 0, 1/127.5, 1 in both files) is kept as
buffers loaded with the weights. Weights: ``engine.models.movenet_import``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from engine.joints import COCO_INDICES, NUM_JOINTS
from .common import MEAN, OUTPUT_STRIDE, STD
from .mobilenetv2 import freeze_batchnorm, tf_mobilenet_v2

#: The two sizes: backbone width and the input side the graph was made for.
VARIANTS: dict[str, dict] = {
    "thunder": {"width_mult": 1.75, "input_size": 256},
    "lightning": {"width_mult": 1.0, "input_size": 192},
}
NUM_KEYPOINTS = 17
LAST_CHANNEL = 1280
#: backbone ``features`` indices whose outputs feed the FPN laterals (strides 4, 8, 16; 32 = last)
TAPS = (3, 6, 10)
FPN_CHANNELS = (64, 32, 24, 24)
HEAD_CHANNELS = 96
HEADS = {"kpt_heatmap": NUM_KEYPOINTS, "center": 1, "kpt_regress": 2 * NUM_KEYPOINTS,
         "kpt_offset": 2 * NUM_KEYPOINTS}
#: the graph's decoding constants: cells added to a keypoint's distance from the regressed
#: position (and to the centre prior's distance from the middle), stored as float16 like the graph
DISTANCE_BIAS = 1.8


def fp16(x: torch.Tensor | float) -> torch.Tensor:
    """``x`` rounded to float16 and back: how the graph stores its float constants."""
    return torch.as_tensor(x, dtype=torch.float32).half().float()


class SeparableConv(nn.Sequential):
    """Keras ``SeparableConv2D`` with ReLU: depthwise 3x3 (SAME, no bias), pointwise 1x1 + bias."""

    def __init__(self, cin: int, cout: int):
        super().__init__(OrderedDict(depthwise=nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False),
                                     pointwise=nn.Conv2d(cin, cout, 1), relu=nn.ReLU(inplace=True)))


class Head(nn.Sequential):
    """A CenterNet head: separable 3x3 (-> 96, ReLU) and a 1x1 convolution to ``cout`` maps."""

    def __init__(self, cin: int, cout: int):
        super().__init__(OrderedDict(separable=SeparableConv(cin, HEAD_CHANNELS),
                                     out=nn.Conv2d(HEAD_CHANNELS, cout, 1)))


class MoveNetPose(nn.Module):
    """MoveNet SinglePose in PyTorch (see the module docstring); ``variant`` thunder or lightning."""

    stride = OUTPUT_STRIDE

    def __init__(self, num_joints: int = NUM_JOINTS, variant: str = "thunder"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"MoveNet variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        if num_joints != NUM_JOINTS:
            raise ValueError(f"MoveNet gives COCO's keypoints 11-16: num_joints must be {NUM_JOINTS}")
        self.variant = variant
        self.default_input = VARIANTS[variant]["input_size"]
        self.backbone = tf_mobilenet_v2(width_mult=VARIANTS[variant]["width_mult"],
                                        last_channel=LAST_CHANNEL).features
        c2, c3, c4 = (self.backbone[i].out_channels for i in TAPS)
        f5, f4, f3, f2 = FPN_CHANNELS
        self.lateral5 = nn.Conv2d(LAST_CHANNEL, f5, 1)
        self.lateral4 = nn.Conv2d(c4, f5, 1)
        self.smooth4 = SeparableConv(f5, f4)
        self.lateral3 = nn.Conv2d(c3, f4, 1)
        self.smooth3 = SeparableConv(f4, f3)
        self.lateral2 = nn.Conv2d(c2, f3, 1)
        self.smooth2 = SeparableConv(f3, f2)
        self.heads = nn.ModuleDict({name: Head(f2, c) for name, c in HEADS.items()})
        # the graph's input scaling of 0-255 pixels: (x - mean) * scale - offset
        self.register_buffer("input_mean", torch.zeros(3))
        self.register_buffer("input_scale", fp16(torch.full((3,), 1 / 127.5)))
        self.register_buffer("input_offset", torch.ones(1))
        # the graph's centre prior for its own heatmap size (loaded with the weights: the graph's
        # float16 table differs from ``center_prior`` in a few cells by one float16 step)
        side = self.default_input // OUTPUT_STRIDE
        self.register_buffer("center_weight", center_prior(side, side))
        self.register_buffer("joint_index", torch.tensor(COCO_INDICES), persistent=False)
        # 1 when the weights are MoveNet's own (set by the import, kept in the weight file): only
        # then do the centre, regression and offset heads mean anything, and joints are decoded
        # the graph's way; a module trained from random weights is decoded by the heatmap codec
        self.register_buffer("graph_decode", torch.zeros((), dtype=torch.uint8))
        freeze_batchnorm(self.backbone)

    #: parameters outside the heatmap path (``forward``): the graph's decoding uses them, the
    #: heatmap loss does not train them
    AUXILIARY = ("heads.center.", "heads.kpt_regress.", "heads.kpt_offset.")

    @property
    def decodes_keypoints(self) -> bool:
        """Whether ``engine.models.common.predict_keypoints`` uses ``forward_keypoints``."""
        return bool(self.graph_decode)

    def graph_input(self, x: torch.Tensor) -> torch.Tensor:
        """The engine's ImageNet-normalised batch -> what the graph's first convolution sees."""
        std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
        mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
        scale = self.input_scale.view(1, 3, 1, 1)
        a = std * 255.0 * scale
        b = (mean * 255.0 - self.input_mean.view(1, 3, 1, 1)) * scale - self.input_offset
        return x * a + b

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-4 FPN features (N, 24, H/4, W/4) of a normalised batch."""
        x = self.graph_input(x)
        taps = []
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i in TAPS:
                taps.append(x)
        c2, c3, c4 = taps
        p = self.lateral5(x)
        for lateral, smooth, c in ((self.lateral4, self.smooth4, c4), (self.lateral3, self.smooth3, c3),
                                   (self.lateral2, self.smooth2, c2)):
            p = F.interpolate(p, size=c.shape[-2:], mode="bilinear", align_corners=False)
            p = smooth(p + lateral(c))
        return p

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The four heads' raw outputs (logits, NCHW) of a normalised batch."""
        f = self.features(x)
        return {name: head(f) for name, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Our six heatmaps (N, 6, H/4, W/4): COCO keypoints 11-16 after the sigmoid."""
        f = self.features(x)
        return torch.sigmoid(self.heads["kpt_heatmap"](f)[:, self.joint_index])

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """COCO's 17 keypoints as the graph outputs them: (N, 17, 3) = (y, x, score), y and x in
        [0, 1] of the input."""
        return decode(self.forward_heads(x), self.center_weight)

    def forward_keypoints(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(six heatmaps (N, 6, h, w), six joints (N, 6, 2) as (x, y) input pixels, their scores
        (N, 6)): the engine's joints, decoded the graph's way (``decode``). Input pixel centres:
        pixel i spans [i - 0.5, i + 0.5], so a graph coordinate v in [0, 1] is v * side - 0.5."""
        return self.keypoints_from_heads(self.forward_heads(x), *x.shape[-2:])

    def keypoints_from_heads(self, heads: dict[str, torch.Tensor], h: int, w: int
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``forward_keypoints``'s outputs from the four raw heads of an (h, w) input: shared by
        PyTorch and the ONNX Runtime path (``engine.models.onnx_runtime``), whose graph ends at
        the heads."""
        heat = torch.sigmoid(heads["kpt_heatmap"].float())  # once: the decoding and the panels share it
        kp = decode(heads, self.center_weight, heat)[:, self.joint_index]
        xy = torch.stack([kp[..., 1] * w - 0.5, kp[..., 0] * h - 0.5], dim=-1)
        return heat[:, self.joint_index], xy, kp[..., 2]


def center_prior(h: int, w: int, device=None) -> torch.Tensor:
    """The graph's weighting of the centre heatmap towards the middle of the crop (h, w):
    1 / (distance in cells from cell (h/2, w/2) + 1.8), computed in float32 and stored as
    float16, as in the graph (its constant ``truediv_2_recip``; checked at import)."""
    ys = torch.arange(h, dtype=torch.float32, device=device).view(h, 1)
    xs = torch.arange(w, dtype=torch.float32, device=device).view(1, w)
    d = torch.sqrt((ys - h // 2) ** 2 + (xs - w // 2) ** 2)
    return fp16(1.0 / (d + DISTANCE_BIAS)).to(device)


def decode(heads: dict[str, torch.Tensor], prior: torch.Tensor | None = None,
           heat: torch.Tensor | None = None) -> torch.Tensor:
    """The graph's decoding of the four heads (raw NCHW outputs) into (N, 17, 3) = (y, x, score),
    y and x in [0, 1] of the input: centre = arg-max of sigmoid(centre) x ``center_prior``; each
    keypoint's coarse position = centre + its regression there; its cell = arg-max of
    sigmoid(heatmap) / (distance from the coarse position + 1.8); its position = (cell + the
    sub-cell offset there) / heatmap side (the graph's float16 1/side); its score = the heatmap
    there. Ties go to the first cell in row-major order, as TensorFlow's ArgMax does. ``prior``:
    the centre prior to use when it fits the heatmaps (the graph's own), else ``center_prior``;
    ``heat``: the keypoint heatmaps after the sigmoid, when the caller has them already."""
    hm = torch.sigmoid(heads["kpt_heatmap"].float()) if heat is None else heat
    n, k, h, w = hm.shape
    dev = hm.device
    batch = torch.arange(n, device=dev)
    if prior is None or tuple(prior.shape) != (h, w):
        prior = center_prior(h, w, dev)
    ctr = torch.sigmoid(heads["center"][:, 0].float()) * prior
    idx = ctr.reshape(n, -1).argmax(dim=1)
    cy, cx = idx // w, idx % w
    reg = heads["kpt_regress"].float()[batch, :, cy, cx].view(n, k, 2)
    ry = cy.view(n, 1).float() + reg[..., 0]
    rx = cx.view(n, 1).float() + reg[..., 1]
    ys = torch.arange(h, dtype=torch.float32, device=dev).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=torch.float32, device=dev).view(1, 1, 1, w)
    dist = torch.sqrt((ys - ry[..., None, None]) ** 2 + (xs - rx[..., None, None]) ** 2)
    kidx = (hm / (dist + fp16(DISTANCE_BIAS))).reshape(n, k, -1).argmax(dim=2)
    ky, kx = kidx // w, kidx % w
    bi = batch.view(n, 1).expand(n, k)
    ki = torch.arange(k, device=dev).view(1, k).expand(n, k)
    off = heads["kpt_offset"].float()
    oy = off[bi, 2 * ki, ky, kx]
    ox = off[bi, 2 * ki + 1, ky, kx]
    score = hm[bi, ki, ky, kx]
    y = (ky.float() + oy) * fp16(1.0 / h)
    x = (kx.float() + ox) * fp16(1.0 / w)
    return torch.stack([y, x, score], dim=-1)
