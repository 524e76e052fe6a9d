"""Where to look for the athlete in each frame: a person detector's box, then the joints.

A heatmap model needs a crop around the person. With the person detector
(``engine.video.detect``, YOLOX-Nano; the default whenever it can be loaded):

1. **Detect** on the first frame, whenever the tracked person's joint confidence drops below
   ``min_confidence``, whenever the joints wander out of the athlete's last box or the latest
   frame lost joints below a box older than ``redetect_s`` (a box taken while the athlete was
   in the air, in a jump squat, ends above the feet after the landing), and every
   ``detect_interval_s`` of video as a cheap check (every batch while another person overlaps
   the athlete). While the latest detection matched nobody (nobody there, or not the athlete),
   each of these waits: the next detection comes ``redetect_s`` later, doubled after each further
   miss in a row up to ``redetect_max_s`` (``redetect_wait``; at 30 frames/s, 9, 18 then 30
   frames at the most), so a stretch without the athlete costs about one detection a second
   instead of one a batch.
2. **Choose the athlete** (``choose_athlete``): the first time (and after a cut, when nobody
   matches for ``lost_s``), the largest person whose legs move: box area x how much the
   lower half of the box moves over the clip's first seconds (``MotionMap``), among people
   scored at least ``min_person_score``; afterwards, the person whose box overlaps the
   athlete's last box most (IoU at least ``keep_iou``), never a newcomer: a passer-by who
   walks across does not overlap the athlete's box for long, and never takes over the track.
3. **Track** between detections as without a detector (below): the crop comes from the joints
   of the frames just before; the crop is reset to the athlete's box (``Crop.from_box``) when
   the athlete is (re-)found while the joints were unsure or outside the box. While the last
   detection matched the athlete, joints outside the athlete's box (``outside_box``: below
   the feet by more than ``below_box`` of its height, or beyond ``box_margin`` sideways or
   above) are dropped as not found: a model shown legs cut off by the frame's edge or a
   caption bar invents knees and ankles there.

Without a detector (onnxruntime or the model file missing, or ``finder="search"``), the crop
comes from the model itself:

1. **Search** (first frame, and whenever the track is lost): run the model on the whole frame
   fitted to the input's aspect ratio, and, when that finds no confident lower body or only a
   small one, on overlapping windows at finer scales (``search_levels``), level by level,
   coarsest first, stopping at the first level with a confident candidate (a finer window
   shows only part of a person, and a model can take a foot for a whole small lower body).
   Candidates are ranked by mean confidence times how much their lower body moves over the
   clip's first seconds (``MotionMap``): the athlete is what moves in a squat clip; a plant,
   a fan or a mirror does not.
2. **Track** (every following batch of frames): the crop comes from the joints found just
   before, through the one rule ``engine.geometry.lower_body_box`` (the joints' box, room for
   the torso above the hips, margins), as BlazePose derives its region of interest from the
   previous frame's landmarks instead of running its detector again. The crop never shrinks
   below ``min_search_fraction`` of the crop the last search found.
3. **Re-acquire**: when the mean joint confidence of the latest frame drops below
   ``min_confidence`` the track is lost and the next batch searches again (at most once per
   ``search_interval_s`` of video, so a clip with nobody in it does not search on every frame),
   unless the confidence only dips (stays at least ``hold_confidence``, for at most
   ``hold_s``): then the crop is held, as a model unsure of a squat's bottom is no sign that
   the athlete left.

All coordinates are frame pixels; sizes are (width, height).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.geometry import Crop, fit_aspect, fit_inside, lower_body_box


@dataclass(frozen=True)
class TrackerConfig:
    """Thresholds of the search-and-track loop (confidences are heatmap peaks, 0..1)."""

    #: Keep tracking while the mean confidence of the latest frame's six joints is at least this.
    min_confidence: float = 0.3
    #: Joints at least this confident shape the next crop.
    joint_confidence: float = 0.2
    #: After a search that found nobody confident, wait this long (video seconds) before the
    #: next one, using the best candidate's crop meanwhile.
    search_interval_s: float = 1.0
    #: Search finer windows when the lower body found on the whole frame is shorter than this
    #: fraction of the crop height (or nothing confident was found).
    small_person: float = 0.4
    #: Finest search windows: at least this many times the input height (no point going finer
    #: than the model's own resolution), and at most this many levels below the whole frame.
    min_window_scale: float = 2.0
    max_levels: int = 2
    #: Limits of a tracked crop's height, as fractions of the frame's height. A lower-body crop
    #: under a fifth of the frame would mean legs too small to judge; the floor also keeps a
    #: model that mistakes a foot for a whole lower body from shrinking the crop onto it.
    min_crop: float = 0.2
    max_crop: float = 1.5
    #: A tracked crop shrinks by at most this factor per update (every batch, at most
    #: ``max_batch_seconds``): an athlete does not get twice as small in a third of a second,
    #: but a mistaken cluster of joints on one foot would pull the crop onto it at once.
    max_shrink: float = 0.8
    #: A batch of frames shares one crop; it spans at most this much video (seconds), so the
    #: crop lags the athlete by at most that much.
    max_batch_seconds: float = 0.3
    #: A dip of the latest frame's mean confidence below ``min_confidence`` but not below
    #: this keeps the crop (no new search) for up to ``hold_s`` of video: a pose the model is
    #: unsure of (the bottom of a squat) is no reason to look elsewhere; the athlete leaving
    #: the crop (a cut, a walk-off) takes the confidence to about nothing.
    hold_confidence: float = 0.1
    hold_s: float = 0.6
    #: A tracked crop stays at least this fraction of the height of the crop the last search
    #: found: a squat lowers the hips, it does not halve the athlete, while a model that
    #: mistakes a foot for a whole lower body would otherwise pull the crop onto the foot.
    min_search_fraction: float = 0.5
    #: The search weighs each candidate's confidence by how much its lower body moves in the
    #: clip's first this many seconds (``MotionMap``; 0 = no motion weighting).
    motion_seconds: float = 5.0
    # -- with the person detector ----------------------------------------------------------------
    #: Detect at least this often (video seconds) as a cheap check while tracking.
    detect_interval_s: float = 1.0
    #: While nobody (or not the athlete) is found, detect again after this long, twice as long
    #: after each further miss in a row, at most ``redetect_max_s`` (and never after the moment
    #: the athlete counts as gone, ``lost_s`` after they were last seen): the detector is not
    #: run on every batch of a stretch where nobody can be found.
    redetect_s: float = 0.3
    #: The longest wait between two detections while nobody matches (video seconds): the
    #: routine check's ``detect_interval_s``, so an athlete who walks in is found within it.
    redetect_max_s: float = 1.0
    #: People the detector scores below this are ignored.
    min_person_score: float = 0.4
    #: A detection is the athlete seen before when its box overlaps the athlete's last box by at
    #: least this intersection over union.
    keep_iou: float = 0.3
    #: When no detection has matched the athlete for this long (a cut, the athlete walked
    #: off and back), the athlete is chosen afresh by the largest-moving-person rule.
    lost_s: float = 2.0
    #: The joints' centre may leave the athlete's last box (grown by this fraction of its size
    #: on each side) only by a detection's say-so: outside it, detect at once.
    box_margin: float = 0.25
    #: A joint found below the athlete's box (the person's feet, by the detector) by more than
    #: this fraction of the box's height is not the athlete's: a model shown legs cut off by
    #: the frame or a caption bar invents knees and ankles there. Sideways and above, the
    #: box's ``box_margin`` applies (hips go back and down in a squat between detections).
    below_box: float = 0.02
    #: With the detector, a tracked crop stays at least this fraction of the height of the crop
    #: of the athlete's latest box (``min_search_fraction`` plays this part for the search): a
    #: tight lower-body crop at the bottom of a squat is where the model folds both legs onto
    #: one (front-mat.mp4: both hips on one knee at every bottom with 0.5); more context
    #: keeps them apart.
    min_box_fraction: float = 0.8


def whole_frame_crop(frame_size: tuple[int, int], input_size: tuple[int, int]) -> Crop:
    """The whole frame, grown along its shorter side to the input's aspect ratio."""
    w, h = frame_size
    sw, sh = fit_aspect(w, h, input_size[0] / input_size[1])
    return Crop(((w - 1) / 2.0, (h - 1) / 2.0), (sw, sh), tuple(input_size))


def _positions(extent: float, window: float) -> list[float]:
    """Centres of windows of size ``window`` covering [0, extent] with at least 50% overlap."""
    if window >= extent:
        return [(extent - 1) / 2.0]
    n = math.ceil((extent - window) / (window / 2.0)) + 1
    return list(np.linspace(window / 2.0 - 0.5, extent - window / 2.0 - 0.5, n))


def search_levels(frame_size: tuple[int, int], input_size: tuple[int, int],
                  config: TrackerConfig = TrackerConfig()) -> list[list[Crop]]:
    """Overlapping windows at finer scales than the whole frame, one list per level, coarsest
    first.

    Level 1 is the largest window of the input's aspect that fits inside the frame (full
    height of a landscape frame), each next level half as big, while the window stays at least
    ``min_window_scale`` x the input height. Windows overlap by half, so any region up to half
    a window in size lies wholly inside one of them.
    """
    w, h = frame_size
    ww, wh = fit_inside(w, h, input_size[0] / input_size[1])
    levels = []
    for _ in range(config.max_levels):
        if wh < config.min_window_scale * input_size[1]:
            break
        levels.append([Crop((float(cx), float(cy)), (ww, wh), tuple(input_size))
                       for cy in _positions(h, wh) for cx in _positions(w, ww)])
        ww, wh = ww / 2.0, wh / 2.0
    return levels


@dataclass(frozen=True)
class MotionMap:
    """Where a clip moves: the per-pixel standard deviation over time of small greyscale
    frames (``std``, map pixels = frame pixels x ``scale``). The athlete is what moves in a
    squat clip; a plant, a fan or a mirror that a model mistakes for legs does not."""

    std: np.ndarray
    scale: float

    #: below this mean deviation (grey levels) the clip is taken as still: no evidence either way
    STILL = 1.0

    @classmethod
    def from_frames(cls, frames, width: int = 160) -> "MotionMap | None":
        small = []
        for f in frames:
            s = width / f.shape[1]
            g = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)
            small.append(cv2.resize(g, None, fx=s, fy=s, interpolation=cv2.INTER_AREA).astype(np.float32))
        if len(small) < 2:
            return None
        return cls(np.std(np.stack(small), axis=0), s)

    def support(self, box_xywh) -> float:
        """How much the region moves against the whole frame: its mean deviation over the
        frame's, capped at 1 (a region that moves at least as much as the frame on average
        counts fully; a still one hardly). 1 when the clip is still or the box is empty."""
        mean = float(self.std.mean())
        if box_xywh is None or mean < self.STILL:
            return 1.0
        x, y, w, h = (float(v) * self.scale for v in box_xywh)
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(self.std.shape[1], int(np.ceil(x + w))), min(self.std.shape[0], int(np.ceil(y + h)))
        if x1 <= x0 or y1 <= y0:
            return 1.0
        return float(min(1.0, self.std[y0:y1, x0:x1].mean() / mean))


def confident_region(keypoints: np.ndarray, confidence: np.ndarray,
                     config: TrackerConfig = TrackerConfig()) -> np.ndarray | None:
    """``lower_body_box`` of the joints (K, 2) or (T, K, 2) at least ``joint_confidence``
    confident: (x, y, w, h) frame pixels, None when fewer than two are."""
    pts = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    ok = (np.asarray(confidence).reshape(-1) >= config.joint_confidence) & np.isfinite(pts).all(axis=1)
    return lower_body_box(pts, ok)


def crop_from_joints(keypoints: np.ndarray, confidence: np.ndarray, frame_size: tuple[int, int],
                     input_size: tuple[int, int], config: TrackerConfig = TrackerConfig(),
                     previous: Crop | None = None, floor: float = 0.0) -> Crop | None:
    """The tracked crop around joints (K, 2) or (T, K, 2) (several frames: the crop covers them
    all), from those at least ``joint_confidence`` confident; None when fewer than two are.
    Its height stays within ``min_crop``..``max_crop`` of the frame's, at least ``floor``
    pixels and, after ``previous``, at least ``max_shrink`` x the previous crop's (same centre
    rule)."""
    box = confident_region(keypoints, confidence, config)
    if box is None:
        return None
    crop = Crop.from_box(box, tuple(input_size))
    h = frame_size[1]
    floor = max(floor, config.min_crop * h)
    if previous is not None:
        floor = max(floor, config.max_shrink * previous.size[1])
    scale = np.clip(crop.size[1], min(floor, config.max_crop * h), config.max_crop * h) / crop.size[1]
    return Crop(crop.center, (float(crop.size[0] * scale), float(crop.size[1] * scale)), crop.output_size)


def person_height_in_crop(keypoints: np.ndarray, confidence: np.ndarray, crop: Crop,
                          config: TrackerConfig = TrackerConfig()) -> float:
    """Height of the confident joints' lower-body region as a fraction of the crop's height
    (0 when fewer than two joints are confident)."""
    box = confident_region(keypoints, confidence, config)
    return 0.0 if box is None else float(box[3] / crop.size[1])


# -- the athlete among detected people ----------------------------------------------------------
def box_iou(boxes, box) -> np.ndarray:
    """IoU of each of ``boxes`` (N, 4) with ``box`` (4,), all (x0, y0, x1, y1)
    (``torchvision.ops.box_iou``)."""
    import torch
    from torchvision.ops import box_iou as tv_box_iou
    a = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    b = torch.as_tensor(np.asarray(box, dtype=np.float64).reshape(1, 4))
    return tv_box_iou(a, b)[:, 0].numpy()


def leg_motion(box, motion: MotionMap | None) -> float:
    """How much the lower half of a person box (x0, y0, x1, y1) moves (``MotionMap.support``);
    1 without a motion map."""
    if motion is None:
        return 1.0
    x0, y0, x1, y1 = (float(v) for v in box)
    return motion.support((x0, (y0 + y1) / 2.0, x1 - x0, (y1 - y0) / 2.0))


def choose_athlete(people: list, last_box=None, motion: MotionMap | None = None,
                   config: TrackerConfig = TrackerConfig()):
    """The athlete among detected ``people`` (``engine.video.detect.Person``, best first), or
    None. With ``last_box`` (the athlete's box at the last detection that found them): the
    person overlapping it most, if by at least ``keep_iou`` IoU (else None: hidden, or gone).
    Without: the largest person whose legs move (area x ``leg_motion``), among those scored at
    least ``min_person_score``."""
    people = [p for p in people if p.score >= config.min_person_score]
    if not people:
        return None
    if last_box is not None:
        iou = box_iou([p.box for p in people], last_box)
        i = int(np.argmax(iou))
        return people[i] if iou[i] >= config.keep_iou else None
    return max(people, key=lambda p: p.area * leg_motion(p.box, motion))


def redetect_wait(misses: int, t: float, seen_at: float | None,
                  config: TrackerConfig = TrackerConfig()) -> float:
    """Video seconds to wait, at time ``t``, before the next detection after ``misses`` (>= 1)
    detections in a row matched nobody: ``redetect_s`` doubled for each further miss, at most
    ``redetect_max_s``; while an athlete last seen at ``seen_at`` does not yet count as gone,
    no later than just after ``lost_s`` from then (so that, after a cut, the athlete is chosen
    afresh as soon as before)."""
    wait = min(config.redetect_s * 2.0 ** (max(int(misses), 1) - 1), config.redetect_max_s)
    if seen_at is not None and t - seen_at <= config.lost_s:
        wait = min(wait, seen_at + config.lost_s - t + 1e-3)
    return wait


def crowded(people: list, athlete, config: TrackerConfig = TrackerConfig()) -> bool:
    """Whether another detected person's box overlaps the athlete's (then detect every batch)."""
    others = [p.box for p in people if p is not athlete and p.score >= config.min_person_score]
    return bool(others) and bool((box_iou(others, athlete.box) > 0).any())


def outside_box(keypoints: np.ndarray, box, config: TrackerConfig = TrackerConfig()) -> np.ndarray:
    """(..., K) bool: joints (..., K, 2) outside the athlete's box (x0, y0, x1, y1): beyond
    ``box_margin`` x its size sideways or above, or more than ``below_box`` x its height below
    its bottom. NaN joints count as inside (nothing to drop)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    x, y = keypoints[..., 0], keypoints[..., 1]
    with np.errstate(invalid="ignore"):
        out = (x < x0 - config.box_margin * w) | (x > x1 + config.box_margin * w) \
            | (y < y0 - config.box_margin * h) | (y > y1 + config.below_box * h)
    return out & np.isfinite(keypoints).all(axis=-1)


def inside_box(region_xywh, box, config: TrackerConfig = TrackerConfig()) -> bool:
    """Whether the centre of a joints' region (x, y, w, h) lies in ``box`` (x0, y0, x1, y1)
    grown by ``box_margin`` of its size on each side."""
    if region_xywh is None or box is None:
        return False
    x, y, w, h = (float(v) for v in region_xywh)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = config.box_margin * (x1 - x0), config.box_margin * (y1 - y0)
    return x0 - mx <= cx <= x1 + mx and y0 - my <= cy <= y1 + my
