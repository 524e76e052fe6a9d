"""Optional int8: a statically quantised copy of a model's ONNX export (ONNX Runtime's
``quantize_static``), calibrated on crops of training people.

    python -m engine.export --int8 [--models NAME ...] [--calib-ann A.json --calib-images DIR]

The copy sits beside the float file in the cache (``onnx_runtime.onnx_path(weights, int8=True)``,
same weight hash) and is used only when asked for (``runtime="onnx-int8"``, ``--runtime
onnx-int8``); the default stays float. QDQ format, int8 weights per output channel, uint8
activations, MinMax calibration on ``count`` crops of people drawn (seeded) from a COCO
person-keypoints file, cropped exactly as evaluation crops them. Whether it ships for a model is
a measurement: faster here, and its held-out LSP PCK@0.05 (``python -m engine.evaluate --runtime
onnx-int8``) within 0.01 of float.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .onnx_runtime import OnnxUnavailable, onnx_path, onnx_pose

#: COCO-MINI's training people, the calibration set when none is given
SHARED = Path(os.environ.get("SQUATPOSE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
DEFAULT_ANN = SHARED / "coco-mini" / "annotations" / "person_keypoints_train2017.json"
DEFAULT_IMAGES = SHARED / "coco-mini" / "train2017"


def held_out_images(meta: dict) -> set[int]:
    """Image ids a sidecar says were held out (COCO-MINI's and LSP's): never calibration data."""
    td = meta.get("training_data") or {}
    return {int(i) for key in ("held_out_coco_images", "held_out_lsp_images") for i in td.get(key, [])}


def calibration_crops(codec, ann: str | Path = DEFAULT_ANN, images: str | Path = DEFAULT_IMAGES,
                      count: int = 300, seed: int = 0, exclude_images: set[int] = frozenset()) -> np.ndarray:
    """RGB uint8 crops (n, H, W, 3) of up to ``count`` people of ``ann`` (seeded draw), none from
    the images ``exclude_images`` names (the held-out ones), cropped by their boxes as
    ``engine.evaluate`` crops them (no augmentation)."""
    from engine.data import coco as cocolib
    from engine.data.dataset import Augment, PoseDataset

    data = cocolib.load(ann, images)
    people = [p for p in data.people if int(p.image_id) not in exclude_images]
    if not people:
        raise ValueError(f"{ann}: no people to calibrate on")
    order = np.random.default_rng(seed).permutation(len(people))[:count]
    ds = PoseDataset([people[i] for i in order], images, codec, Augment.none())
    return np.stack([ds[i]["image"].numpy() for i in range(len(ds))]).astype(np.uint8)


class _Reader:
    """``CalibrationDataReader`` over crops, ``batch`` at a time."""

    def __init__(self, crops: np.ndarray, batch: int = 16):
        self.batches = iter([crops[i:i + batch] for i in range(0, len(crops), batch)])

    def get_next(self):
        b = next(self.batches, None)
        return None if b is None else {"crops": b}


def quantize(weights_path: str | Path, crops: np.ndarray, out_path: str | Path | None = None) -> Path:
    """Write the int8 copy of ``weights_path``'s ONNX export (exported first when missing),
    calibrated on ``crops`` (RGB uint8 (n, H, W, 3) at the model's input size), atomically.
    Raises ``OnnxUnavailable`` when ONNX Runtime's quantisation tools cannot run."""
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    except ImportError as e:
        raise OnnxUnavailable(f"onnxruntime's quantisation tools cannot be imported ({e})") from None
    from engine.fileio import atomic_path

    src = onnx_pose(weights_path).path
    out = Path(out_path) if out_path else onnx_path(weights_path, int8=True)
    with atomic_path(out) as tmp:
        quantize_static(str(src), str(tmp), _Reader(crops), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return out
