"""MediaPipe Pose (BlazePose GHUM, ``mediapipe==0.10.14``) as a reference model and a teacher.
Optional: install with ``pip install -r requirements-mediapipe.txt``.

``model_complexity`` (the adapter's complexity): 1 = *full* (default; inside the wheel),
2 = *heavy* (teacher ``mediapipe-heavy``), 0 = *lite*. Heavy and lite come from the npm
package ``@mediapipe/pose``, installed by ``python -m engine.teacher install``
(``engine.video.blazepose_models``); without them ``open()`` refuses with a message saying so
(``ModelMissing``) rather than letting mediapipe try to download them.

    with MediaPipePose() as mp_pose:          # the teacher: all 33 landmarks of one frame
    MediaPipePose.for_teacher("mediapipe-heavy", static_image_mode=True)   # photos, one by one
        lm = mp_pose.landmarks(frame_rgb)      # (33, 3) x px, y px, visibility, or None
    series = MediaPipePose().predict_video("squat.mp4", stride=2)   # a Predictor, like predict.py
    series = MediaPipePose().predict_video("squat.mp4", keep_landmarks=True)
    series.meta["landmarks"]                   # (T, 33, 3) all landmarks per frame, NaN = nobody

Our six joints are BlazePose landmarks 23-28 (hips, knees, ankles, same left/right meaning);
a joint's confidence is the landmark's visibility; frames where MediaPipe finds nobody are
NaN with confidence 0. Video runs in tracking mode (static_image_mode=False), one fresh
tracker per clip; ``static_image_mode=True`` detects the person afresh in every image.
"""
from __future__ import annotations

import time

import numpy as np

from engine.joints import NUM_JOINTS
from engine.pose import PoseSeries

#: BlazePose landmark indices of our six joints, in ``engine.joints.JOINTS`` order.
BLAZEPOSE_LOWER_BODY = (23, 24, 25, 26, 27, 28)
#: BlazePose's landmark count (nose, eyes, ears, mouth, shoulders, arms, hands, legs, feet).
NUM_LANDMARKS = 33


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

    def __init__(self, model_complexity: int = 1, smooth: bool = True, segmentation: bool = False,
                 static_image_mode: bool = False):
        from .blazepose_models import MODELS
        if model_complexity not in MODELS:
            raise ValueError(f"model_complexity must be 0 (lite), 1 (full) or 2 (heavy), got {model_complexity!r}")
        self.model_complexity = model_complexity
        if model_complexity != 1:
            self.name = f"mediapipe-{'heavy' if model_complexity == 2 else 'lite'}"
        self.smooth = smooth
        self.static_image_mode = static_image_mode
        #: with ``segmentation``, ``landmarks`` also leaves the person's mask in ``self.mask``
        #: (float32 H x W in [0, 1], None when nobody was found)
        self.segmentation = segmentation
        self.mask: np.ndarray | None = None
        self._pose = None

    @classmethod
    def for_teacher(cls, teacher: str, **kwargs) -> "MediaPipePose":
        """The adapter for a ``--teacher`` name (mediapipe, mediapipe-heavy, mediapipe-lite)."""
        from .blazepose_models import teacher_complexity
        return cls(model_complexity=teacher_complexity(teacher), **kwargs)

    def open(self) -> "MediaPipePose":
        """Start a fresh tracker (call once per clip). ModelMissing when the model of this
        complexity is not installed (heavy, lite: ``python -m engine.teacher install``)."""
        from .blazepose_models import check_model
        self.close()
        mp = _mediapipe()
        check_model(self.model_complexity)
        self._pose = mp.solutions.pose.Pose(static_image_mode=self.static_image_mode,
                                            model_complexity=self.model_complexity,
                                            smooth_landmarks=not self.static_image_mode,
                                            enable_segmentation=self.segmentation)
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
        self.mask = None
        if res.pose_landmarks is None:
            return None
        if self.segmentation and res.segmentation_mask is not None:
            self.mask = np.asarray(res.segmentation_mask, dtype=np.float32)
        h, w = frame_rgb.shape[:2]
        lm = res.pose_landmarks.landmark
        return np.array([[p.x * w, p.y * h, p.visibility] for p in lm], dtype=np.float64)

    # -- the Predictor interface ---------------------------------------------------------------
    def predict_video(self, video_path: str, *, stride: int = 1, max_seconds: float | None = None,
                      keep_heatmaps: bool = True, progress=None, keep_landmarks: bool = False,
                      keep_world: bool = False) -> PoseSeries:
        """Our six joints in every ``stride``-th frame (frame pixels, confidence = visibility),
        One Euro smoothed when ``self.smooth``. MediaPipe has no heatmaps: ``keep_heatmaps`` is
        accepted for the interface and ignored. ``series.meta['timings_s']`` holds seconds
        spent per stage (decode, preprocess, model, postprocess). With ``keep_landmarks``,
        ``series.meta['landmarks']`` is (T, 33, 3): every BlazePose landmark per frame as
        (x px, y px, visibility), unsmoothed, NaN where nobody was found. With ``keep_world``,
        ``series.meta['world']`` is (T, 6, 3): MediaPipe's own 3-D estimate of our six joints
        (its world landmarks: metres, origin between the hips), unsmoothed, NaN where none."""
        from .reader import open_video

        timings = dict.fromkeys(("decode", "preprocess", "model", "postprocess"), 0.0)
        idx, kps, confs, lms, worlds = [], [], [], [], []
        with open_video(video_path, stride=stride, max_seconds=max_seconds) as video, self:
            fps, size = float(video.fps), tuple(video.frame_size)
            total = video.frame_count // stride if video.frame_count else 0
            frames = iter(video.frames())
            while True:
                t0 = time.perf_counter()
                item = next(frames, None)
                t1 = time.perf_counter()
                timings["decode"] += t1 - t0
                if item is None:
                    break
                i, frame = item
                rgb = np.ascontiguousarray(frame)
                t2 = time.perf_counter()
                res = self._pose.process(rgb)
                t3 = time.perf_counter()
                kp = np.full((NUM_JOINTS, 2), np.nan)
                conf = np.zeros(NUM_JOINTS)
                full = np.full((NUM_LANDMARKS, 3), np.nan)
                if res.pose_landmarks is not None:
                    h, w = frame.shape[:2]
                    lm = res.pose_landmarks.landmark
                    for j, b in enumerate(BLAZEPOSE_LOWER_BODY):
                        kp[j] = (lm[b].x * w, lm[b].y * h)
                        conf[j] = float(np.clip(lm[b].visibility, 0.0, 1.0))
                    if keep_landmarks:
                        full = np.array([[p.x * w, p.y * h, p.visibility] for p in lm], dtype=np.float64)
                if keep_landmarks:
                    lms.append(full)
                if keep_world:
                    wl = res.pose_world_landmarks
                    worlds.append(np.full((NUM_JOINTS, 3), np.nan) if wl is None else np.array(
                        [[wl.landmark[b].x, wl.landmark[b].y, wl.landmark[b].z] for b in BLAZEPOSE_LOWER_BODY]))
                idx.append(i)
                kps.append(kp)
                confs.append(conf)
                t4 = time.perf_counter()
                timings["preprocess"] += t2 - t1
                timings["model"] += t3 - t2
                timings["postprocess"] += t4 - t3
                if progress is not None and total:
                    progress(min(len(idx) / total, 1.0), f"{self.name}: frame {i + 1}")
        n = len(idx)
        if n == 0:
            series = PoseSeries.empty(0, fps, size, self.name, stride)
        else:
            fi = np.asarray(idx, dtype=int)
            series = PoseSeries(np.stack(kps), np.stack(confs), fi / fps if fps else fi.astype(float),
                                fi, size, fps / stride if fps else 0.0, self.name)
        series.meta.update({"model_complexity": self.model_complexity, "device": "cpu",
                            "timings_s": timings})
        if keep_landmarks:
            series.meta["landmarks"] = np.stack(lms) if lms else np.zeros((0, NUM_LANDMARKS, 3))
        if keep_world:
            series.meta["world"] = np.stack(worlds) if worlds else np.zeros((0, NUM_JOINTS, 3))
        if self.smooth:
            from .smoothing import smooth_series
            series = smooth_series(series)
        if progress is not None:
            progress(1.0, f"{self.name}: {n} frames")
        return series
