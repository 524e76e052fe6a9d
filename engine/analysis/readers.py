"""Joint series from files, for analysis without video: each reader returns a ``PoseSeries``.

Formats (``read_keypoints`` picks by content, not by name alone):

* **CSV** (the project's own ``keypoints.csv`` is one): a header row naming the columns
  ``frame, time_s, joint, x, y, confidence`` (any order; ``time_s`` and ``confidence`` may be
  left out), one row per joint per frame. ``joint`` is a joint name (``left_hip`` ...
  ``right_ankle``; other names such as ``nose`` are ignored) or a 0-based COCO keypoint index
  (11..16 are ours, the rest are ignored). ``x``, ``y`` are frame pixels (y down); an empty
  ``x``/``y`` is a joint not found. ``confidence`` is 0..1 (default 1); a joint below
  ``thresholds.MIN_CONFIDENCE`` is not used. ``time_s`` empty or absent: times are
  ``frame / fps``, with ``fps`` given (``--fps``) or else 30, and the series says so.
* **Penn Action** label files (``.mat``, MATLAB v5: ``x``, ``y``, ``visibility``, frames x 13
  joints, ``dimensions``, ``pose``). The labels record no frame rate: 30 frames per second is
  assumed unless ``fps`` is given, and the series says so. Penn Action names its joints from
  the other side: its ``left_hip`` is the person's right hip (on the 20 front-view tracks the
  joint it calls left lies on the image's left, on the 5 back-view tracks on the image's
  right, and in side views the joints it calls left are the ones hidden behind the body when
  the person shows their left side: ``tests/test_readers.py`` checks all three), so the reader
  swaps left and right. A joint labelled but flagged not visible gets confidence
  ``PENN_OCCLUDED_CONFIDENCE``, below ``thresholds.MIN_CONFIDENCE``: a person placed it
  without seeing it, so it is treated like a detector's unsure guess at a hidden joint and
  not used (in side views that is mostly the far leg, which a camera does not see either). A
  joint not labelled (0 or 1 pixel coordinates, or outside the frame) is missing.

Every problem raises ``KeypointsError`` with a message that names the file and what is wrong.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from engine.joints import COCO_INDICES, FLIP_INDEX, JOINT_INDEX, JOINTS, NUM_JOINTS
from engine.pose import PoseSeries

#: The frame rate assumed where a file records none.
DEFAULT_FPS = 30.0
#: Penn Action: confidence of a joint that a person placed but flagged as not visible (below
#: thresholds.MIN_CONFIDENCE: not used, see the module docstring).
PENN_OCCLUDED_CONFIDENCE = 0.3
#: Penn Action's 13 joints in file order; ours are hips 7-8, knees 9-10, ankles 11-12, named
#: from the other side (see the module docstring), so our left_hip is its column 8.
PENN_JOINTS = ("head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
               "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
               "right_ankle")
#: Penn Action's column of each of our JOINTS: the joint of the other side's name.
PENN_COLUMNS = tuple(PENN_JOINTS.index(JOINTS[FLIP_INDEX[j]]) for j in range(NUM_JOINTS))
CSV_COLUMNS = ("frame", "time_s", "joint", "x", "y", "confidence")


class KeypointsError(ValueError):
    """A joint file that cannot be read, with a message a user can act on."""


def _env_number(name: str, default: float) -> float:
    import os
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        return default
    return v if np.isfinite(v) and v > 0 else default


def max_frames() -> int:
    """Most frames a joint file may hold: the video limit's frame cap (``SQUATPOSE_MAX_FRAMES``,
    3600 = 60 s at 60 frames/s), so a file is analysed within the bounds a clip is."""
    return int(_env_number("SQUATPOSE_MAX_FRAMES", 3600))


def max_file_bytes() -> int:
    """Largest joint file read (``SQUATPOSE_MAX_KEYPOINTS_MB``, default 32 MB: 3600 frames of
    17 joints as CSV take about 4 MB); checked before anything is read."""
    return int(_env_number("SQUATPOSE_MAX_KEYPOINTS_MB", 32) * 2**20)


def _too_many_frames(name: str, n: int | str) -> KeypointsError:
    return KeypointsError(f"{name}: {n} frames, over the {max_frames()}-frame limit for a joint file "
                          "(the video limit: 60 s at 60 frames/s); cut it to the set to analyse")


def read_keypoints(path: str | Path, fps: float | None = None) -> PoseSeries:
    """The joint series in ``path`` (CSV or Penn Action .mat, see the module docstring).
    ``fps`` sets the frame rate where the file has no times. Raises ``KeypointsError``."""
    path = Path(path)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise KeypointsError(f"--fps must be a number above 0, not {fps}")
    if not path.is_file():
        raise KeypointsError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_file_bytes():
        raise KeypointsError(f"{path.name}: {size:,} bytes, over the {max_file_bytes():,}-byte limit for a "
                             "joint file (SQUATPOSE_MAX_KEYPOINTS_MB); cut it to the set to analyse")
    with open(path, "rb") as f:
        head = f.read(128)
    if head.startswith(b"MATLAB"):
        return read_penn_mat(path, fps)
    if path.suffix.lower() == ".mat":
        raise KeypointsError(f"{path.name}: not a MATLAB v5 file (Penn Action labels are)")
    return read_csv(path, fps)


def _series(kp: np.ndarray, conf: np.ndarray, frames: np.ndarray, times: np.ndarray | None,
            fps: float | None, frame_size, source: str, name: str) -> PoseSeries:
    note = None
    if times is None:
        if fps is None:
            fps = DEFAULT_FPS
            note = f"{name} records no frame times: {DEFAULT_FPS:g} frames per second assumed"
        times = frames / fps
    # the series' own rate (a file may hold every k-th frame of a clip, like --stride)
    steps = np.diff(times)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    fps = round(float(1.0 / np.median(steps)), 6) if len(steps) else float(fps or DEFAULT_FPS)
    if frame_size is None:  # not recorded: the extent of the joints (for display only)
        xy = kp[np.isfinite(kp).all(axis=2)]
        frame_size = (int(np.ceil(xy[:, 0].max())) + 1, int(np.ceil(xy[:, 1].max())) + 1) if len(xy) else (0, 0)
    s = PoseSeries(kp, conf, np.asarray(times, dtype=np.float64), frames.astype(int), tuple(frame_size),
                   float(fps), source)
    s.meta["source_file"] = name
    if note:
        s.meta["fps_note"] = note
    return s


def read_penn_mat(path: str | Path, fps: float | None = None) -> PoseSeries:
    """A Penn Action label file (see the module docstring); ``meta['labelled_view']`` holds its
    ``pose`` field (left, right, front, back)."""
    try:
        import scipy.io
    except ImportError:
        raise KeypointsError("reading Penn Action .mat files needs scipy, a tool's dependency: "
                             "pip install -r requirements-dev.txt") from None
    path = Path(path)
    damaged = KeypointsError(f"{path.name}: cannot read it as a MATLAB file (damaged, or not a "
                             "Penn Action label file)")
    try:  # the variables' shapes from their headers first: a compressed array may unpack huge
        shapes = {name: shape for name, shape, _ in scipy.io.whosmat(str(path))}
    except Exception:  # scipy raises several kinds for a damaged file
        raise damaged from None
    frames_claimed = max((shapes.get(k, (0,))[0] for k in ("x", "y", "visibility")
                          if len(shapes.get(k, ())) >= 1), default=0)
    if frames_claimed > max_frames():
        raise _too_many_frames(path.name, frames_claimed)
    if any(int(np.prod(sh, dtype=np.float64)) > 64 * max_frames() for sh in shapes.values()):
        raise KeypointsError(f"{path.name}: holds an array far larger than {max_frames()} frames of "
                             "joints: not a Penn Action label file")
    try:
        m = scipy.io.loadmat(str(path), variable_names=["x", "y", "visibility", "dimensions", "pose"])
    except Exception:
        raise damaged from None
    missing = [k for k in ("x", "y") if k not in m]
    if missing:
        raise KeypointsError(f"{path.name}: no {' or '.join(missing)} variable: not a Penn Action label file")
    try:
        x, y = np.asarray(m["x"], dtype=np.float64), np.asarray(m["y"], dtype=np.float64)
        vis = np.asarray(m.get("visibility", np.ones_like(x)), dtype=np.float64)
    except (TypeError, ValueError):
        raise KeypointsError(f"{path.name}: x, y and visibility must be arrays of numbers") from None
    if x.ndim != 2 or x.shape != y.shape or x.shape[1] != len(PENN_JOINTS) or len(x) == 0:
        raise KeypointsError(f"{path.name}: x and y must be frames x {len(PENN_JOINTS)} joints, "
                             f"not {x.shape} and {y.shape}")
    if vis.shape != x.shape:
        raise KeypointsError(f"{path.name}: visibility is {vis.shape}, x is {x.shape}")
    size = None
    try:
        dims = np.asarray(m.get("dimensions", []), dtype=np.float64).ravel()
    except (TypeError, ValueError):
        dims = np.array([])
    if dims.size >= 2 and np.isfinite(dims[:2]).all() and (0 < dims[:2]).all() and (dims[:2] < 1e5).all():
        h, w = (int(v) for v in dims[:2])
        size = (w, h)
    cols = list(PENN_COLUMNS)
    X, Y, V = x[:, cols], y[:, cols], vis[:, cols]
    unlabelled = ((X <= 1) & (Y <= 1)) | ~np.isfinite(X) | ~np.isfinite(Y) | (X < 0) | (Y < 0)
    if size is not None:
        unlabelled |= (X > size[0]) | (Y > size[1])
    kp = np.stack([X, Y], axis=-1)
    kp[unlabelled] = np.nan
    conf = np.where(unlabelled, 0.0, np.where(V > 0, 1.0, PENN_OCCLUDED_CONFIDENCE))
    frames = np.arange(len(X))
    s = _series(kp, conf, frames, None, fps, size, "penn-action labels", path.name)
    pose = m.get("pose")
    if pose is not None and np.asarray(pose).size:
        s.meta["labelled_view"] = str(np.asarray(pose).ravel()[0]).strip()
    return s


def _joint_index(value: str) -> int | None:
    """Our joint index for a joint name or COCO index; None for a joint we do not use."""
    v = value.strip()
    if v in JOINT_INDEX:
        return JOINT_INDEX[v]
    if v.lstrip("-").isdigit():
        i = int(v)
        if not 0 <= i < 17:
            raise ValueError(f"COCO keypoint index {i} is not 0..16")
        return COCO_INDICES.index(i) if i in COCO_INDICES else None
    return None


def read_csv(path: str | Path, fps: float | None = None) -> PoseSeries:
    """A CSV of joints per frame (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise KeypointsError(f"{path.name}: not a text file (expected a CSV with the columns "
                             f"{', '.join(CSV_COLUMNS)}, or a Penn Action .mat)") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if not header:
        raise KeypointsError(f"{path.name}: empty file")
    header = [h.strip().lower() for h in header]
    need = {"frame", "joint", "x", "y"}
    if not need <= set(header):
        raise KeypointsError(f"{path.name}: the header must name the columns frame, joint, x, y "
                             f"(and optionally time_s, confidence); it has {', '.join(header)}")
    col = {h: header.index(h) for h in CSV_COLUMNS if h in header}
    recs: dict[int, dict] = {}
    names_seen, used = set(), 0
    for line, row in enumerate(rows, 2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise KeypointsError(f"{path.name}, line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            frame = int(float(row[col["frame"]]))
            j = _joint_index(row[col["joint"]])
            names_seen.add(row[col["joint"]].strip())

            def num(key, default=np.nan):
                if key not in col or not row[col[key]].strip():
                    return default
                return float(row[col[key]])
            x, y = num("x"), num("y")
            c = num("confidence", 1.0)
            t = num("time_s")
        except ValueError as e:
            raise KeypointsError(f"{path.name}, line {line}: {e}") from None
        if frame < 0:
            raise KeypointsError(f"{path.name}, line {line}: frame {frame} is negative")
        if j is None:
            continue
        if frame not in recs and len(recs) >= max_frames():
            raise _too_many_frames(path.name, f"more than {max_frames()}")
        if not (0.0 <= c <= 1.0) and np.isfinite(c):
            raise KeypointsError(f"{path.name}, line {line}: confidence {c} is not in 0..1")
        r = recs.setdefault(frame, {"t": t, "kp": np.full((NUM_JOINTS, 2), np.nan), "c": np.zeros(NUM_JOINTS)})
        if np.isfinite(x) and np.isfinite(y):
            r["kp"][j] = (x, y)
            r["c"][j] = c if np.isfinite(c) else 0.0
        if np.isfinite(t):
            r["t"] = t
        used += 1
    if not used:
        raise KeypointsError(f"{path.name}: no rows for the hips, knees or ankles (joint names "
                             f"{', '.join(JOINTS)} or COCO indices 11..16); found "
                             f"{', '.join(sorted(names_seen)[:8]) or 'no rows'}")
    frames = np.array(sorted(recs))
    kp = np.stack([recs[f]["kp"] for f in frames])
    conf = np.stack([recs[f]["c"] for f in frames])
    t = np.array([recs[f]["t"] for f in frames], dtype=np.float64)
    times = None
    if np.isfinite(t).all():
        if np.any(np.diff(t) <= 0):
            raise KeypointsError(f"{path.name}: time_s must grow with frame")
        times = t
    elif np.isfinite(t).any():
        raise KeypointsError(f"{path.name}: time_s is given for some frames and not others")
    if fps is not None and times is not None:
        times = None  # --fps wins over the file's times
    return _series(kp, conf, frames, times, fps, None, "keypoints file", path.name)
