"""Label audit: a teacher looks at every labelled person and flags labels that look wrong.

    python -m engine.audit ANN.json IMAGES --teacher mediapipe-heavy --out AUDITED.json [--json]

For every person annotation with at least one of the six lower-body joints labelled, the
teacher (BlazePose, static-image mode) runs on the person's crop: the box grown
``CROP_PADDING`` times about its centre, square, at ``CROP_SIZE`` pixels
(``engine.geometry.Crop``); its landmarks are mapped back to image pixels. ``--teacher
movenet_thunder`` (``engine.data.movenet_teacher``) runs MoveNet Thunder on the box grown
1.25x, square, at 256 pixels (how its held-out figures were measured); its visibility is its
score x the weights' ``confidence_scale``, clipped to 1, and it always answers. Distances are in
*person sizes*: 1.25 x the box's longer side, the unit of the project's PCK (PCK@0.05 counts a
joint within 0.05 of it). Per person, on the six joints of ``engine.joints``:

- ``swapped``: left and right look swapped. Over the left/right pairs labelled on both sides
  where the teacher is confident on both (visibility >= ``SWAP_MIN_SCORE``), the mean
  label-teacher distance with the pairs swapped is at least ``SWAP_MIN_GAIN`` person sizes
  smaller than as labelled (``swap_gain`` = that difference), and at most ``SWAP_RATIO`` of it.
- ``far_joint``: a labelled joint more than ``FAR_DIST`` person sizes from the teacher's where
  the teacher is confident (>= ``FAR_MIN_SCORE``). When ``swapped`` is flagged, joints are
  judged with the pairs swapped back (what would still be wrong after the fix).
- ``missed_joint``: a joint the label leaves out (v=0) that the teacher sees clearly
  (>= ``MISSED_MIN_SCORE``) inside the image.

Each audited annotation gets an ``audit`` object (the Review tab's contract)::

    {"flags": [subset of "swapped", "far_joint", "missed_joint"],
     "far_joints": [joint names], "missed_joints": [joint names],
     "swap_gain": float (person sizes; 0 when no pair could be compared),
     "teacher_keypoints": [51 numbers: COCO 17 x (x, y, v), image pixels; v=2 confident
                           (>= pseudolabel.VISIBLE), 1 low confidence (>= pseudolabel.ABSENT),
                           0 not found (and x = y = 0)],
     "teacher_scores": [17 floats: the teacher's visibility per COCO keypoint]}

and a person the teacher cannot judge ``{"flags": ["skipped"], "reason": "..."}`` (teacher found
nobody in the crop; its joints far from every label, ``OTHER_PERSON``: another person; none of
the six joints labelled; a crowd annotation). The file keeps everything of the input and adds
``audit_info`` at the top: teacher, thresholds, date. The teacher's landmarks are appended to
``AUDITED.json.teacher.jsonl`` as they come: a stopped run resumes where it stopped, and a rerun
(other thresholds) judges again in seconds without running the teacher (``--restart`` throws
them away). The output is written atomically at the end; the input is never modified.
"""
from __future__ import annotations

import argparse
import copy
import fcntl
import datetime as _dt
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.argtypes import positive_int
from engine.fileio import atomic_path, write_json
from engine.geometry import BOX_PADDING, Crop
from engine.joints import COCO_INDICES, FLIP_INDEX, JOINTS, NUM_JOINTS
from engine.video.blazepose_models import ModelMissing, teacher_complexity, teacher_description
from . import coco as cocolib
from .pseudolabel import ABSENT, BLAZEPOSE_TO_COCO, MOVENET, TEACHER_CHOICES, VISIBLE, coco_visibility

#: Teacher confidence (BlazePose visibility) from which its joint is used in the swap test.
SWAP_MIN_SCORE = 0.5
#: Swap flagged when swapping the pairs brings the labels at least this much closer to the
#: teacher (mean distance, person sizes) ...
SWAP_MIN_GAIN = 0.05
#: ... and the swapped distance is at most this fraction of the distance as labelled.
SWAP_RATIO = 0.5
#: A labelled joint is far when more than this many person sizes from the teacher's (three
#: times PCK@0.05's radius) ... Set after drawing the first LSP people: at 0.1, hips were
#: flagged where the label and the teacher both sat on a plausible hip (LSP's and BlazePose's
#: hips disagree by 0.046 person sizes at the median, knees and ankles by 0.025).
FAR_DIST = 0.15
#: ... where the teacher is confident (this is ``pseudolabel.VISIBLE``: its v=2).
FAR_MIN_SCORE = VISIBLE
#: An unlabelled joint is missed when the teacher's visibility is at least this (inside the image).
MISSED_MIN_SCORE = 0.9
#: Skipped (another person / a failed detection) when the teacher's confident joints lie on
#: average more than this many person sizes from the labels, as labelled and swapped alike.
OTHER_PERSON = 0.5
#: The crop the teacher sees: the box grown this much about its centre, square, this many pixels.
#: BlazePose's person detector needs context around the person: on 20 LSP people it found
#: nobody in with the training crop's 1.25, it found 16 at 2.0 (12 at 1.6, 18 on the whole image).
#: 384 pixels keep an LSP person (about 150 px tall) near its own resolution.
CROP_PADDING = 2.0
CROP_SIZE = 384
KINDS = ("swapped", "far_joint", "missed_joint")
THRESHOLDS = {"swap_min_score": SWAP_MIN_SCORE, "swap_min_gain": SWAP_MIN_GAIN, "swap_ratio": SWAP_RATIO,
              "far_dist": FAR_DIST, "far_min_score": FAR_MIN_SCORE, "missed_min_score": MISSED_MIN_SCORE,
              "other_person": OTHER_PERSON, "crop_padding": CROP_PADDING, "crop_size": CROP_SIZE,
              "teacher_visible": VISIBLE, "teacher_absent": ABSENT,
              "unit": "person size = 1.25 x the box's longer side (the PCK unit)"}


class AuditBusy(RuntimeError):
    """Another audit process is writing the same teacher cache."""


def person_size(bbox) -> float:
    """The distance unit: 1.25 x the box's longer side (PCK@alpha's radius is alpha of it)."""
    return BOX_PADDING * max(float(bbox[2]), float(bbox[3]), 1.0)


def to_coco17(lm: np.ndarray) -> np.ndarray:
    """A teacher's landmarks -> COCO's 17 (17, 3): BlazePose's 33 mapped by
    ``BLAZEPOSE_TO_COCO``; MoveNet's 17 are COCO's already."""
    lm = np.asarray(lm, dtype=np.float64)
    return lm[list(BLAZEPOSE_TO_COCO)] if len(lm) == 33 else lm


def teacher_coco(lm: np.ndarray, image_size: tuple[int, int]) -> tuple[list, list]:
    """A teacher's landmarks (BlazePose 33 or MoveNet 17, x, y, visibility) in image pixels ->
    (teacher_keypoints 51, teacher_scores 17)."""
    lm = to_coco17(lm)
    xy = lm[:, :2]
    sc = np.clip(lm[:, 2], 0.0, 1.0)
    v = coco_visibility(xy, sc, image_size)
    kps = np.zeros((17, 3))
    kps[:, :2] = np.where(v[:, None] > 0, xy, 0.0)
    kps[:, 2] = v
    return ([round(float(k), 2) for k in kps.reshape(-1)], [round(float(s), 4) for s in sc])


def judge(label_xy: np.ndarray, label_v: np.ndarray, teacher_xy: np.ndarray, teacher_score: np.ndarray,
          bbox, image_size: tuple[int, int]) -> dict:
    """The audit of one person from its six labelled joints (6, 2) / (6,) and the teacher's
    six (6, 2) / (6,), all in image pixels. Returns the ``audit`` object minus the teacher's
    keypoints (or a skipped one)."""
    unit = person_size(bbox)
    lab = label_v > 0
    d_direct = np.linalg.norm(label_xy - teacher_xy, axis=1) / unit
    d_swap = np.linalg.norm(label_xy[list(FLIP_INDEX)] - teacher_xy, axis=1) / unit
    # the labels for teacher joint j with the pairs swapped are label[FLIP_INDEX[j]]
    lab_swap = lab[list(FLIP_INDEX)]
    sure = teacher_score >= SWAP_MIN_SCORE
    pair = lab & lab_swap & sure & sure[list(FLIP_INDEX)]
    conf = lab & (teacher_score >= FAR_MIN_SCORE)
    if conf.any():
        mean_direct = float(d_direct[conf].mean())
        mean_swap = float(d_swap[conf & lab_swap].mean()) if (conf & lab_swap).any() else np.inf
        if min(mean_direct, mean_swap) > OTHER_PERSON:
            return {"flags": ["skipped"],
                    "reason": f"the teacher's joints lie {min(mean_direct, mean_swap):.2f} person sizes "
                              f"from the labels on average (over {OTHER_PERSON}): another person "
                              "or a failed detection"}
    gain, swapped = 0.0, False
    if pair.any():
        direct, swap = float(d_direct[pair].mean()), float(d_swap[pair].mean())
        gain = direct - swap
        swapped = gain >= SWAP_MIN_GAIN and swap <= SWAP_RATIO * direct
    d = d_swap if swapped else d_direct
    judged_lab = lab_swap if swapped else lab
    far = [JOINTS[j] for j in range(NUM_JOINTS) if judged_lab[j] and teacher_score[j] >= FAR_MIN_SCORE
           and d[j] > FAR_DIST]
    w, h = image_size
    inside = ((teacher_xy[:, 0] >= 0) & (teacher_xy[:, 0] <= w - 1)
              & (teacher_xy[:, 1] >= 0) & (teacher_xy[:, 1] <= h - 1))
    missed = [JOINTS[j] for j in range(NUM_JOINTS)
              if not lab[j] and teacher_score[j] >= MISSED_MIN_SCORE and inside[j]]
    flags = [k for k, on in zip(KINDS, (swapped, bool(far), bool(missed))) if on]
    return {"flags": flags, "far_joints": far, "missed_joints": missed, "swap_gain": round(gain, 4)}


def apply_swap_fix(ann: dict, by: str) -> dict:
    """A copy of ``ann`` with every left/right pair exchanged (``coco.swap_annotation``, as
    the Review tab's export does; its ``keypoint_scores`` too) and the fix recorded in its ``audit``
    (``"fixed": [{"kind": "swapped", "by": by}]``); ``ann`` itself is not changed. Applying
    it twice gives the labels back with two fixes recorded."""
    fixed = copy.deepcopy(ann)
    cocolib.swap_annotation(fixed)
    audit_field = fixed.setdefault("audit", {})
    audit_field.setdefault("fixed", []).append({"kind": "swapped", "by": by})
    return fixed


def apply_fixes(data: dict, kinds: tuple[str, ...] = ("swapped",), by: str = "engine.audit") -> tuple[dict, int]:
    """A copy of an audited COCO file with the audit's fixes of ``kinds`` applied (only
    ``swapped`` has an automatic fix: swap the left/right pairs), and how many people were fixed."""
    unknown = set(kinds) - {"swapped"}
    if unknown:
        raise ValueError(f"no automatic fix for {sorted(unknown)}: only 'swapped' is fixed automatically")
    out = dict(data)
    anns, n = [], 0
    for a in data["annotations"]:
        if "swapped" in kinds and "swapped" in a.get("audit", {}).get("flags", []):
            a = apply_swap_fix(a, by)
            n += 1
        anns.append(a)
    out["annotations"] = anns
    return out, n


def crop_for(bbox) -> Crop:
    """The square crop the teacher sees for a person box."""
    x, y, w, h = (float(v) for v in bbox)
    s = max(w, h, 1.0)
    return Crop.from_box((x + w / 2 - s / 2, y + h / 2 - s / 2, s, s), (CROP_SIZE, CROP_SIZE),
                         padding=CROP_PADDING)


def run_teacher(teacher, image: np.ndarray, bbox) -> np.ndarray | None:
    """The teacher's landmarks (x, y, visibility) in image pixels on the person's crop, or
    None when it finds nobody: BlazePose's 33 on ``crop_for``'s crop; MoveNet's COCO 17
    (``MoveNetTeacher.keypoints_in_box``: the box grown 1.25x, square, 256 pixels; it always
    answers)."""
    if hasattr(teacher, "keypoints_in_box"):
        return teacher.keypoints_in_box(image, bbox)
    crop = crop_for(bbox)
    lm = teacher.landmarks(crop.warp(image))
    if lm is None:
        return None
    lm = lm.copy()
    lm[:, :2] = crop.to_image(lm[:, :2])
    return lm


def needs_teacher(ann: dict) -> str | None:
    """Why an annotation is not shown to the teacher (None: it is)."""
    if ann.get("iscrowd"):
        return "a crowd annotation"
    k = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)[list(COCO_INDICES)]
    if not (k[:, 2] > 0).any():
        return "none of the six lower-body joints labelled"
    return None


def audit_annotation(ann: dict, lm: np.ndarray | None, image_size: tuple[int, int]) -> dict:
    """The ``audit`` object of one annotation from the teacher's landmarks (image pixels)."""
    reason = needs_teacher(ann)
    if reason:
        return {"flags": ["skipped"], "reason": reason}
    if lm is None:
        return {"flags": ["skipped"], "reason": "the teacher found nobody in the crop"}
    k = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)[list(COCO_INDICES)]
    kps, scores = teacher_coco(lm, image_size)
    six = to_coco17(lm)[list(COCO_INDICES)]
    result = judge(k[:, :2], k[:, 2], six[:, :2], np.clip(six[:, 2], 0, 1), ann["bbox"], image_size)
    if result["flags"] != ["skipped"]:
        result["teacher_keypoints"], result["teacher_scores"] = kps, scores
    return result


def cache_path(out: Path) -> Path:
    """Where the teacher's landmarks are kept as they come (resume, re-judge)."""
    return out.with_name(out.name + ".teacher.jsonl")


def _load_cache(path: Path, header: dict) -> dict[int, dict]:
    """Landmarks of an earlier (perhaps stopped) run of the same teacher on the same crops."""
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    try:
        if not lines or json.loads(lines[0]) != header:
            return {}
    except json.JSONDecodeError:
        return {}
    done = {}
    for line in lines[1:]:
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # the last line of a killed run may be cut short
            continue
        done[int(r["id"])] = r
    return done


def summarize(data: dict) -> dict:
    """The audit's figures: people checked, flagged per kind, skipped per reason."""
    s = {"people": 0, "checked": 0, "flagged": dict.fromkeys(KINDS, 0), "any_flag": 0,
         "skipped": 0, "skipped_reasons": {}, "not_audited": 0,
         "far_per_joint": dict.fromkeys(JOINTS, 0), "missed_per_joint": dict.fromkeys(JOINTS, 0)}
    person_ids = cocolib.person_category_ids(data)
    for a in data["annotations"]:
        if a["category_id"] not in person_ids:
            continue
        s["people"] += 1
        au = a.get("audit")
        if au is None:
            s["not_audited"] += 1
            continue
        if au["flags"] == ["skipped"]:
            s["skipped"] += 1
            reason = au["reason"].split(" (")[0] if "person sizes" not in au["reason"] else \
                "the teacher's joints far from every label"
            s["skipped_reasons"][reason] = s["skipped_reasons"].get(reason, 0) + 1
            continue
        s["checked"] += 1
        for k in au["flags"]:
            s["flagged"][k] += 1
        s["any_flag"] += bool(au["flags"])
        for n in au["far_joints"]:
            s["far_per_joint"][n] += 1
        for n in au["missed_joints"]:
            s["missed_per_joint"][n] += 1
    return s


def audit(ann: str | Path, images: str | Path, out: str | Path, teacher: str = "mediapipe-heavy",
          limit: int | None = None, restart: bool = False, progress: bool = True,
          cache: str | Path | None = None) -> dict:
    """Audit a COCO file; write the audited copy to ``out``; return the summary. ``cache``: the
    teacher's landmarks file (default ``OUT.teacher.jsonl``)."""
    from engine.data.dataset import read_image
    from engine.video.mediapipe_pose import MediaPipePose

    if teacher not in TEACHER_CHOICES:
        raise ValueError(f"unknown teacher {teacher!r}; choose from {', '.join(TEACHER_CHOICES)}")
    mn = None
    if teacher == MOVENET:  # a missing weights file is refused before anything is written
        from .movenet_teacher import MoveNetTeacher
        mn = MoveNetTeacher(detector=False)
        description = mn.description
        crop_padding, crop_size = BOX_PADDING, mn.input_size[0]
    else:
        complexity = teacher_complexity(teacher)
        description = f"{teacher}: {teacher_description(complexity)}"
        crop_padding, crop_size = CROP_PADDING, CROP_SIZE
    out = Path(out)
    data = cocolib.read_json(ann)
    cocolib.load(ann, images, data=data)  # validates: person category, keypoints, images exist
    person_ids = cocolib.person_category_ids(data)
    todo = [a for a in data["annotations"] if a["category_id"] in person_ids]
    if limit is not None:
        todo = todo[:limit]
    info = {"teacher": description,
            "thresholds": {**THRESHOLDS, "crop_padding": crop_padding, "crop_size": crop_size}}
    cache = Path(cache) if cache is not None else cache_path(out)
    header = {"input": str(Path(ann).resolve()), "teacher": info["teacher"],
              "crop_padding": crop_padding, "crop_size": crop_size}
    done = {} if restart else _load_cache(cache, header)
    images_by_id = {im["id"]: im for im in data["images"]}
    left = [a for a in todo if int(a["id"]) not in done and needs_teacher(a) is None]
    if left:
        left.sort(key=lambda a: (a["image_id"], a["id"]))  # each image read once
        if mn is not None:
            mp_pose = mn
        else:
            mp_pose = MediaPipePose.for_teacher(teacher, static_image_mode=True)
            mp_pose.open()  # refuses a missing model before anything is written
        cache.parent.mkdir(parents=True, exist_ok=True)
        if not done:
            with atomic_path(cache) as tmp:
                tmp.write_text(json.dumps(header) + "\n", encoding="utf-8")
        try:
            with open(cache, "a", encoding="utf-8") as f:
                try:  # one writer per cache: a second run on it would duplicate the work
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise AuditBusy(f"{cache}: another audit is writing it (wait for it, or give --cache)") from None
                image_id, image = None, None
                for a in tqdm(left, desc=f"audit ({teacher})", disable=not progress, unit="person",
                              dynamic_ncols=True):
                    if a["image_id"] != image_id:
                        image_id = a["image_id"]
                        image = read_image(Path(images) / images_by_id[image_id]["file_name"])
                    lm = run_teacher(mp_pose, image, a["bbox"])
                    r = {"id": int(a["id"]), "size": [image.shape[1], image.shape[0]],
                         "landmarks": None if lm is None else np.round(lm, 3).tolist()}
                    done[r["id"]] = r
                    f.write(json.dumps(r) + "\n")
                    f.flush()
        finally:
            if mn is None:
                mp_pose.close()
    result = copy.deepcopy(data)
    chosen = {int(a["id"]) for a in todo}
    for a in result["annotations"]:
        if int(a["id"]) not in chosen:
            continue
        r = done.get(int(a["id"]))
        im = images_by_id[a["image_id"]]
        size = tuple(r["size"]) if r else (int(im.get("width", 0)), int(im.get("height", 0)))
        lm = None if r is None or r["landmarks"] is None else np.asarray(r["landmarks"], dtype=np.float64)
        a["audit"] = audit_annotation(a, lm, size)
    result["audit_info"] = {**info, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                            "input": str(ann), "people_audited": len(chosen)}
    write_json(out, result, indent=None)
    s = summarize(result)
    s["out"] = str(out)
    s["teacher"] = info["teacher"]
    return s


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.audit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ann", metavar="ANN.json", help="COCO person-keypoints file (never modified)")
    p.add_argument("images", metavar="IMAGES", help="folder holding the images the file names")
    p.add_argument("--teacher", default="mediapipe-heavy", choices=list(TEACHER_CHOICES),
                   help="the model that checks the labels (default mediapipe-heavy; movenet_thunder: "
                        "the shipped MoveNet Thunder on the person's box grown 1.25x, 256 pixels)")
    p.add_argument("--out", required=True, metavar="AUDITED.json", help="the audited copy to write")
    p.add_argument("--limit", type=positive_int, help="audit only the first N person annotations "
                                             "(the others are copied without an 'audit')")
    p.add_argument("--restart", action="store_true", help="ignore the teacher's landmarks of an earlier run")
    p.add_argument("--cache", metavar="FILE.jsonl",
                   help="the teacher's landmarks, kept as they come (default AUDITED.json.teacher.jsonl)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def format_summary(s: dict) -> str:
    lines = [f"people {s['people']}: checked {s['checked']}, skipped {s['skipped']}"
             + (f", not audited {s['not_audited']}" if s["not_audited"] else "")]
    lines += [f"  {k:<14}{v:>7}" for k, v in s["flagged"].items()]
    lines.append(f"  {'any flag':<14}{s['any_flag']:>7}")
    lines += [f"  skipped: {r}: {n}" for r, n in s["skipped_reasons"].items()]
    lines.append(f"wrote {s['out']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from engine.models.weights import WeightsError
    from engine.video.detect import DetectorError
    try:
        s = audit(args.ann, args.images, args.out, args.teacher, args.limit, args.restart,
                  progress=not args.quiet, cache=args.cache)
    except (cocolib.CocoFormatError, ModelMissing, ImportError, FileNotFoundError, AuditBusy,
            WeightsError, DetectorError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(s) if args.json else format_summary(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
