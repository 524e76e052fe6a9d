"""Per-frame lower-body joints of a clip: what every predictor returns and analysis reads.

Coordinates are original-frame pixels (after rotation metadata is applied). A joint that was
not found in a frame has NaN coordinates and confidence 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .joints import JOINTS, NUM_JOINTS


@dataclass
class PoseSeries:
    """Six joints per processed frame of one clip, from one model."""

    keypoints: np.ndarray  # (T, 6, 2) float, frame pixels, NaN where not found
    confidence: np.ndarray  # (T, 6) float in [0, 1]
    times: np.ndarray  # (T,) seconds from the clip's start
    frame_indices: np.ndarray  # (T,) int, index of each processed frame in the decoded clip
    frame_size: tuple[int, int]  # (width, height) of the frames
    fps: float  # frames per second of the processed series (after stride)
    model: str = ""
    #: Optional per-frame heatmaps for display: (T, 6, h, w) float16 in the model's crop, and
    #: the crop used per frame (``engine.geometry.Crop``), so they can be mapped to the frame.
    heatmaps: np.ndarray | None = None
    crops: list | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = len(self.times)
        assert self.keypoints.shape == (t, NUM_JOINTS, 2), self.keypoints.shape
        assert self.confidence.shape == (t, NUM_JOINTS), self.confidence.shape

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def empty(cls, n: int, fps: float, frame_size, model: str = "", stride: int = 1) -> "PoseSeries":
        """A series of ``n`` frames (every ``stride``-th of a clip at ``fps``) with no joints."""
        idx = np.arange(n) * stride
        times = idx / fps if fps else idx.astype(float)
        return cls(np.full((n, NUM_JOINTS, 2), np.nan), np.zeros((n, NUM_JOINTS)), times, idx,
                   tuple(frame_size), fps / stride if fps else 0.0, model)

    def rows(self):
        """Yield (frame, time_s, joint name, x, y, confidence) rows, as in keypoints.csv."""
        for t in range(len(self)):
            for j, name in enumerate(JOINTS):
                x, y = self.keypoints[t, j]
                yield (int(self.frame_indices[t]), float(self.times[t]), name,
                       float(x), float(y), float(self.confidence[t, j]))
