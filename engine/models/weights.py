"""Model weights: ``NAME.safetensors`` with a JSON sidecar ``NAME.json``.

The sidecar records what the weights are: model name (a key of the registry), input size
``[width, height]`` in pixels, heatmap sigma, training data and filter, epochs, metrics,
date. Loading checks the sidecar against the file and the registry and fails with a clear
message on any mismatch. Shipped weights live in ``weights/`` at the repository root.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch

from engine.codec import HeatmapCodec
from engine.fileio import atomic_path, write_json
from .common import WEIGHTS_DIR  # noqa: F401  (defined beside the models; read and written here)

FORMAT = "squatpose-weights/1"


class WeightsError(ValueError):
    """Weights that cannot be used; the message says which file and why."""


def sidecar_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save(model: torch.nn.Module, path: str | Path, meta: dict, half: bool = False) -> Path:
    """Write ``model``'s weights (fp16 when ``half``, BatchNorm statistics kept float32: an
    identity BatchNorm's variance 1 - eps is not a float16 number) and the sidecar, each atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    if "model" not in meta or "input_size" not in meta:
        raise ValueError("weights metadata needs at least 'model' and 'input_size'")
    with atomic_path(path) as tmp:
        save_file(stored_state(model, half), str(tmp), metadata={"model": str(meta["model"]), "format": FORMAT})
    return save_sidecar(path, meta, half)


def stored_state(model: torch.nn.Module, half: bool = False) -> dict[str, torch.Tensor]:
    """The tensors ``save`` writes: the state dict, floating tensors float16 when ``half`` except
    BatchNorm statistics, on the CPU."""
    def stored(k: str, v: torch.Tensor) -> torch.Tensor:
        if half and v.is_floating_point() and not k.endswith(("running_mean", "running_var")):
            v = v.half()
        return v.detach().cpu().contiguous()
    return {k: stored(k, v) for k, v in model.state_dict().items()}


def save_sidecar(path: str | Path, meta: dict, half: bool = False) -> Path:
    """Write the sidecar of the weights at ``path`` (format, dtype, date and ``meta``) atomically."""
    side = {"format": FORMAT, "dtype": "float16" if half else "float32",
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **meta}
    write_json(sidecar_path(path), side)
    return Path(path)


def read_sidecar(path: str | Path) -> dict:
    """The sidecar of a weights file, checked for the keys loading needs."""
    path = Path(path)
    side = sidecar_path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if not side.is_file():
        raise WeightsError(f"{path}: its sidecar {side.name} is missing (it says which model "
                           "and input size the weights are for)")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{side}: not valid JSON ({e})") from None
    for key in ("model", "input_size"):
        if key not in meta:
            raise WeightsError(f"{side}: missing '{key}'")
    return meta


def codec_for(meta: dict) -> HeatmapCodec:
    """The heatmap codec the weights were trained with."""
    w, h = (int(v) for v in meta["input_size"])
    return HeatmapCodec((w, h), (w // 4, h // 4), float(meta.get("sigma", 2.0)))


def flip_test_for(meta: dict) -> bool:
    """Whether the weights ship with the flip test on (``engine.models.common.predict_heatmaps``):
    the sidecar's ``flip_test``, off for sidecars without it."""
    return bool(meta.get("flip_test", False))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Build the model the sidecar names, load the weights (as float32) and check they fit."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from . import list_models

    meta = read_sidecar(path)
    name = meta["model"]
    if name not in list_models():
        raise WeightsError(f"{path}: sidecar names model '{name}', which is not registered "
                           f"(known: {', '.join(list_models())})")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None
    return _fitted(name, state, str(path), "Was the sidecar written for another model?").to(device).eval(), meta


def _fitted(name: str, state: dict[str, torch.Tensor], where: str, hint: str = "") -> torch.nn.Module:
    """Model ``name`` built and loaded with ``state`` (as float32), every tensor checked to fit:
    a ``WeightsError`` naming ``where`` and the first misfits otherwise."""
    from . import build_model

    model = build_model(name)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or extra or bad:
        raise WeightsError(
            f"{where}: weights do not fit model '{name}' (missing {len(missing)}, unexpected "
            f"{len(extra)}, wrong shape {len(bad)}; first: {(missing + extra + bad)[:3]}). {hint}".rstrip())
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model


def shipped_weights(directory: str | Path | None = None) -> dict[str, Path]:
    """{model name: weights path} for every ``*.safetensors`` with a sidecar in ``weights/``."""
    d = Path(directory) if directory else WEIGHTS_DIR
    out = {}
    for p in sorted(d.glob("*.safetensors")):
        try:
            out[read_sidecar(p)["model"]] = p
        except WeightsError:
            continue
    return out


def default_model(directory: str | Path | None = None) -> str | None:
    """The shipped model to use by default: the one ``weights/default.txt`` names, else the
    shipped model with the best recorded held-out PCK@0.05, else None when none is shipped."""
    d = Path(directory) if directory else WEIGHTS_DIR
    shipped = shipped_weights(d)
    pick = d / "default.txt"
    if pick.is_file() and pick.read_text().strip() in shipped:
        return pick.read_text().strip()
    best, score = None, -1.0
    for name, p in shipped.items():
        m = read_sidecar(p).get("metrics", {})
        s = m.get("val_pck@0.05", m.get("pck@0.05", 0.0)) or 0.0
        if s > score:
            best, score = name, s
    return best


def resolve(model: str | None, weights: str | None = None) -> tuple[str, Path | None]:
    """(model name, weights path) for a CLI's ``--model``/``--weights``: explicit weights win,
    then the shipped weights of ``model``, then the shipped default."""
    if weights:
        return read_sidecar(weights)["model"], Path(weights)
    shipped = shipped_weights()
    name = model or default_model()
    if name is None:
        raise WeightsError("no weights given and none shipped in weights/ (train one with "
                           "python -m engine.train, or pass --weights)")
    return name, shipped.get(name)


def interpolate(start: str | Path, end: str | Path, alpha: float,
                as_model: str | None = None) -> tuple[torch.nn.Module, dict]:
    """The weight-space ensemble of two weight files of one model (WiSE-FT: Wortsman et al.,
    "Robust fine-tuning of zero-shot models", CVPR 2022): every floating tensor
    ``(1 - alpha) * start + alpha * end``, every other tensor (flags, counters) and the sidecar
    from ``end``. ``start`` is typically the zero-shot (imported) weights and ``end`` the same
    network fine-tuned from them: alpha 0 is the zero-shot model, 1 the fine-tuned one. Returns
    (model on the CPU in eval mode, ``end``'s sidecar with an ``interpolated`` record).
    ``as_model``: the registered name the result is shipped as (the same network under another
    name, e.g. ``movenet_thunder_ft``); every tensor must fit it."""
    import hashlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], not {alpha}")
    a, meta_a = load_model(start)
    b, meta_b = load_model(end)
    if meta_a["model"] != meta_b["model"]:
        raise WeightsError(f"{start} is a '{meta_a['model']}' and {end} a '{meta_b['model']}': "
                           "only weights of one model can be interpolated")
    if list(meta_a["input_size"]) != list(meta_b["input_size"]):
        raise WeightsError(f"{start} and {end} have different input sizes "
                           f"({meta_a['input_size']} vs {meta_b['input_size']})")
    sa = a.state_dict()
    mixed = {k: torch.lerp(sa[k], v, alpha) if v.is_floating_point() else v
             for k, v in b.state_dict().items()}
    model = _fitted(as_model or meta_b["model"], mixed, f"the mix of {start} and {end}")

    def sha(p):
        return hashlib.sha256(Path(p).read_bytes()).hexdigest()

    meta = {k: v for k, v in meta_b.items() if k not in ("format", "dtype", "date")}
    for k, v in meta_a.items():  # what only the start records (e.g. an import's confidence scale)
        if k not in ("format", "dtype", "date", "metrics", "history", "decode"):
            meta.setdefault(k, v)
    if (meta_b.get("init") or {}).get("decode"):  # decoded as the fine-tuned model is
        meta["decode"] = meta_b["init"]["decode"]
    meta["interpolated"] = {"method": "WiSE-FT weight-space ensemble (1 - alpha) * start + alpha * end",
                            "alpha": alpha,
                            "start": {"file": Path(start).name, "sha256": sha(start)},
                            "end": {"file": Path(end).name, "sha256": sha(end)}}
    meta.pop("metrics", None)  # the fine-tuned run's figures are not this model's
    if as_model:
        meta["model"] = as_model
    return model.eval(), meta
