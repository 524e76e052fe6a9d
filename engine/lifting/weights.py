"""Lifter weights: ``lifter.safetensors`` with a JSON sidecar (``lifter.json``) saying what
they are (format, model config, window, fps, training data and split, metrics, date).

They live in ``weights/lift3d/``, apart from the heatmap models' ``weights/*.safetensors``
(``engine.models.weights.shipped_weights`` lists those, and a lifter is not one of them)."""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import torch

from engine.fileio import atomic_path, write_json
from .data import FPS, IN_CHANNELS, WINDOW
from .model import TemporalLifter

FORMAT = "squatpose-lifter/1"
#: The shipped lifter (``SQUATPOSE_LIFTER`` names another; not under ``SQUATPOSE_WEIGHTS_DIR``,
#: which points the heatmap models elsewhere without taking the lifter away).
SHIPPED = Path(os.environ.get("SQUATPOSE_LIFTER", Path(__file__).resolve().parents[2] / "weights"
                              / "lift3d" / "lifter.safetensors"))


class LifterWeightsError(ValueError):
    """Weights that cannot be used as a lifter; the message names the file and why."""


def save_lifter(model: TemporalLifter, path: str | Path, meta: dict) -> Path:
    """Write the weights (float32) and the sidecar beside them, each atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    side = {"format": FORMAT, "model": "temporal_lifter", "config": model.config(),
            "window": WINDOW, "fps": FPS, "in_channels": IN_CHANNELS,
            "parameters": sum(p.numel() for p in model.parameters()),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **meta}
    write_json(path.with_suffix(".json"), side)
    return path


def load_lifter(path: str | Path | None = None) -> tuple[TemporalLifter, dict]:
    """The lifter at ``path`` (default: the shipped one), in eval mode, and its sidecar."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path) if path else SHIPPED
    side = path.with_suffix(".json")
    if not path.is_file():
        raise LifterWeightsError(f"{path}: lifter weights not found (train them with "
                                 "python -m engine.lift3d train)")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LifterWeightsError(f"{path}: its sidecar {side.name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LifterWeightsError(f"{side}: not valid JSON ({e})") from None
    if meta.get("format") != FORMAT:
        raise LifterWeightsError(f"{side}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("window") != WINDOW or meta.get("in_channels") != IN_CHANNELS:
        raise LifterWeightsError(f"{side}: window {meta.get('window')} / inputs "
                                 f"{meta.get('in_channels')}, this code uses {WINDOW} / {IN_CHANNELS}")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise LifterWeightsError(f"{path}: not a readable safetensors file ({e})") from None
    cfg = meta.get("config", {})
    model = TemporalLifter(width=int(cfg.get("width", 128)),
                           dilations=tuple(cfg.get("dilations", (1, 3, 9))))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise LifterWeightsError(f"{path}: weights do not fit the lifter its sidecar "
                                 f"describes ({str(e).splitlines()[0]})") from None
    return model.eval(), meta


def flip_inputs(inputs):
    """Inputs (N, W, IN_CHANNELS) of the mirror image: x negated, left and right exchanged."""
    import numpy as np

    from engine.joints import FLIP_INDEX
    x = np.array(inputs, dtype=np.float32, copy=True)
    j = x[..., :18].reshape(x.shape[:-1] + (6, 3))[..., list(FLIP_INDEX), :]
    j[..., 0] *= -1
    x[..., :18] = j.reshape(x.shape[:-1] + (18,))
    x[..., 18] *= -1
    return x


@torch.no_grad()
def run_lifter(model: TemporalLifter, inputs, batch: int = 2048, flip: bool = True):
    """Centre-frame 3-D joints (N, 6, 3) numpy for inputs (N, WINDOW, IN_CHANNELS). With
    ``flip`` (the default) the mirror image is lifted too, mirrored back and averaged in (as
    VideoPose3D's test-time flip; the lifter was trained on the mocap and its mirror)."""
    import numpy as np

    from engine.joints import FLIP_INDEX
    model.eval()

    def once(x):
        out = [model(torch.as_tensor(x[i:i + batch]))[:, 0].numpy() for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros((0, 6, 3), np.float32)

    pred = once(np.asarray(inputs, dtype=np.float32))
    if flip:
        mirrored = once(flip_inputs(inputs))[:, list(FLIP_INDEX)]
        mirrored[..., 0] *= -1
        pred = (pred + mirrored) / 2
    return pred
