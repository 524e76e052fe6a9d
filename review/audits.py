"""The label audit's findings as the Review tab reads them (no Gradio).

``python -m engine.audit`` (``engine.data.audit``) writes an ``audit`` object on each audited
annotation: ``{"flags": [...], "far_joints": [...], "missed_joints": [...], "swap_gain": g,
"teacher_keypoints": [51], "teacher_scores": [17]}``, or ``{"flags": ["skipped"], "reason": ...}``.
This module checks and reads them (a malformed one is refused in words naming the
annotation), filters people by them, and says them in words. The teacher's joints are kept in
original-image pixels, in ``engine.joints.JOINTS`` order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data.audit import KINDS
from engine.data.coco import CocoFormatError, person_category_ids
from engine.joints import COCO_INDICES, JOINTS

SKIPPED = "skipped"

#: The Review tab's audit filter: key -> what it shows.
AUDIT_FILTERS: dict[str, str] = {
    "all": "Everyone (no audit filter)",
    "any": "Any audit flag (swapped, far or missed joint)",
    "swapped": "Left and right look swapped",
    "far_joint": "A joint far from the teacher's",
    "missed_joint": "A joint the teacher sees that the label leaves out",
    "skipped": "Skipped by the audit (teacher could not judge)",
    "none": "Audited, nothing flagged",
    "not_audited": "Not audited",
}


@dataclass(frozen=True)
class PersonAudit:
    """One annotation's audit. ``teacher_xy`` (6, 2) image pixels, ``teacher_v`` (6,) COCO
    flags (2 confident, 1 low confidence, 0 not found), ``teacher_scores`` (6,) in [0, 1];
    all None for a skipped person."""

    flags: tuple[str, ...]
    far_joints: tuple[str, ...] = ()
    missed_joints: tuple[str, ...] = ()
    swap_gain: float | None = None
    teacher_xy: np.ndarray | None = None
    teacher_v: np.ndarray | None = None
    teacher_scores: np.ndarray | None = None
    reason: str = ""

    @property
    def skipped(self) -> bool:
        return SKIPPED in self.flags

    @property
    def flagged(self) -> bool:
        """Any finding a reviewer should look at (swapped, far or missed joint)."""
        return any(k in self.flags for k in KINDS)

    @property
    def teacher(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(xy (6, 2), v (6,)) for drawing, or None."""
        return None if self.teacher_xy is None else (self.teacher_xy, self.teacher_v)


def _numbers(value, n: int, what: str, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != n or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise CocoFormatError(f"{where}: audit '{what}' must be {n} finite numbers")
    return np.asarray(value, dtype=np.float64)


def _joint_names(value, what: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x in JOINTS for x in value):
        raise CocoFormatError(f"{where}: audit '{what}' must list joint names from {', '.join(JOINTS)}")
    return tuple(value)


def parse_audit(au, where: str) -> PersonAudit:
    """One ``audit`` object -> PersonAudit; CocoFormatError naming ``where`` when malformed."""
    if not isinstance(au, dict) or not isinstance(au.get("flags"), list):
        raise CocoFormatError(f"{where}: 'audit' must be an object with a 'flags' list "
                              "(as python -m engine.audit writes it)")
    flags = au["flags"]
    if flags == [SKIPPED]:
        return PersonAudit((SKIPPED,), reason=str(au.get("reason", "")))
    if not all(f in KINDS for f in flags):
        raise CocoFormatError(f"{where}: unknown audit flag in {flags!r}; flags are "
                              f"{', '.join(KINDS)} or ['{SKIPPED}'] alone")
    kps = _numbers(au.get("teacher_keypoints"), 51, "teacher_keypoints", where).reshape(17, 3)
    scores = _numbers(au.get("teacher_scores"), 17, "teacher_scores", where)
    six = list(COCO_INDICES)
    v = kps[six, 2].astype(np.int64)
    if not set(v.tolist()) <= {0, 1, 2}:
        raise CocoFormatError(f"{where}: audit 'teacher_keypoints' flags must be 0, 1 or 2")
    gain = au.get("swap_gain", 0.0)
    if not isinstance(gain, (int, float)) or isinstance(gain, bool) or not math.isfinite(gain):
        raise CocoFormatError(f"{where}: audit 'swap_gain' must be a finite number")
    return PersonAudit(tuple(flags), _joint_names(au.get("far_joints", []), "far_joints", where),
                       _joint_names(au.get("missed_joints", []), "missed_joints", where),
                       float(gain), kps[six, :2].copy(), v, scores[six].copy())


def read_audits(data: dict, path: str | Path) -> dict[int, PersonAudit]:
    """{annotation id: PersonAudit} of the person annotations of a loaded COCO dict that carry
    an ``audit`` (empty for a file that was never audited)."""
    person_ids = person_category_ids(data)
    out = {}
    for a in data.get("annotations", []):
        if a.get("category_id") in person_ids and "audit" in a:
            out[int(a["id"])] = parse_audit(a["audit"], f"{Path(path).name}: annotation {a['id']}")
    return out


def matches(audit: PersonAudit | None, name: str) -> bool:
    """Whether a person with this audit (None: not audited) passes the audit filter ``name``."""
    if name not in AUDIT_FILTERS:
        raise ValueError(f"unknown audit filter {name!r}; choose from {', '.join(AUDIT_FILTERS)}")
    if name == "all":
        return True
    if name == "not_audited":
        return audit is None
    if audit is None:
        return False
    if name == "any":
        return audit.flagged
    if name == "none":
        return not audit.flags
    return name in audit.flags


def counts(audits: dict[int, PersonAudit], ann_ids) -> dict:
    """How many of the people ``ann_ids`` each audit filter shows (``all`` = len(ann_ids))."""
    ids = list(ann_ids)
    return {name: sum(matches(audits.get(i), name) for i in ids) for name in AUDIT_FILTERS}


def describe(audit: PersonAudit | None) -> list[str]:
    """Markdown lines saying what the audit found on one person (none when not audited)."""
    if audit is None:
        return []
    if audit.skipped:
        return [f"audit: **skipped** ({audit.reason or 'no reason given'})"]
    if not audit.flags:
        line = "audit: nothing flagged (the teacher agrees with the labels)"
    else:
        line = "audit: **" + ", ".join(f.replace("_", " ") for f in audit.flags) + "**"
    out = [line]
    if "swapped" in audit.flags:
        out.append(f"left/right look swapped: swapping the pairs brings the labels "
                   f"{audit.swap_gain:.2f} person sizes closer to the teacher — **Swap left/right** fixes it")
    elif audit.swap_gain is not None:
        out.append(f"swap gain {audit.swap_gain:+.2f} person sizes (a swap would not help)")
    if audit.far_joints:
        out.append("far from the teacher's: " + ", ".join(audit.far_joints))
    if audit.missed_joints:
        out.append("teacher sees, label leaves out: " + ", ".join(audit.missed_joints))
    return out


def caption(audit: PersonAudit | None) -> str:
    """A short tag for a gallery caption ('' when nothing to say)."""
    if audit is None or not audit.flags:
        return ""
    short = {"swapped": "swap?", "far_joint": "far", "missed_joint": "missed", SKIPPED: "skipped"}
    return " · " + "/".join(short[f] for f in audit.flags)
