"""MoveNet Thunder as a pseudo-label (and audit) teacher, beside BlazePose.

    teacher = MoveNetTeacher()                         # weights/movenet_thunder.safetensors
    teacher = MoveNetTeacher("runs/mn/final.safetensors")   # a fine-tuned MoveNet Thunder
    with teacher.clip() as pose:                       # one video: follows the athlete
        kp = pose.landmarks(frame_rgb)                 # (17, 3) = x, y (frame pixels), visibility
    kp = teacher.keypoints_in_box(image_rgb, box_xywh) # one known person (the label audit)

Per frame: the shipped person detector (``engine.video.detect``, YOLOX-Nano) finds people,
``engine.video.tracking.choose_athlete`` picks the athlete (the person overlapping the clip's
last athlete box; the largest person when there is none or nobody overlaps it enough), the
athlete's box is cropped by ``engine.geometry.Crop.from_box`` at the weights' input size (256 x
256), and the crop's COCO 17 keypoints are mapped back to frame pixels. Keypoints come from
``MoveNetPose.keypoints`` (the graph's decoding); for fine-tuned weights (the weight file's
``graph_decode`` 0: only the heatmaps of the six lower-body joints were trained), the six
lower-body ones (COCO 11-16) are replaced by ``engine.models.common.predict_keypoints`` (the
heatmap codec). A keypoint's visibility is min(1, score x the sidecar's ``confidence_scale``),
the analysis scale on which 0.5 means usable; ``engine.data.pseudolabel.keypoints_to_annotation``
turns it into COCO ``v`` with the same thresholds as BlazePose's visibility.

MoveNet gives no person mask: its pseudo-labels have no ``segmentation`` (training's
``--paste`` needs one, so those people are never pasted).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from engine.fileio import sha256_file
from engine.joints import COCO_INDICES

#: The ``--teacher`` name.
NAME = "movenet_thunder"
#: The model a teacher's weights file must be (its sidecar's ``model``).
MODEL = "movenet_thunder"


def shipped_weights_path() -> Path:
    """Where the shipped MoveNet Thunder weights live (``weights/movenet_thunder.safetensors``)."""
    from engine.models.weights import WEIGHTS_DIR
    return WEIGHTS_DIR / f"{MODEL}.safetensors"


class MoveNetTeacher:
    """MoveNet Thunder on detected people (see the module docstring). ``weights``: a MoveNet
    Thunder weights file with its sidecar (default the shipped one). Raises
    ``engine.models.weights.WeightsError`` for a missing, unreadable or wrong file and
    ``engine.video.detect.DetectorError`` when the person detector cannot run: both before
    anything is labelled. ``detector`` False: no person detector (``keypoints_in_box`` only,
    as the label audit uses it)."""

    name = NAME

    def __init__(self, weights: str | Path | None = None, threads: int | None = None,
                 detector: bool = True):
        from engine.models.weights import WeightsError, codec_for, load_model, read_sidecar
        from engine.video.detect import load_detector

        self.path = Path(weights) if weights is not None else shipped_weights_path()
        meta = read_sidecar(self.path)  # WeightsError: file or sidecar missing
        if meta["model"] != MODEL:
            raise WeightsError(f"{self.path}: its sidecar names model '{meta['model']}'; the "
                               f"{NAME} teacher needs {MODEL} weights")
        self.model, self.meta = load_model(self.path)
        self.input_size = tuple(int(v) for v in self.meta["input_size"])
        self.codec = codec_for(self.meta)
        self.confidence_scale = float(self.meta.get("confidence_scale", 1.0))
        self.sha256 = sha256_file(self.path)
        self.detector = load_detector(threads) if detector else None

    @property
    def description(self) -> str:
        """What labelled a file: the teacher, its weights file and the file's SHA-256 (first 12)."""
        return (f"{NAME}: {self.path.name}, sha256 {self.sha256[:12]}"
                + ("" if self.model.decodes_keypoints else
                   " (fine-tuned: hips, knees, ankles by the heatmap codec)"))

    def keypoints_in_box(self, image: np.ndarray, box_xywh) -> np.ndarray:
        """COCO's 17 keypoints of the person in ``box_xywh`` (x, y, w, h, image pixels) of an
        RGB uint8 image: (17, 3) = x, y in image pixels and visibility in [0, 1]."""
        from engine.geometry import Crop
        from engine.models.common import predict_keypoints, preprocess

        crop = Crop.from_box(box_xywh, self.input_size)
        x = preprocess(crop.warp(image))
        w, h = self.input_size
        with torch.inference_mode():
            kp = self.model.keypoints(x)[0].double().numpy()  # (17, 3) = y, x, score in [0, 1]
            # input pixel centres: a graph coordinate v in [0, 1] is v * side - 0.5 (forward_keypoints)
            xy = np.stack([kp[:, 1] * w - 0.5, kp[:, 0] * h - 0.5], axis=-1)
            score = kp[:, 2].copy()
            if not self.model.decodes_keypoints:
                _, six_xy, six_sc = predict_keypoints(self.model, x, self.codec)
                xy[list(COCO_INDICES)] = six_xy[0]
                score[list(COCO_INDICES)] = six_sc[0]
        out = np.empty((17, 3))
        out[:, :2] = crop.to_image(xy)
        out[:, 2] = np.clip(score * self.confidence_scale, 0.0, 1.0)
        return out

    def find_athlete(self, frame: np.ndarray, last_box=None):
        """The athlete's detection in an RGB frame (``engine.video.detect.Person``), or None:
        the one overlapping ``last_box`` (x0, y0, x1, y1), else the largest person."""
        from engine.video.tracking import choose_athlete

        people = self.detector.detect(frame)
        athlete = choose_athlete(people, last_box) if last_box is not None else None
        return athlete if athlete is not None else choose_athlete(people)

    @contextmanager
    def clip(self):
        """A per-video labeller whose ``landmarks(frame)`` follows one athlete through the clip."""
        yield _Clip(self)


class _Clip:
    """One video's pass: remembers the athlete's last box. ``mask`` is always None (no masks)."""

    mask = None

    def __init__(self, teacher: MoveNetTeacher):
        self.teacher = teacher
        self.last_box = None

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """(17, 3) = x, y (frame pixels), visibility of the athlete, or None when nobody is found."""
        person = self.teacher.find_athlete(frame, self.last_box)
        if person is None:
            return None
        self.last_box = person.box
        return self.teacher.keypoints_in_box(frame, person.xywh)
