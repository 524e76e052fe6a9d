"""Read a quantised MobileNetV2 ``.tflite`` classifier and dequantise its convolutions.

The file is parsed with the pure-Python ``tflite`` package (flatbuffer accessors for the
TFLite schema; nothing is executed). Every CONV_2D and DEPTHWISE_CONV_2D operator is read in
graph order with its weights dequantised to float32, ``w = (q - zero_point) * scale`` per
output channel (int8 per-channel files) or per tensor (uint8 files), and its int32 bias
dequantised with the bias tensor's scale, which the converter sets to input scale x weight
scale (checked). Weights come out in PyTorch's layout: OIHW for convolutions, (C, 1, H, W)
for depthwise ones. BatchNorm is already folded into these weights and biases.

Mapping onto a network is done by ``engine.models.mobilenetv2.load_tflite_into``; this module
only reads and checks the file. Any file that is not a readable TFLite flatbuffer, is cut
short, or holds operators this reader cannot dequantise raises ``TFLiteImportError`` naming
the file and the reason.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Files this project has checked (``../shared/pretrained/README.md``): name -> sha256.
KNOWN_SHA256: dict[str, str] = {
    "tf2_mobilenet_v2_1.0_224_ptq.tflite":
        "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c",
    "mobilenet_v2_1.0_224_quant.tflite":
        "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
    "imagenet_labels_1001.txt":
        "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1",
}


class PretrainedError(ValueError):
    """Pretrained weights that cannot be used; the message names the file and why."""


class TFLiteImportError(PretrainedError):
    """A ``.tflite`` file that cannot be imported; the message names the file and why."""


def check_known(path: str | Path, digest: str) -> bool:
    """True when ``path`` is one of the files in ``KNOWN_SHA256`` with its recorded digest;
    False when its name is not in the table; raises when the name is known but the bytes
    differ (a damaged or substituted download)."""
    name = Path(path).name
    want = KNOWN_SHA256.get(name)
    if want is None:
        return False
    if digest != want:
        raise TFLiteImportError(f"{path}: sha256 {digest[:16]}... differs from the recorded "
                                f"{want[:16]}... for {name}: the file is damaged or not the one "
                                "listed in ../shared/pretrained/README.md")
    return True


@dataclass
class ConvOp:
    """One convolution of the graph, dequantised, in PyTorch layout."""
    index: int                 # operator index in the graph
    depthwise: bool
    weight: np.ndarray         # float32, (O, I, kH, kW) or (C, 1, kH, kW)
    bias: np.ndarray           # float32, (O,)
    stride: tuple[int, int]    # (h, w)
    padding: str               # "SAME" or "VALID"
    relu6: bool                # fused ReLU6 after the convolution
    input: int                 # tensor index read
    output: int                # tensor index written


@dataclass
class TFLiteNet:
    """What ``read_tflite`` found: the convolutions in graph order, the residual additions
    (pairs of input tensor indices, output tensor index), the input quantisation
    (real = (uint8 - zero_point) * scale) and the file's identity."""
    path: str
    sha256: str
    known: bool
    input_scale: float
    input_zero_point: int
    input_shape: tuple[int, ...]
    convs: list[ConvOp]
    adds: list[tuple[tuple[int, int], int]] = field(default_factory=list)
    weight_dtype: str = ""
    logits_tensor: int | None = None   # the tensor fed to SOFTMAX (the class logits), if any
    #: (scale, zero point, dtype) of every quantised tensor an operator writes
    activations: dict[int, tuple[float, int, str]] = field(default_factory=dict)


def _dtype(tensor_type: int):
    import tflite
    t = tflite.TensorType
    table = {t.INT8: np.int8, t.UINT8: np.uint8, t.INT32: np.int32, t.FLOAT32: np.float32}
    return table.get(tensor_type)


def _tensor_array(model, graph, index: int, path) -> tuple[np.ndarray, object]:
    """The constant data of tensor ``index`` as a numpy array of its shape, and the tensor."""
    tensor = graph.Tensors(index)
    name = tensor.Name().decode(errors="replace")
    dt = _dtype(tensor.Type())
    if dt is None:
        raise TFLiteImportError(f"{path}: tensor '{name}' has type {tensor.Type()}, which this "
                                "importer does not dequantise (int8, uint8, int32, float32 only)")
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
    buf = model.Buffers(tensor.Buffer())
    count = int(np.prod(shape)) * np.dtype(dt).itemsize
    if buf.Offset() > 1:  # large-model layout: data stored after the flatbuffer
        raise TFLiteImportError(f"{path}: tensor '{name}' is stored outside the flatbuffer "
                                "(a >2 GB model layout), which this importer does not read")
    raw = buf.DataAsNumpy() if buf.DataLength() else np.zeros(0, np.uint8)
    if isinstance(raw, int) or len(raw) != count:
        got = 0 if isinstance(raw, int) else len(raw)
        raise TFLiteImportError(f"{path}: tensor '{name}' should hold {count} bytes for shape "
                                f"{shape}, the file has {got}: the file is truncated or damaged")
    return np.frombuffer(raw.tobytes(), dtype=dt).reshape(shape), tensor


def _quant(tensor, path) -> tuple[np.ndarray, np.ndarray, int]:
    q = tensor.Quantization()
    if q is None or q.ScaleLength() == 0:
        raise TFLiteImportError(f"{path}: tensor '{tensor.Name().decode(errors='replace')}' "
                                "is integer but has no quantisation parameters")
    scale = q.ScaleAsNumpy().astype(np.float64)
    zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros_like(scale, np.int64)
    return scale, zp, int(q.QuantizedDimension())


def _dequantise(arr: np.ndarray, tensor, path) -> np.ndarray:
    """float32 values of a constant tensor (quantised per tensor or along one axis)."""
    if arr.dtype == np.float32:
        return arr.astype(np.float32)
    scale, zp, axis = _quant(tensor, path)
    if len(scale) == 1:
        return ((arr.astype(np.float64) - zp[0]) * scale[0]).astype(np.float32)
    if arr.shape[axis] != len(scale):
        raise TFLiteImportError(f"{path}: tensor '{tensor.Name().decode(errors='replace')}' has "
                                f"{len(scale)} scales for {arr.shape[axis]} channels")
    shape = [1] * arr.ndim
    shape[axis] = len(scale)
    return ((arr.astype(np.float64) - zp.reshape(shape)) * scale.reshape(shape)).astype(np.float32)


def _parse(buf: bytes, path):
    import tflite
    if len(buf) < 16 or buf[4:8] != b"TFL3":
        raise TFLiteImportError(f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise TFLiteImportError(f"{path}: {model.SubgraphsLength()} subgraphs; expected one")
    return model, model.Subgraphs(0)


def read_tflite(path: str | Path) -> TFLiteNet:
    """Parse ``path`` and dequantise every convolution (see the module docstring)."""
    try:
        import tflite
    except ImportError:
        raise TFLiteImportError("reading a .tflite file needs the 'tflite' package "
                                "(pip install -r requirements.txt)") from None
    path = Path(path)
    if not path.is_file():
        raise TFLiteImportError(f"{path}: file not found")
    buf = path.read_bytes()
    digest = hashlib.sha256(buf).hexdigest()
    known = check_known(path, digest)
    try:
        model, graph = _parse(buf, path)
        return _read(model, graph, path, digest, known, tflite)
    except TFLiteImportError:
        raise
    except Exception as e:  # flatbuffer accessors fail with IndexError/struct.error on cut files
        raise TFLiteImportError(f"{path}: cannot be parsed as a TFLite model "
                                f"({type(e).__name__}: {e}); is it truncated?") from None


def _read(model, graph, path, digest, known, tflite) -> TFLiteNet:
    ops = tflite.BuiltinOperator
    names = {v: k for k, v in vars(ops).items() if not k.startswith("_")}
    act = tflite.ActivationFunctionType
    if graph.InputsLength() != 1:
        raise TFLiteImportError(f"{path}: {graph.InputsLength()} inputs; expected one image")
    inp = graph.Tensors(graph.Inputs(0))
    in_shape = tuple(int(s) for s in inp.ShapeAsNumpy())
    q = inp.Quantization()
    if inp.Type() == tflite.TensorType.FLOAT32 or q is None or q.ScaleLength() == 0:
        in_scale, in_zp = 1.0, 0  # float input, or raw integer pixels
    else:
        s, z, _ = _quant(inp, path)
        in_scale, in_zp = float(s[0]), int(z[0])
    convs, adds, wtypes, logits, acts = [], [], set(), None, {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        outs = [op.Outputs(j) for j in range(op.OutputsLength())]
        for t in outs:
            q = graph.Tensors(t).Quantization()
            dt = _dtype(graph.Tensors(t).Type())
            if q is not None and q.ScaleLength() == 1 and dt in (np.int8, np.uint8):
                acts[t] = (float(q.ScaleAsNumpy()[0]), int(q.ZeroPointAsNumpy()[0]), np.dtype(dt).name)
        if kind == ops.SOFTMAX:
            logits = ins[0]
            continue
        if kind == ops.ADD:
            opt = tflite.AddOptions()
            table = op.BuiltinOptions()
            if table is not None:
                opt.Init(table.Bytes, table.Pos)
                if opt.FusedActivationFunction() != act.NONE:
                    raise TFLiteImportError(f"{path}: operator {i} (ADD) has a fused activation; "
                                            "MobileNetV2's residual additions have none")
            adds.append(((ins[0], ins[1]), outs[0]))
            continue
        if kind not in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D):
            continue
        depthwise = kind == ops.DEPTHWISE_CONV_2D
        opt = tflite.DepthwiseConv2DOptions() if depthwise else tflite.Conv2DOptions()
        table = op.BuiltinOptions()
        opt.Init(table.Bytes, table.Pos)
        if (opt.DilationHFactor(), opt.DilationWFactor()) not in ((1, 1), (0, 0)):
            raise TFLiteImportError(f"{path}: operator {i} ({names[kind]}) is dilated; not supported")
        if depthwise and opt.DepthMultiplier() not in (0, 1):
            raise TFLiteImportError(f"{path}: operator {i} has depth multiplier "
                                    f"{opt.DepthMultiplier()}; only 1 is supported")
        if opt.FusedActivationFunction() not in (act.NONE, act.RELU6):
            raise TFLiteImportError(f"{path}: operator {i} ({names[kind]}) fuses activation "
                                    f"{opt.FusedActivationFunction()}; only none or RELU6 are expected")
        if len(ins) < 3 or ins[2] < 0:
            raise TFLiteImportError(f"{path}: operator {i} ({names[kind]}) has no bias tensor")
        w_q, w_t = _tensor_array(model, graph, ins[1], path)
        b_q, b_t = _tensor_array(model, graph, ins[2], path)
        wtypes.add(w_q.dtype.name)
        w = _dequantise(w_q, w_t, path)
        if b_q.dtype == np.int32:
            b_scale, b_zp, _ = _quant(b_t, path)
            if np.any(b_zp != 0):
                raise TFLiteImportError(f"{path}: operator {i}: int32 bias with a non-zero zero point")
            _check_bias_scale(graph, ins[0], w_t, b_scale, path, i)
            b = (b_q.astype(np.float64) * b_scale).astype(np.float32)
        else:
            b = b_q.astype(np.float32)
        if depthwise:   # (1, kH, kW, C) -> (C, 1, kH, kW)
            w = w.transpose(3, 0, 1, 2)
        else:           # (O, kH, kW, I) -> (O, I, kH, kW)
            w = w.transpose(0, 3, 1, 2)
        if b.shape != (w.shape[0],):
            raise TFLiteImportError(f"{path}: operator {i}: bias shape {b.shape} does not match "
                                    f"{w.shape[0]} output channels")
        convs.append(ConvOp(i, depthwise, np.ascontiguousarray(w), b, (opt.StrideH(), opt.StrideW()),
                            "SAME" if opt.Padding() == tflite.Padding.SAME else "VALID",
                            opt.FusedActivationFunction() == act.RELU6, ins[0], outs[0]))
    if not convs:
        raise TFLiteImportError(f"{path}: no CONV_2D or DEPTHWISE_CONV_2D operator found")
    return TFLiteNet(str(path), digest, known, in_scale, in_zp, in_shape, convs, adds,
                     "/".join(sorted(wtypes)), logits, acts)


def _check_bias_scale(graph, act_index, w_t, b_scale, path, op_index) -> None:
    """The converter sets bias scale = input scale x weight scale; a file where that does not
    hold was not made the way this importer assumes, so it is refused rather than guessed at."""
    a = graph.Tensors(act_index).Quantization()
    if a is None or a.ScaleLength() == 0:
        return
    w_scale, _, _ = _quant(w_t, path)
    want = float(a.ScaleAsNumpy()[0]) * w_scale
    if want.shape != b_scale.shape and len(want) != 1:
        raise TFLiteImportError(f"{path}: operator {op_index}: {len(b_scale)} bias scales for "
                                f"{len(want)} weight scales")
    if not np.allclose(b_scale, want, rtol=1e-4, atol=0):
        raise TFLiteImportError(f"{path}: operator {op_index}: bias scale is not input scale x "
                                "weight scale; the file's quantisation is not the usual kind")


def read_labels(path: str | Path, expected: int | None = None) -> list[str]:
    """Class names, one per line, in output order (``imagenet_labels_1001.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise TFLiteImportError(f"{path}: labels file not found")
    labels = path.read_text(encoding="utf-8").splitlines()
    if expected is not None and len(labels) != expected:
        raise TFLiteImportError(f"{path}: {len(labels)} labels, the network has {expected} classes")
    return labels
