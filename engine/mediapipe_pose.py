"""MediaPipe Pose (BlazePose GHUM full, shipped inside the ``mediapipe==0.10.14`` wheel) as a
reference model and a teacher. Optional: install with ``pip install -r requirements-mediapipe.txt``.
"""
from __future__ import annotations

import numpy as np

#: BlazePose landmark indices of our six joints, in ``engine.joints.JOINTS`` order.
BLAZEPOSE_LOWER_BODY = (23, 24, 25, 26, 27, 28)


def _mediapipe():
    try:
        import mediapipe as mp
    except ImportError:
        raise ImportError("MediaPipe is not installed: it is an optional extra "
                          "(pip install -r requirements-mediapipe.txt)") from None
    return mp


class MediaPipePose:
    """MediaPipe Pose in video (tracking) mode. Use as a context manager, one clip at a time."""

    name = "mediapipe"

    def __init__(self, model_complexity: int = 1, smooth: bool = True):
        self.model_complexity = model_complexity
        self.smooth = smooth
        self._pose = None

    def open(self) -> "MediaPipePose":
        """Start a fresh tracker (call once per clip)."""
        self.close()
        mp = _mediapipe()
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=self.model_complexity,
                                            smooth_landmarks=True, enable_segmentation=False)
        return self

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> "MediaPipePose":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def landmarks(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        """All 33 BlazePose landmarks of the frame's person as (x px, y px, visibility), or
        None when no person is found."""
        if self._pose is None:
            self.open()
        res = self._pose.process(np.ascontiguousarray(frame_rgb))
        if res.pose_landmarks is None:
            return None
        h, w = frame_rgb.shape[:2]
        lm = res.pose_landmarks.landmark
        return np.array([[p.x * w, p.y * h, p.visibility] for p in lm], dtype=np.float64)
