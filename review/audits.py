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


#: The keys an ``audit`` object may have (what ``engine.data.audit`` and the Review tab's
#: export write); any other key is refused, as are values of the wrong type or out of range.
AUDIT_KEYS = {"flags", "far_joints", "missed_joints", "swap_gain", "teacher_keypoints", "teacher_scores",
              "fixed", "review_fix"}
SKIPPED_KEYS = {"flags", "reason", "fixed", "review_fix"}
REVIEW_FIX_KEYS = {"swapped_left_right": bool, "joints_placed": list, "note": str, "source_sha256": str}
#: Largest |swap_gain| accepted (a difference of mean distances in person sizes).
MAX_SWAP_GAIN = 1000.0


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _numbers(value, n: int, what: str, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != n or not all(_num(x) for x in value):
        raise CocoFormatError(f"{where}: audit '{what}' must be {n} finite numbers")
    return np.asarray(value, dtype=np.float64)


def _joint_names(value, what: str, where: str) -> tuple[str, ...]:
    if (not isinstance(value, list) or not all(isinstance(x, str) and x in JOINTS for x in value)
            or len(set(value)) != len(value)):
        raise CocoFormatError(f"{where}: audit '{what}' must list joint names (each once) from "
                              f"{', '.join(JOINTS)}")
    return tuple(value)


def _check_extras(au: dict, where: str) -> None:
    """The keys a later step adds: ``fixed`` (``engine.audit --fix``) and ``review_fix`` (the
    Review tab's export)."""
    fixed = au.get("fixed", [])
    if not isinstance(fixed, list) or not all(
            isinstance(f, dict) and set(f) == {"kind", "by"} and all(isinstance(v, str) for v in f.values())
            for f in fixed):
        raise CocoFormatError(f"{where}: audit 'fixed' must be a list of {{\"kind\": ..., \"by\": ...}} texts")
    rf = au.get("review_fix")
    if rf is not None:
        if not isinstance(rf, dict) or set(rf) - set(REVIEW_FIX_KEYS) or not all(
                isinstance(rf[k], REVIEW_FIX_KEYS[k]) for k in rf):
            raise CocoFormatError(f"{where}: audit 'review_fix' must be an object with "
                                  f"{', '.join(REVIEW_FIX_KEYS)} (as the Review tab's export writes it)")
        _joint_names(rf.get("joints_placed", []), "review_fix.joints_placed", where)


def parse_audit(au, where: str, image_size: tuple[int, int] | None = None) -> PersonAudit:
    """One ``audit`` object -> PersonAudit, checked strictly: known keys only (``AUDIT_KEYS``;
    a skipped one ``SKIPPED_KEYS``), each of its type, the teacher's joints finite and within
    an image size of the image (``image_size`` (w, h); else ``engine.data.schema.MAX_SIDE``),
    their flags exactly 0, 1 or 2, scores in [0, 1]. CocoFormatError naming ``where`` and the
    problem otherwise."""
    from engine.data.schema import MARGIN, MAX_SIDE
    if not isinstance(au, dict) or not isinstance(au.get("flags"), list):
        raise CocoFormatError(f"{where}: 'audit' must be an object with a 'flags' list "
                              "(as python -m engine.audit writes it)")
    flags = au["flags"]
    allowed = SKIPPED_KEYS if flags == [SKIPPED] else AUDIT_KEYS
    unknown = sorted(str(k) for k in au if k not in allowed)
    if unknown:
        shown = ", ".join(repr(k[:30]) for k in unknown[:5])
        raise CocoFormatError(f"{where}: audit has unknown field(s) {shown}; an audit has "
                              f"{', '.join(sorted(allowed))}")
    _check_extras(au, where)
    if flags == [SKIPPED]:
        reason = au.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 1000:
            raise CocoFormatError(f"{where}: audit 'reason' must be a text of at most 1000 characters")
        return PersonAudit((SKIPPED,), reason=reason)
    if not all(isinstance(f, str) and f in KINDS for f in flags) or len(set(flags)) != len(flags):
        raise CocoFormatError(f"{where}: unknown audit flag in {str(flags)[:80]}; flags are "
                              f"{', '.join(KINDS)} (each once) or ['{SKIPPED}'] alone")
    kps = _numbers(au.get("teacher_keypoints"), 51, "teacher_keypoints", where).reshape(17, 3)
    scores = _numbers(au.get("teacher_scores"), 17, "teacher_scores", where)
    if not set(kps[:, 2].tolist()) <= {0.0, 1.0, 2.0}:
        raise CocoFormatError(f"{where}: audit 'teacher_keypoints' flags must be exactly 0, 1 or 2")
    w, h = image_size or (MAX_SIDE, MAX_SIDE)
    xy = kps[:, :2]
    if ((xy < -MARGIN * np.array([w, h])) | (xy > (1 + MARGIN) * np.array([w, h]))).any():
        raise CocoFormatError(f"{where}: audit 'teacher_keypoints' lie far outside the {w}x{h} image")
    if ((scores < 0) | (scores > 1)).any():
        raise CocoFormatError(f"{where}: audit 'teacher_scores' must lie between 0 and 1")
    gain = au.get("swap_gain", 0.0)
    if not _num(gain) or abs(gain) > MAX_SWAP_GAIN:
        raise CocoFormatError(f"{where}: audit 'swap_gain' must be a finite number from "
                              f"-{MAX_SWAP_GAIN:g} to {MAX_SWAP_GAIN:g}")
    six = list(COCO_INDICES)
    return PersonAudit(tuple(flags), _joint_names(au.get("far_joints", []), "far_joints", where),
                       _joint_names(au.get("missed_joints", []), "missed_joints", where),
                       float(gain), kps[six, :2].copy(), kps[six, 2].astype(np.int64), scores[six].copy())


def read_audits(data: dict, path: str | Path) -> dict[int, PersonAudit]:
    """{annotation id: PersonAudit} of the person annotations of a loaded COCO dict that carry
    an ``audit`` (empty for a file that was never audited); each checked by ``parse_audit``
    against its image's size."""
    person_ids = person_category_ids(data)
    sizes = {im.get("id"): (im["width"], im["height"]) for im in data.get("images", [])
             if isinstance(im, dict) and "width" in im and "height" in im}
    out = {}
    for a in data.get("annotations", []):
        if a.get("category_id") in person_ids and "audit" in a:
            out[int(a["id"])] = parse_audit(a["audit"], f"{Path(path).name}: annotation {a['id']}",
                                            sizes.get(a.get("image_id")))
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
