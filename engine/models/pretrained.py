"""ImageNet-pretrained backbones for the registry's models.

Sources, by model:
- ``resnet18``, ``resnet18_fpn``, ``attention``: a torchvision ResNet18 state dict file (what
  ``torchvision.models.resnet18(weights="IMAGENET1K_V1")`` keeps in torch's cache,
  ``resnet18-f37072fd.pth``; ``.pth``/``.pt`` or ``.safetensors``). Every tensor the model's
  backbone has must be in the file with the same shape; the file's tensors the model does
  not use (``fc``, and ``layer3``/``layer4`` for ``attention``) are listed in the record;
  any other extra tensor is an error.
- ``mobilenetv2``: the ImageNet MobileNetV2 ``.tflite`` (``engine.models.tflite_import``) or
  its export (``python -m engine.pretrained export``, a ``.safetensors`` with the format tag
  ``EXPORT_FORMAT``). Its BatchNorm is folded into the convolutions, so the backbone's
  BatchNorms are identities that must keep their statistics: they are frozen (eval mode in
  training, affine parameters still learn).
- ``imagenet``: torchvision's ImageNet ResNet18 from torch's cache, downloaded there if the
  network allows (10 s time-out); for ``mobilenetv2`` the shared TFLite file
  (``../shared/pretrained/imagenet/``). ``PretrainedUnavailable`` says how to get them.

``load_backbone`` returns a record (source, sha256, tensors loaded and unused, BatchNorm
handling) that training writes into the sidecar as ``init``.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import torch
from torch import nn

from engine.fileio import sha256_file

from .tflite_import import KNOWN_SHA256, PretrainedError, TFLiteImportError, read_tflite

RESNET_MODELS = ("resnet18", "resnet18_fpn", "attention")
MOBILENET_MODELS = ("mobilenetv2",)
#: Whole networks already trained on people: ``--pretrained movenet`` starts every layer (heads
#: included) from the imported graph (``weights/movenet_*.safetensors``, ``engine.pretrained movenet``)
MOVENET_MODELS = ("movenet_thunder", "movenet_lightning", "movenet_thunder_ft", "movenet_lightning_ft")
#: metadata "format" of ``engine.pretrained export`` files
EXPORT_FORMAT = "squatpose-mobilenetv2-imagenet/1"
ROOT = Path(__file__).resolve().parents[2]
SHARED_TFLITE = ROOT.parent / "shared" / "pretrained" / "imagenet" / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
DOWNLOAD_TIMEOUT_S = 10.0


class PretrainedUnavailable(PretrainedError):
    """``imagenet`` was asked for and the weights cannot be had on this machine."""


def supports_pretrained(name: str) -> bool:
    return name in RESNET_MODELS or name in MOBILENET_MODELS or name in MOVENET_MODELS


def load_movenet(model: nn.Module, name: str, source: str | Path) -> dict:
    """The whole of ``model`` (a MoveNet) from ``source``: ``"movenet"`` (or ``"imagenet"``, which
    has no other meaning for it) = the imported graph shipped as ``weights/NAME.safetensors``
    (rebuilt by ``python -m engine.pretrained movenet``), or a weight file of the same model
    (a fine-tuned one, to go on from it). Every tensor must fit (strict); the record says what
    was loaded."""
    import json

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .common import WEIGHTS_DIR
    path = WEIGHTS_DIR / f"{name}.safetensors" if str(source) in ("movenet", "imagenet") else Path(source)
    if not path.is_file():
        raise PretrainedUnavailable(f"{path}: file not found" + (
            " (rebuild it with python -m engine.pretrained movenet)" if path.parent == WEIGHTS_DIR else ""))
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        state = load_file(str(path), device="cpu")
    except (OSError, ValueError, SafetensorError) as e:
        raise PretrainedError(f"{path}: not a readable weight file with its sidecar ({e})") from None
    if meta.get("model") != name:
        raise PretrainedError(f"{path}: its sidecar says model '{meta.get('model')}', not '{name}'")
    own = model.state_dict()
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        raise PretrainedError(f"{path}: its tensors do not fit model '{name}'")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    # Fine-tuning trains the six heatmaps with the study's MSE against the codec's Gaussians, not
    # the centre, regression and offset heads the graph's decoding reads: the trained model is
    # decoded by the codec (arg-max + DARK). On the held-out people that loses nothing with the
    # imported weights themselves (Thunder, PCK@0.05: LSP 0.598 by the codec against 0.591 the
    # graph's way, COCO-MINI 0.714 against 0.696; docs/weights.md).
    model.graph_decode.fill_(0)
    return {"source": str(path), "sha256": sha256_file(path), "tensors_loaded": len(state),
            "whole_model": True, "imported": meta.get("imported"), "recipe": meta.get("recipe"),
            "decode": "codec (arg-max + DARK on the six heatmaps)"}


# ---------------------------------------------------------------------------- ResNet18

def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (``weights_only``; a dict holding a
    ``state_dict`` or ``model`` dict is unwrapped; a DDP ``module.`` prefix is removed)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"{path}: file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle of arbitrary objects, not a torch file...
        raise PretrainedError(f"{path}: not a readable state dict ({type(e).__name__}: {e})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"{path}: does not hold a state dict (name -> tensor)")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _torchvision_resnet_key(key: str) -> str:
    """Our ``ResNetStages`` key -> torchvision ResNet18 key."""
    key = re.sub(r"^stem\.0\.", "conv1.", key)
    key = re.sub(r"^stem\.1\.", "bn1.", key)
    return re.sub(r"^layers\.(\d+)\.", lambda m: f"layer{int(m.group(1)) + 1}.", key)


def _check_torchvision_hash(path: Path, digest: str) -> bool:
    """torchvision names its files ``NAME-<first 8 hex of sha256>.pth``; check it when the
    name has that form (as ``torch.hub`` does). True when checked."""
    m = re.fullmatch(r".+-([0-9a-f]{8,})\.pth", path.name)
    if not m:
        return False
    if not digest.startswith(m.group(1)):
        raise PretrainedError(f"{path}: sha256 starts {digest[:8]}, the file name says {m.group(1)}: "
                           "the file is damaged or renamed")
    return True


def load_resnet18(backbone: nn.Module, path: str | Path) -> dict:
    """Load a torchvision ResNet18 state dict into a ``ResNetStages`` backbone, strictly."""
    path = Path(path)
    state = read_state_dict(path)
    digest = sha256_file(path)
    verified = _check_torchvision_hash(path, digest)
    own = backbone.state_dict()
    mapped, missing, bad = {}, [], []
    for key, t in own.items():
        src = _torchvision_resnet_key(key)
        if src not in state:
            missing.append(src)
        elif state[src].shape != t.shape:
            bad.append(f"{src} {tuple(state[src].shape)} (needs {tuple(t.shape)})")
        else:
            mapped[key] = state[src]
    used = {_torchvision_resnet_key(k) for k in own}
    present_layers = {k.split(".")[0] for k in used}
    unused = sorted(k for k in state if k not in used)
    allowed = [k for k in unused if k.startswith("fc.") or
               (re.match(r"layer[1-4]\.", k) and k.split(".")[0] not in present_layers)]
    strange = [k for k in unused if k not in allowed]
    if missing or bad or strange:
        raise PretrainedError(
            f"{path}: not a torchvision ResNet18 state dict for this backbone: "
            + "; ".join(f"{what} ({len(ks)}): {', '.join(ks[:4])}{' ...' if len(ks) > 4 else ''}"
                        for what, ks in (("missing", missing), ("wrong shape", bad),
                                         ("unexpected", strange)) if ks))
    backbone.load_state_dict(mapped, strict=True)
    return {"backbone": "imagenet", "format": "torchvision ResNet18 state dict", "source": str(path),
            "sha256": digest, "checksum_checked": verified, "tensors_loaded": len(mapped),
            "unused": sorted({".".join(k.split(".")[:1]) for k in allowed})}


# ---------------------------------------------------------------------------- MobileNetV2

def read_export(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and metadata of an ``engine.pretrained export`` file."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise PretrainedError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    if meta.get("format") != EXPORT_FORMAT:
        raise PretrainedError(f"{path}: not a MobileNetV2 export of 'python -m engine.pretrained "
                           f"export' (format {meta.get('format')!r}, expected {EXPORT_FORMAT!r})")
    return state, meta


def load_mobilenet(backbone: nn.Module, path: str | Path) -> dict:
    """Load the folded ImageNet MobileNetV2 (``.tflite`` or its export) into a
    ``tf_mobilenet_v2().features`` backbone, strictly."""
    from .mobilenetv2 import folded_state
    path = Path(path)
    if path.suffix == ".safetensors":
        state, meta = read_export(path)
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        own = backbone.state_dict()
        missing = sorted(set(own) - set(feats))
        extra = sorted(set(feats) - set(own))
        bad = sorted(k for k in set(own) & set(feats) if own[k].shape != feats[k].shape)
        if missing or extra or bad:
            raise PretrainedError(f"{path}: does not fit the MobileNetV2 backbone (missing {missing[:3]}, "
                               f"unexpected {extra[:3]}, wrong shape {bad[:3]})")
        backbone.load_state_dict(feats, strict=True)
        return {"backbone": "imagenet", "format": "MobileNetV2 export (BatchNorm folded)",
                "source": str(path), "sha256": sha256_file(path),
                "from_tflite": meta.get("source"), "from_tflite_sha256": meta.get("source_sha256"),
                "checksum_checked": meta.get("source_sha256") in KNOWN_SHA256.values(),
                "tensors_loaded": len(feats), "unused": ["classifier"]}
    net = read_tflite(path)  # raises TFLiteImportError for anything that is not a readable .tflite
    state = folded_state(backbone, net)
    backbone.load_state_dict(state, strict=True)
    return {"backbone": "imagenet", "format": f"tflite {net.weight_dtype} (BatchNorm folded)",
            "source": str(path), "sha256": net.sha256, "checksum_checked": net.known,
            "tensors_loaded": len(state), "unused": ["classifier convolution"]}


# ---------------------------------------------------------------------------- imagenet

def imagenet_source(name: str) -> Path:
    """Where ``--pretrained imagenet`` takes the weights of model ``name`` from."""
    if name in MOBILENET_MODELS:
        if SHARED_TFLITE.is_file():
            return SHARED_TFLITE
        raise PretrainedUnavailable(
            f"ImageNet MobileNetV2 weights not found at {SHARED_TFLITE}; pass --pretrained with "
            "the path of tf2_mobilenet_v2_1.0_224_ptq.tflite or of its export "
            "(python -m engine.pretrained export)")
    if name not in RESNET_MODELS:
        raise PretrainedError(f"model '{name}' has no pretrained backbone (those with one: "
                           f"{', '.join(RESNET_MODELS + MOBILENET_MODELS)})")
    from torchvision.models import ResNet18_Weights
    url = ResNet18_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if cached.is_file():
        return cached
    if os.environ.get("SQUATPOSE_NO_DOWNLOAD"):
        reason = "downloads are off (SQUATPOSE_NO_DOWNLOAD is set)"
    else:
        reason = _download(url, cached)
        if reason is None:
            return cached
    raise PretrainedUnavailable(
        f"torchvision's ImageNet ResNet18 weights are not in torch's cache ({cached}) and cannot "
        f"be downloaded here: {reason}. On a machine with internet run "
        "python -c \"import torchvision; torchvision.models.resnet18(weights='IMAGENET1K_V1')\" "
        "and copy the file there, or pass --pretrained PATH to that file")


def _download(url: str, dest: Path) -> str | None:
    """Download ``url`` to ``dest`` (hash prefix checked by torch.hub) with a time-out so that
    a machine without internet fails fast; None on success, else the reason."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        prefix = re.search(r"-([0-9a-f]+)\.", dest.name)
        torch.hub.download_url_to_file(url, str(dest), prefix.group(1) if prefix else None,
                                       progress=False)
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        socket.setdefaulttimeout(old)


# ---------------------------------------------------------------------------- entry

def load_backbone(model: nn.Module, name: str, source: str | Path, batchnorm: str = "auto") -> dict:
    """Initialise ``model``'s backbone (a registry model named ``name``) from ``source`` (a
    file, or ``"imagenet"``); ``batchnorm`` is ``frozen`` (statistics kept, eval mode in
    training), ``train`` (batch statistics, as usual) or ``auto`` (frozen for the folded
    MobileNetV2, train for ResNet18, whose file has real statistics). Returns the record."""
    from .mobilenetv2 import freeze_batchnorm
    if not supports_pretrained(name):
        raise PretrainedError(f"model '{name}' has no pretrained backbone (those with one: "
                           f"{', '.join(RESNET_MODELS + MOBILENET_MODELS + MOVENET_MODELS)})")
    if batchnorm not in ("auto", "frozen", "train"):
        raise ValueError(f"batchnorm must be auto, frozen or train, got {batchnorm!r}")
    if name in MOVENET_MODELS:
        if batchnorm == "train":
            raise PretrainedError("MoveNet's BatchNorm is folded into its convolutions: it stays "
                                  "frozen (use frozen or auto)")
        record = load_movenet(model, name, source)
        record.update({"batchnorm": "frozen", "requested": str(source)})
        return record
    path = imagenet_source(name) if str(source) == "imagenet" else Path(source)
    if name in MOBILENET_MODELS:
        if batchnorm == "train":
            raise PretrainedError("the ImageNet MobileNetV2 has its BatchNorm folded into the "
                               "convolutions: its BatchNorms must keep their (identity) statistics; "
                               "use frozen (or auto)")
        if path.suffix not in (".tflite", ".safetensors"):
            raise PretrainedError(f"{path}: mobilenetv2 takes a .tflite file or its .safetensors export")
        record = load_mobilenet(model.backbone, path)
        batchnorm = "frozen"
    else:
        if path.suffix == ".tflite":
            raise PretrainedError(f"{path}: a .tflite file holds the MobileNetV2; '{name}' needs a "
                               "torchvision ResNet18 state dict")
        record = load_resnet18(model.backbone, path)
        batchnorm = "train" if batchnorm == "auto" else batchnorm
    if batchnorm == "frozen":
        record["batchnorm_frozen"] = freeze_batchnorm(model.backbone)
    record["batchnorm"] = batchnorm
    record["requested"] = str(source)
    return record


__all__ = ["EXPORT_FORMAT", "PretrainedError", "PretrainedUnavailable", "TFLiteImportError", "imagenet_source",
           "load_backbone", "read_export", "read_state_dict", "supports_pretrained"]
