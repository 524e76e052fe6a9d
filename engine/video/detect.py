"""A person detector for the video path: YOLOX-Nano (COCO, 80 classes) through onnxruntime.

    detector = load_detector()              # the model shipped in weights/detector/, or None
    people = detector.detect(frame_rgb)     # [Person(box=(x0, y0, x1, y1), score), ...] best first

The model file ships inside the project (``weights/detector/yolox_nano_coco_416.onnx``, with
its licences and provenance beside it) and is checked against its SHA-256 when loaded.

Input: the frame letterboxed into 416 x 416 (scaled to fit, placed at the top left, the rest
filled with grey 114), BGR 0-255 as float, no normalisation, as YOLOX's own demo prepares it.
Output: 3549 rows (a 52 x 52, 26 x 26 and 13 x 13 grid for strides 8, 16 and 32), each
(x, y, w, h) relative to its grid cell and stride, objectness and 80 class scores (already
through a sigmoid). Decoding: centre = (offset + cell) x stride, size = exp(w, h) x stride;
a person's score is objectness x the person class score; OpenCV's ``cv2.dnn.NMSBoxes`` keeps
the best of overlapping boxes. Boxes come back in frame pixels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.fileio import check_sha256

ROOT = Path(__file__).resolve().parents[2]
MODEL_PATH = ROOT / "weights" / "detector" / "yolox_nano_coco_416.onnx"
#: SHA-256 of the shipped model file (weights/detector/PROVENANCE.md)
MODEL_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
INPUT_SIZE = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114
PERSON_CLASS = 0  # COCO's first class
NAME = "YOLOX-Nano (COCO, 416x416, onnxruntime)"


class DetectorError(RuntimeError):
    """The detector cannot be used: onnxruntime missing, model file missing or damaged."""


@dataclass(frozen=True)
class Person:
    """A detected person: ``box`` (x0, y0, x1, y1) in frame pixels, ``score`` in 0..1."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def xywh(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([x0, y0, x1 - x0, y1 - y0])

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    def to_json(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.box], "score": round(float(self.score), 4)}


def letterbox(image_bgr: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """(1, 3, size, size) float32 input and the scale from frame to input pixels."""
    h, w = image_bgr.shape[:2]
    r = min(size / h, size / w)
    nw, nh = max(1, int(round(w * r))), max(1, int(round(h * r)))
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), r


def grid(size: int = INPUT_SIZE, strides=STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets (N, 2) and strides (N, 1) of the output rows, in YOLOX's order."""
    cells, steps = [], []
    for s in strides:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        steps.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode(output: np.ndarray, scale: float, frame_size: tuple[int, int], score_threshold: float,
           nms_iou: float, cells: np.ndarray, strides: np.ndarray) -> list[Person]:
    """Raw output (N, 85) -> people in frame pixels, best first (class 0 only, after NMS)."""
    scores = output[:, 4] * output[:, 5 + PERSON_CLASS]
    keep = scores >= score_threshold
    if not keep.any():
        return []
    out, scores = output[keep], scores[keep]
    centre = (out[:, :2] + cells[keep]) * strides[keep]
    size = np.exp(np.minimum(out[:, 2:4], 10.0)) * strides[keep]
    x0y0 = (centre - size / 2) / scale
    wh = size / scale
    w, h = frame_size
    x0 = np.clip(x0y0[:, 0], 0, w)
    y0 = np.clip(x0y0[:, 1], 0, h)
    x1 = np.clip(x0y0[:, 0] + wh[:, 0], 0, w)
    y1 = np.clip(x0y0[:, 1] + wh[:, 1], 0, h)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    ok = (boxes[:, 2] > 1) & (boxes[:, 3] > 1)
    boxes, scores, x1, y1 = boxes[ok], scores[ok], x1[ok], y1[ok]
    idx = cv2.dnn.NMSBoxes(boxes.tolist(), scores.astype(float).tolist(), score_threshold, nms_iou)
    idx = sorted(np.asarray(idx, dtype=int).reshape(-1).tolist(), key=lambda i: -scores[i])
    return [Person((float(boxes[i, 0]), float(boxes[i, 1]), float(x1[i]), float(y1[i])), float(scores[i]))
            for i in idx]


class PersonDetector:
    """YOLOX-Nano over onnxruntime on the CPU. ``detect`` takes RGB frames (as
    ``engine.video.reader`` yields them); ``calls`` and ``seconds`` count its use. Without
    ``path`` the shipped model, whose SHA-256 must be ``MODEL_SHA256``; another file is
    checked against ``expected_sha256`` when given. ``threads``: onnxruntime's intra-op
    threads (default: torch's thread count, so both share the same CPU budget)."""

    name = NAME

    def __init__(self, path: str | Path | None = None, threads: int | None = None,
                 score_threshold: float = 0.3, nms_iou: float = 0.45,
                 expected_sha256: str | None = None):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise DetectorError("onnxruntime is not installed (pip install -r requirements.txt)") from e
        if path is None:  # the shipped model, checked against its recorded digest
            path, expected_sha256 = MODEL_PATH, MODEL_SHA256
        self.path = Path(path)
        if not self.path.is_file():
            raise DetectorError(f"detector model not found: {self.path}")
        if expected_sha256 is not None:
            check_sha256(self.path, expected_sha256, DetectorError, "a damaged or replaced model file")
        opts = ort.SessionOptions()
        if threads is None:
            import torch
            threads = torch.get_num_threads()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise DetectorError(f"{self.path}: onnxruntime cannot load it: {e}") from e
        inp = self.session.get_inputs()[0]
        if list(inp.shape) != [1, 3, INPUT_SIZE, INPUT_SIZE]:
            raise DetectorError(f"{self.path}: input {inp.shape}, expected [1, 3, {INPUT_SIZE}, {INPUT_SIZE}]")
        self.input_name = inp.name
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.cells, self.strides = grid()
        self.calls, self.seconds = 0, 0.0

    def detect(self, frame_rgb: np.ndarray, score_threshold: float | None = None) -> list[Person]:
        """People in an RGB uint8 frame (H, W, 3), best first."""
        t0 = time.perf_counter()
        frame = np.ascontiguousarray(frame_rgb)
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        x, r = letterbox(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        out = self.session.run(None, {self.input_name: x})[0][0]
        if out.shape != (len(self.cells), 85):
            raise DetectorError(f"{self.path}: output {out.shape}, expected ({len(self.cells)}, 85)")
        thr = self.score_threshold if score_threshold is None else float(score_threshold)
        people = decode(out, r, (frame.shape[1], frame.shape[0]), thr, self.nms_iou, self.cells, self.strides)
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        return people


_CACHE: dict = {}


def load_detector(threads: int | None = None) -> PersonDetector:
    """The shipped detector (one per thread count and process). Raises ``DetectorError``."""
    key = (threads, str(MODEL_PATH))
    if key not in _CACHE:
        _CACHE[key] = PersonDetector(threads=threads)
    return _CACHE[key]


def detector_or_reason(threads: int | None = None) -> tuple[PersonDetector | None, str | None]:
    """(detector, None), or (None, why not) when it cannot be used."""
    try:
        return load_detector(threads), None
    except DetectorError as e:
        return None, str(e)


# -- python -m engine.detect ------------------------------------------------------------------
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def read_frame(path: str | Path, frame: int = 0) -> np.ndarray:
    """Frame ``frame`` (RGB uint8) of a clip, or the image itself (``frame`` must then be 0).
    Raises ``engine.video.reader.VideoError`` with a readable message."""
    from .reader import VideoError, open_video
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if not path.is_file():
            raise VideoError(f"{path.name}: file not found")
        if frame != 0:
            raise VideoError(f"{path.name}: an image has only frame 0, not {frame}")
        from engine.images import ImageProblem, read_rgb
        try:  # size from the header first (a decompression bomb), a truncated file is damaged
            return read_rgb(path)
        except ImageProblem as e:
            raise VideoError(str(e)) from None
    n = 0
    with open_video(path) as video:
        for i, f in video.frames():
            if i == frame:
                return f
            n = i + 1
    raise VideoError(f"{path.name}: has {n} decodable frames, no frame {frame}")


def build_parser():
    import argparse
    p = argparse.ArgumentParser(prog="python -m engine.detect", description=(
        "Find people in images or in one frame of clips with the shipped person detector "
        f"({NAME}). Prints each person's box (x0, y0, x1, y1, frame pixels) and score, best "
        "first; with --json one JSON object per input and line: "
        '{"source": PATH, "frame": N, "people": [{"box": [x0, y0, x1, y1], "score": s}, ...]}.'))
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_CLIP", help="image or video files (never modified)")
    p.add_argument("--frame", type=int, default=0, metavar="N",
                   help="which decoded frame of each clip (default 0, the first; images: 0)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--min-score", type=float, default=0.3, metavar="S",
                   help="drop people scored below S (default 0.3)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for onnxruntime (default 2)")
    return p


def main(argv=None) -> int:
    import json
    import sys
    from .reader import VideoError
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frame < 0:
        parser.error("--frame must be 0 or more")
    if not 0.0 <= args.min_score <= 1.0:
        parser.error("--min-score must be between 0 and 1")
    try:
        detector = PersonDetector(threads=args.threads, score_threshold=args.min_score)
    except DetectorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    status = 0
    for src in args.inputs:
        try:
            frame = read_frame(src, args.frame)
        except VideoError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        people = detector.detect(frame)
        if args.json:
            print(json.dumps({"source": str(src), "frame": args.frame,
                              "people": [p.to_json() for p in people]}), flush=True)
        else:
            print(f"{src} frame {args.frame}: {len(people)} people")
            for p in people:
                x0, y0, x1, y1 = p.box
                print(f"  box {x0:.0f} {y0:.0f} {x1:.0f} {y1:.0f}  score {p.score:.3f}")
    return status
