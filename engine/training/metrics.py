"""Accuracy metrics: PCK (the study's, made exact), mean pixel error and OKS AP.

PCK@a (the study's "within a x the image size", made exact): a joint is correct when its
distance to the ground truth, in original-image pixels, is at most ``a`` x the longer side of
the evaluation crop. The evaluation crop is the ground-truth person box enlarged
``BOX_PADDING`` = 1.25x about its centre, so the PCK@0.05 threshold is 0.0625 x the longer
side of the person box. Only joints labelled in the ground truth (v > 0) count; a distance
exactly on the threshold counts as correct.
"""
from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from engine.geometry import BOX_PADDING
from engine.joints import COCO_INDICES, JOINTS, NUM_JOINTS


def pck_thresholds(boxes_xywh: np.ndarray, alpha: float) -> np.ndarray:
    """(N,) PCK distance thresholds in image pixels: alpha x 1.25 x the box's longer side."""
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    return alpha * BOX_PADDING * np.maximum(b[:, 2], b[:, 3])


def pck(pred_xy: np.ndarray, gt_xy: np.ndarray, labeled: np.ndarray, boxes_xywh: np.ndarray,
        alpha: float = 0.05) -> dict:
    """PCK@alpha over N people: {'pck': overall fraction, 'per_joint': {name: fraction},
    'correct': (N, 6) bool, 'counted': number of labelled joints}.

    pred_xy, gt_xy: (N, 6, 2) image pixels; labeled: (N, 6) bool (ground truth v > 0).
    A missing prediction (NaN) counts as wrong.
    """
    pred = np.asarray(pred_xy, dtype=np.float64)
    gt = np.asarray(gt_xy, dtype=np.float64)
    lab = np.asarray(labeled, dtype=bool)
    dist = np.linalg.norm(pred - gt, axis=-1)
    thr = pck_thresholds(boxes_xywh, alpha)[:, None]
    correct = np.where(np.isfinite(dist), dist <= thr, False) & lab
    counted = int(lab.sum())
    per_joint = {}
    for j, name in enumerate(JOINTS):
        n = int(lab[:, j].sum())
        per_joint[name] = float(correct[:, j].sum() / n) if n else None
    return {"pck": float(correct.sum() / counted) if counted else None,
            "per_joint": per_joint, "correct": correct, "counted": counted}


def mean_pixel_error(pred_xy: np.ndarray, gt_xy: np.ndarray, labeled: np.ndarray) -> float | None:
    """Mean Euclidean error in image pixels over labelled joints (NaN predictions skipped)."""
    d = np.linalg.norm(np.asarray(pred_xy, float) - np.asarray(gt_xy, float), axis=-1)
    m = np.asarray(labeled, bool) & np.isfinite(d)
    return float(d[m].mean()) if m.any() else None


def lower_body_gt(dataset: dict) -> dict:
    """A copy of a COCO dataset whose person keypoints keep only the six lower-body joints
    (the other eleven set to unlabelled), so that COCOeval's OKS counts those alone."""
    out = {k: v for k, v in dataset.items() if k != "annotations"}
    anns = []
    for a in dataset["annotations"]:
        a = copy.deepcopy(a)
        if isinstance(a.get("keypoints"), list) and len(a["keypoints"]) == 51:
            k = a["keypoints"]
            a["keypoints"] = [v if (i // 3) in COCO_INDICES else 0 for i, v in enumerate(k)]
            a["num_keypoints"] = sum(1 for i in COCO_INDICES if a["keypoints"][3 * i + 2] > 0)
        anns.append(a)
    out["annotations"] = anns
    return out


def oks_ap(dataset: dict, results: list[dict], image_ids=None) -> dict:
    """OKS AP over the six joints with pycocotools' COCOeval.

    dataset: a COCO keypoints dict (ground truth); results: [{'image_id', 'ann_id',
    'keypoints': (6, 2) image pixels, 'scores': (6,), 'score': float}]. Returns
    {'ap', 'ap50', 'ap75'} (None when there is nothing to score). COCO's sigmas are used;
    since only the six joints are labelled in the GT copy, only they enter the OKS.
    ``image_ids``: the images scored (default: those with a result; give them all when some
    image's people may have no result at all, e.g. missed by a detector).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return {"ap": None, "ap50": None, "ap75": None}
    gt = COCO()
    gt.dataset = lower_body_gt(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    dets = []
    for r in results:
        kp = np.zeros((17, 3))
        xy = np.nan_to_num(np.asarray(r["keypoints"], float), nan=0.0)
        kp[list(COCO_INDICES), :2] = xy
        kp[list(COCO_INDICES), 2] = np.asarray(r["scores"], float)
        dets.append({"image_id": r["image_id"], "category_id": r.get("category_id", 1),
                     "keypoints": kp.reshape(-1).tolist(), "score": float(r["score"])})
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.imgIds = sorted(image_ids if image_ids is not None else {r["image_id"] for r in results})
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    clean = lambda v: None if v < 0 else float(v)  # noqa: E731  (COCOeval uses -1 for "none")
    return {"ap": clean(s[0]), "ap50": clean(s[1]), "ap75": clean(s[2])}


assert NUM_JOINTS == len(COCO_INDICES)
