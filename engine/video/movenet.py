"""MoveNet SinglePose Lightning as a second reference model (beside MediaPipe) for the scorecard.

    net = MoveNet()                       # MovenetUnavailable when the runtime or the file is absent
    xy, score = net.lower_body(patch)     # a 192x192 RGB uint8 crop -> our six joints (6, 2) px, (6,)

The model: ``../shared/pretrained/pose/movenet_singlepose_lightning_int8_4.tflite`` (Google's
MoveNet SinglePose Lightning, int8, from ``google-coral/test_data``, Apache-2.0; see
``../shared/pretrained/README.md``), checked against its SHA-256 when loaded. Input: one
192x192 RGB image, uint8 0-255 (the person in the middle; the caller crops). Output
(1, 1, 17, 3): COCO's 17 keypoints as (y, x, score), y and x in 0..1 of the input. Our six
joints are COCO keypoints 11-16 (``engine.joints.COCO_INDICES``).

It runs on the TFLite runtime ``ai-edge-litert`` (a dev dependency, requirements-dev.txt): an
optional extra used only to score the shipped models against a second reference, never by
the app or the video path. Nothing is downloaded: without the runtime or the file the
scorecard leaves MoveNet out and says why (``MovenetUnavailable``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.joints import COCO_INDICES

ROOT = Path(__file__).resolve().parents[2]
MODEL_PATH = ROOT.parent / "shared" / "pretrained" / "pose" / "movenet_singlepose_lightning_int8_4.tflite"
MODEL_SHA256 = "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105"
INPUT_SIZE = 192
NAME = "movenet-lightning"
DESCRIPTION = "MoveNet SinglePose Lightning (int8 TFLite, 192x192, ai-edge-litert)"


class MovenetUnavailable(RuntimeError):
    """MoveNet cannot run here: the runtime is not installed, or the model file is missing or damaged."""


class MoveNet:
    """MoveNet SinglePose Lightning on the TFLite runtime (CPU). ``path`` defaults to the shared
    model (``SQUATPOSE_MOVENET`` names another file, checked against the same SHA-256)."""

    name = NAME

    def __init__(self, path: str | Path | None = None, threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise MovenetUnavailable("the TFLite runtime ai-edge-litert is not installed (an optional "
                                     "extra: pip install -r requirements-dev.txt)") from None
        from engine.fileio import check_sha256
        self.path = Path(path or os.environ.get("SQUATPOSE_MOVENET") or MODEL_PATH)
        if not self.path.is_file():
            raise MovenetUnavailable(f"MoveNet model not found: {self.path} (../shared/pretrained/pose/)")
        check_sha256(self.path, MODEL_SHA256, MovenetUnavailable, "a damaged or replaced model file")
        if threads is None:
            import torch
            threads = torch.get_num_threads()
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=max(1, int(threads)))
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        if list(inp["shape"]) != [1, INPUT_SIZE, INPUT_SIZE, 3]:
            raise MovenetUnavailable(f"{self.path}: input {list(inp['shape'])}, expected "
                                     f"[1, {INPUT_SIZE}, {INPUT_SIZE}, 3]")
        self.input_index, self.input_dtype = inp["index"], inp["dtype"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]

    def keypoints(self, patch_rgb: np.ndarray) -> np.ndarray:
        """COCO's 17 keypoints of the person in a 192x192 RGB uint8 patch: (17, 3) as
        (x px, y px, score) in the patch's pixels."""
        patch = np.ascontiguousarray(patch_rgb)
        if patch.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"MoveNet takes a {INPUT_SIZE}x{INPUT_SIZE} RGB patch, got {patch.shape}")
        self.interpreter.set_tensor(self.input_index, patch[None].astype(self.input_dtype))
        self.interpreter.invoke()
        yxs = self.interpreter.get_tensor(self.output_index).reshape(17, 3).astype(np.float64)
        # (y, x) in 0..1 of the input -> pixel centres of the patch (pixel i spans i-0.5..i+0.5)
        return np.stack([yxs[:, 1] * INPUT_SIZE - 0.5, yxs[:, 0] * INPUT_SIZE - 0.5, yxs[:, 2]], axis=1)

    def lower_body(self, patch_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Our six joints (``engine.joints.JOINTS`` order) in a 192x192 patch: (6, 2) px, (6,) scores."""
        k = self.keypoints(patch_rgb)[list(COCO_INDICES)]
        return k[:, :2], k[:, 2]


def movenet_or_reason(threads: int | None = None) -> tuple[MoveNet | None, str | None]:
    """(MoveNet, None), or (None, why not) when it cannot run here."""
    try:
        return MoveNet(threads=threads), None
    except MovenetUnavailable as e:
        return None, str(e)


class LiteRunner:
    """The int8 TFLite Lightning in the engine's video path: what ``HeatmapPredictor.infer``
    asks of its ONNX session (``predict_keypoints`` of a batch of uint8 crops), one crop at a
    time as the file takes them. It gives joints and scores, no heatmaps (zeros of the right
    shape), so the person detector, the crop tracking and the smoothing around it are the
    engine's own: ``engine.bench video`` times it end to end beside the other models."""

    runtime = "tflite-int8"

    def __init__(self, net: MoveNet | None = None):
        self.net = net or MoveNet()

    def predict_keypoints(self, crops: np.ndarray, codec, flip_test: bool = False):
        if flip_test:
            raise ValueError("the TFLite MoveNet has no flip test")
        n = len(crops)
        xy, sc = np.zeros((n, len(COCO_INDICES), 2)), np.zeros((n, len(COCO_INDICES)))
        for i, crop in enumerate(crops):
            xy[i], sc[i] = self.net.lower_body(crop)
        w, h = codec.heatmap_size
        return np.zeros((n, len(COCO_INDICES), h, w), np.float32), xy, sc


def lite_predictor(threads: int | None = None, smooth: bool = True):
    """A video predictor (``engine.video.predict.HeatmapPredictor``) whose network is the int8
    TFLite Lightning: the imported Lightning's sidecar gives the input size and the confidence
    scale, the TFLite file gives the joints. Raises ``MovenetUnavailable``."""
    from engine.video.predict import load_predictor
    runner = LiteRunner(MoveNet(threads=threads))
    predictor = load_predictor("movenet_lightning", device="cpu", smooth=smooth, runtime="torch")
    if predictor.input_size != (INPUT_SIZE, INPUT_SIZE):
        raise MovenetUnavailable(f"movenet_lightning's sidecar says input {predictor.input_size}, "
                                 f"the TFLite file takes {INPUT_SIZE}x{INPUT_SIZE}")
    predictor.runner, predictor.runtime = runner, runner.runtime
    predictor.name = NAME
    return predictor
