"""The imported ImageNet MobileNetV2 as a classifier: classify photos, check the conversion
against the TFLite runtime, export the weights as safetensors.

    python -m engine.pretrained classify --tflite PATH IMAGE... [--top K] [--check] [--json]
    python -m engine.pretrained export --tflite PATH --out FILE.safetensors
    python -m engine.pretrained movenet [--source ../shared/pretrained/pose] [--out weights]

``classify`` centre-crops each photo to a square, resizes it to 224x224 (bilinear) and runs
the converted PyTorch network on the same uint8 pixels the TFLite file takes, scaled as the
file's input quantisation says (real = (pixel - zero point) x scale, about [-1, 1]). With
``--check`` the TFLite runtime (``ai-edge-litert``, a dev dependency) runs the file on the
same pixels, and each photo reports whether the top-1 classes agree, how many of the top-5
they share and the correlation of the two logit vectors (the runtime's logits are the int8
tensor fed to its SOFTMAX, dequantised); and the same for the converted network with the
runtime's 8-bit activations simulated (``runtime_activations``), which separates conversion
errors from quantisation noise. ``--json`` prints one JSON object per photo.
``export`` writes the converted network (BatchNorm folded; see ``engine.models.mobilenetv2``)
with the source file's name, sha256 and input scaling in the safetensors metadata, so that
training, the app and a Space need no TFLite parser.
``movenet`` imports MoveNet Thunder and Lightning from their TensorFlow.js graphs
(``engine.models.movenet_import``) and writes them as the shipped weights.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.fileio import atomic_path
from .mobilenetv2 import classifier_state, tf_mobilenet_v2
from .pretrained import EXPORT_FORMAT, read_export
from .tflite_import import PretrainedError, TFLiteNet, read_labels, read_tflite
from .weights import WEIGHTS_DIR

SHARED_POSE = Path(__file__).resolve().parents[3] / "shared" / "pretrained" / "pose"

SIZE = 224
NUM_CLASSES = 1001


def load_classifier(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The 1001-class MobileNetV2 from a ``.tflite`` file or its export, in eval mode, and
    its info: source, sha256, input scale and zero point."""
    path = Path(path)
    net = tf_mobilenet_v2(NUM_CLASSES)
    if path.suffix == ".safetensors":
        state, meta = read_export(path)
        net.load_state_dict(state, strict=True)
        info = {"source": meta.get("source"), "sha256": meta.get("source_sha256"),
                "input_scale": float(meta["input_scale"]), "input_zero_point": int(meta["input_zero_point"])}
    else:
        tfl = read_tflite(path)
        net.load_state_dict(classifier_state(net, tfl), strict=True)
        info = {"source": Path(tfl.path).name, "sha256": tfl.sha256, "input_scale": tfl.input_scale,
                "input_zero_point": tfl.input_zero_point, "tflite": tfl}
    return net.eval(), info


def prepare_image(path: str | Path) -> np.ndarray:
    """A photo -> RGB uint8 (224, 224, 3): centre square crop, bilinear resize."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(im.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.uint8)


@torch.no_grad()
def torch_logits(net: torch.nn.Module, info: dict, pixels: np.ndarray) -> np.ndarray:
    """(N, 224, 224, 3) uint8 -> (N, 1001) float32 logits of the converted network."""
    x = torch.from_numpy(np.array(pixels, dtype=np.float32))
    x = (x - info["input_zero_point"]) * info["input_scale"]
    return net(x.permute(0, 3, 1, 2).contiguous()).numpy()


def _fake_quant(x: torch.Tensor, q: tuple[float, int, str]) -> torch.Tensor:
    scale, zp, dtype = q
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    return (torch.clamp(torch.round(x / scale) + zp, lo, hi) - zp) * scale


@contextlib.contextmanager
def runtime_activations(net: torch.nn.Module, tfl: TFLiteNet):
    """Within the block, ``net`` (loaded from ``tfl``) rounds every activation the TFLite
    graph stores in 8 bits to that tensor's scale and zero point (each convolution's output,
    each residual sum, the pooled features and the logits): a float simulation of the
    runtime's integer activations. What is left between it and the runtime is rounding
    inside the integer kernels, so it tells conversion errors from quantisation noise."""
    from .mobilenetv2 import conv_layers
    hooks = []

    def quant_out(q):
        return lambda module, args, out: _fake_quant(out, q)

    try:
        convs = conv_layers(net.features)
        for (_, _, _, bn, _), op in zip(convs, tfl.convs):
            if op.output in tfl.activations:  # the clamp of the 8-bit range does the ReLU6
                hooks.append(bn.register_forward_hook(quant_out(tfl.activations[op.output])))
        index = {id(c[1]): i for i, c in enumerate(convs)}
        for block in net.features:
            if getattr(block, "use_res_connect", False):
                ids = [index[id(c)] for c in block.modules() if isinstance(c, torch.nn.Conv2d)]
                want = {tfl.convs[min(ids)].input, tfl.convs[max(ids)].output}
                out = next(o for ins, o in tfl.adds if set(ins) == want)
                if out in tfl.activations:
                    hooks.append(block.register_forward_hook(quant_out(tfl.activations[out])))
        head = tfl.convs[-1]
        if head.input in tfl.activations:
            q = tfl.activations[head.input]
            hooks.append(net.classifier.register_forward_pre_hook(lambda m, args: (_fake_quant(args[0], q),)))
        if head.output in tfl.activations:
            hooks.append(net.classifier.register_forward_hook(quant_out(tfl.activations[head.output])))
        yield net
    finally:
        for h in hooks:
            h.remove()


def tflite_logits(path: str | Path, pixels: np.ndarray, logits_tensor: int) -> np.ndarray:
    """(N, 224, 224, 3) uint8 -> (N, 1001) logits of the TFLite runtime (the dequantised
    input of its SOFTMAX). Needs ``ai-edge-litert``."""
    import warnings
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise RuntimeError("--check runs the TFLite runtime, which is a dev dependency: "
                           "pip install -r requirements-dev.txt") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'preserve_all_tensors is for debugging'
        it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    det = {d["index"]: d for d in it.get_tensor_details()}[logits_tensor]
    scale, zp = det["quantization"]
    out = []
    for px in pixels:
        it.set_tensor(inp["index"], px[None].astype(inp["dtype"]))
        it.invoke()
        q = it.get_tensor(logits_tensor).astype(np.float64).reshape(-1)
        out.append(((q - zp) * scale) if scale else q)
    return np.stack(out).astype(np.float32)


def compare_layers(net: torch.nn.Module, tfl: TFLiteNet, pixels: np.ndarray) -> list[dict]:
    """Each convolution's output on one photo ((224, 224, 3) uint8) in the converted network
    (8-bit activations simulated) against the TFLite runtime's, in the runtime's quanta:
    ``{"layer", "max_quanta", "share_over_1"}``. Needs ``ai-edge-litert``."""
    import warnings
    from ai_edge_litert.interpreter import Interpreter
    from .mobilenetv2 import conv_layers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = Interpreter(model_path=tfl.path, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], pixels[None])
    it.invoke()
    outs, hooks = {}, []
    convs = conv_layers(net.features)
    info = {"input_zero_point": tfl.input_zero_point, "input_scale": tfl.input_scale}
    try:
        with runtime_activations(net, tfl):
            for i, (_, _, _, bn, _) in enumerate(convs):  # registered after the rounding hooks
                hooks.append(bn.register_forward_hook(lambda m, a, o, i=i: outs.__setitem__(i, o[0])))
            torch_logits(net, info, pixels[None])
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for i, op in enumerate(tfl.convs[:len(convs)]):
        scale, zp, _ = tfl.activations[op.output]
        theirs = (it.get_tensor(op.output)[0].astype(np.float64) - zp) * scale
        diff = np.abs(outs[i].permute(1, 2, 0).numpy() - theirs) / scale
        rows.append({"layer": i, "max_quanta": round(float(diff.max()), 3),
                     "share_over_1": float((diff > 1.001).mean())})
    return rows


def top(logits: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest logits, best first."""
    return [int(i) for i in np.argsort(-logits, kind="stable")[:k]]


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """top-1 equal, top-5 shared count and Pearson correlation of two logit vectors."""
    return {"top1_equal": top(a, 1) == top(b, 1), "top5_shared": len(set(top(a, 5)) & set(top(b, 5))),
            "logit_corr": round(float(np.corrcoef(a, b)[0, 1]), 5)}


def export(tflite: str | Path, out: str | Path) -> Path:
    """Write the converted classifier as safetensors (atomically) with its provenance."""
    from safetensors.torch import save_file
    net, info = load_classifier(tflite)
    meta = {"format": EXPORT_FORMAT, "source": str(info["source"]), "source_sha256": info["sha256"],
            "input_scale": repr(info["input_scale"]), "input_zero_point": str(info["input_zero_point"]),
            "classes": str(NUM_CLASSES), "batchnorm": "folded into the convolutions (BatchNorm = identity + bias)",
            "padding": "TensorFlow SAME (engine.models.mobilenetv2.TFSameConv2d)"}
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    out = Path(out)
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.pretrained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="top-K ImageNet classes of photos (and --check against TFLite)")
    c.add_argument("--tflite", required=True,
                   help="the MobileNetV2 .tflite (or its .safetensors export; --check needs the .tflite)")
    c.add_argument("images", nargs="+", help="photos (any format Pillow reads)")
    c.add_argument("--top", type=int, default=5, help="classes to list per photo (default 5)")
    c.add_argument("--labels", help="class names, one a line (default: imagenet_labels_1001.txt "
                                    "beside the .tflite)")
    c.add_argument("--check", action="store_true",
                   help="also run the TFLite runtime (ai-edge-litert) and report the agreement")
    c.add_argument("--json", action="store_true", help="one JSON object per photo on stdout")
    e = sub.add_parser("export", help="write the converted network as .safetensors")
    e.add_argument("--tflite", required=True, help="the MobileNetV2 .tflite file")
    e.add_argument("--out", required=True, help="output .safetensors (written atomically)")
    m = sub.add_parser("movenet", help="import MoveNet Thunder and Lightning from their TensorFlow.js "
                                       "graphs as SquatPose weights (engine.models.movenet_import)")
    m.add_argument("--source", default=str(SHARED_POSE),
                   help="folder with movenet-{thunder,lightning}.json and .bin, checked by SHA-256 "
                        "(default: ../shared/pretrained/pose)")
    m.add_argument("--out", default=str(WEIGHTS_DIR),
                   help="folder for movenet_{thunder,lightning}.safetensors and their sidecars "
                        "(default: the shipped weights/)")
    m.add_argument("--variants", nargs="+", choices=("thunder", "lightning"), default=["thunder", "lightning"],
                   help="which sizes to import (default: both)")
    return p


def _classify(args) -> int:
    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    src = Path(args.tflite)
    if args.check and src.suffix != ".tflite":
        print(f"error: --check compares with the TFLite runtime: give the .tflite, not {src.name}",
              file=sys.stderr)
        return 2
    net, info = load_classifier(src)
    labels_path = Path(args.labels) if args.labels else src.with_name("imagenet_labels_1001.txt")
    labels = read_labels(labels_path, NUM_CLASSES) if labels_path.is_file() or args.labels else None
    pixels = np.stack([prepare_image(p) for p in args.images])
    ours = torch_logits(net, info, pixels)
    if args.check and info["tflite"].logits_tensor is None:
        print(f"error: {src}: no SOFTMAX in the graph, so no logits to compare", file=sys.stderr)
        return 2
    theirs = sim = None
    if args.check:
        theirs = tflite_logits(src, pixels, info["tflite"].logits_tensor)
        with runtime_activations(net, info["tflite"]):
            sim = torch_logits(net, info, pixels)
    for i, image in enumerate(args.images):
        rec = {"image": image, "torch_top": top(ours[i], args.top)}
        if theirs is not None:
            rec["tflite_top"] = top(theirs[i], args.top)
            rec.update(agreement(ours[i], theirs[i]))
            rec["int8_simulated"] = agreement(sim[i], theirs[i])
        if args.json:
            print(json.dumps(rec), flush=True)
            continue
        name = (lambda k: labels[k] if labels else "")
        print(image)
        print("  torch : " + ", ".join(f"{k} {name(k)}" for k in rec["torch_top"]))
        if theirs is not None:
            print("  tflite: " + ", ".join(f"{k} {name(k)}" for k in rec["tflite_top"]))
            print(f"  top-1 {'equal' if rec['top1_equal'] else 'DIFFERENT'}, top-5 shared "
                  f"{rec['top5_shared']}/5, logit correlation {rec['logit_corr']:.4f} (with the "
                  f"runtime's 8-bit activations simulated: {rec['int8_simulated']['logit_corr']:.4f})")
    if theirs is not None and not args.json:
        for what, logits in (("converted network", ours), ("8-bit activations simulated", sim)):
            agree = [agreement(a, b) for a, b in zip(logits, theirs)]
            print(f"{what}: {sum(a['top1_equal'] for a in agree)}/{len(agree)} top-1 equal, top-5 "
                  f"shared >= {min(a['top5_shared'] for a in agree)}, logit correlation >= "
                  f"{min(a['logit_corr'] for a in agree):.4f}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "movenet":
            from .movenet_import import ship
            for path in ship(args.source, args.out, tuple(args.variants)):
                print(f"wrote {path}")
            return 0
        if args.command == "export":
            out = export(args.tflite, args.out)
            print(f"wrote {out}")
            return 0
        return _classify(args)
    except (PretrainedError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
