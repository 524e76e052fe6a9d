"""A small BVH (Biovision Hierarchy) reader with forward kinematics over all frames at once.

Why not a PyPI package: ``bvhio`` (MIT, maintained) fits the format but pins ``pyglm==2.8.2``
and walks a Python object tree frame by frame; this reader is numpy only and computes every
joint's world position for all frames in one pass (4,592 frames x 31 joints in well under a
second). ``tests/test_lift3d.py`` checks it on the shared CMU trial.

Conventions (the BVH format): each joint's local transform is ``T(offset + position
channels) . R1 . R2 . R3`` with the rotations in the order their channels are listed, in
degrees; a joint's world position is ``parent_R . local_translation + parent_position``.
Lengths are in the file's units (CMU: ASF units, metres = units x ``CMU_UNIT_M``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: CMU ASF units to metres (CMU's FAQ: units x (1 / 0.45) x 2.54 / 100).
CMU_UNIT_M = (1.0 / 0.45) * 2.54 / 100.0

#: Our six joints (engine.joints.JOINTS order) in the CMU / cgspeed BVH skeleton. Not
#: ``LHipJoint``/``RHipJoint``: those sit at the pelvis centre (offset 0 0 0 from ``Hips``).
CMU_LOWER_BODY: tuple[str, ...] = ("LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg",
                                   "LeftFoot", "RightFoot")


class BVHError(ValueError):
    """A file that is not a BVH this reader understands; the message names file and place."""


@dataclass
class Motion:
    """A parsed BVH: the skeleton and its channel values per frame."""

    names: list[str]  # joint names in file order (End Sites excluded)
    parents: list[int]  # index of each joint's parent, -1 for the root
    offsets: np.ndarray  # (J, 3) rest offsets from the parent, file units
    channels: list[list[str]]  # per joint, its channel names in file order
    values: np.ndarray  # (F, C) channel values, all frames in the file
    frame_time: float  # seconds per frame, as the header says

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else 0.0

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise BVHError(f"no joint named {name!r} (joints: {', '.join(self.names)})") from None


def read_bvh(path: str | Path) -> Motion:
    """Parse a BVH file (the file is only read)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise BVHError(f"{path}: cannot read ({e.strerror or e})") from None
    head, sep, motion = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise BVHError(f"{path}: not a BVH file (no HIERARCHY ... MOTION sections)")
    tok = head.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    pending: int | None = None  # joint just named, before its '{'
    in_end = 0
    i = tok.index("HIERARCHY") + 1
    try:
        while i < len(tok):
            t = tok[i]
            if t in ("ROOT", "JOINT"):
                names.append(tok[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                pending = len(names) - 1
                i += 2
            elif t == "End":  # End Site { OFFSET x y z }: no channels, not a joint of ours
                in_end += 1
                pending = None
                i += 2
            elif t == "{":
                if pending is not None:
                    stack.append(pending)
                    pending = None
                elif in_end:
                    stack.append(-2)
                i += 1
            elif t == "}":
                top = stack.pop()
                if top == -2:
                    in_end -= 1
                i += 1
            elif t == "OFFSET":
                if not (stack and stack[-1] == -2):
                    offsets[stack[-1]] = [float(v) for v in tok[i + 1:i + 4]]
                i += 4
            elif t == "CHANNELS":
                n = int(tok[i + 1])
                channels[stack[-1]] = tok[i + 2:i + 2 + n]
                i += 2 + n
            else:
                raise BVHError(f"{path}: unexpected token {t!r} in HIERARCHY")
    except (IndexError, ValueError) as e:
        if isinstance(e, BVHError):
            raise
        raise BVHError(f"{path}: malformed HIERARCHY near token {i} ({e})") from None
    if not names or stack:
        raise BVHError(f"{path}: HIERARCHY has no joints or unbalanced braces")
    lines = motion.strip().splitlines()
    try:
        n_frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
        values = np.array([[float(v) for v in ln.split()] for ln in lines[2:2 + n_frames]
                           if ln.strip()], dtype=np.float64)
    except (IndexError, ValueError) as e:
        raise BVHError(f"{path}: malformed MOTION section ({e})") from None
    n_ch = sum(len(c) for c in channels)
    if values.ndim != 2 or len(values) != n_frames or values.shape[1] != n_ch:
        raise BVHError(f"{path}: MOTION has {values.shape} values, expected "
                       f"({n_frames}, {n_ch}) from the header and the channels")
    return Motion(names, parents, np.array(offsets), channels, values, frame_time)


def _axis_rotation(axis: str, deg: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotation matrices about ``axis`` ('X', 'Y' or 'Z') by ``deg`` degrees."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "Y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.stack([np.stack(r, axis=-1) for r in m], axis=-2)


def world_positions(motion: Motion, frames: slice | np.ndarray | None = None) -> np.ndarray:
    """(F, J, 3) world position of every joint in every (selected) frame, file units."""
    vals = motion.values if frames is None else motion.values[frames]
    n = len(vals)
    pos = np.zeros((n, len(motion.names), 3))
    rot = np.zeros((n, len(motion.names), 3, 3))
    col = 0
    for j, chans in enumerate(motion.channels):
        trans = np.broadcast_to(motion.offsets[j], (n, 3)).copy()
        r = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        for c, name in enumerate(chans):
            v = vals[:, col + c]
            if name.endswith("position"):
                trans[:, "XYZ".index(name[0])] += v
            elif name.endswith("rotation"):
                r = r @ _axis_rotation(name[0], v)
        col += len(chans)
        p = motion.parents[j]
        if p < 0:
            pos[:, j], rot[:, j] = trans, r
        else:  # parents come before children in a BVH
            pos[:, j] = np.einsum("fij,fj->fi", rot[:, p], trans) + pos[:, p]
            rot[:, j] = rot[:, p] @ r
    return pos


def lower_body(motion: Motion, joint_names: tuple[str, ...] = CMU_LOWER_BODY,
               unit_m: float = CMU_UNIT_M, drop_first: bool = True) -> np.ndarray:
    """(F, 6, 3) our six joints in metres, world frame of the file (CMU: Y up). ``drop_first``
    drops frame 0 (the cgspeed conversion's added T-pose)."""
    idx = [motion.index(n) for n in joint_names]
    frames = slice(1, None) if drop_first else None
    return world_positions(motion, frames)[:, idx] * unit_m
