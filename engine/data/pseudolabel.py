"""Pseudo-labels: turn videos of people into a COCO keypoints training set with a teacher.

    python -m engine.pseudolabel VIDEOS_OR_DIRS... --teacher mediapipe-heavy --out DIR [--stride K]

Teachers: ``mediapipe`` (BlazePose GHUM full, inside the mediapipe wheel; the default),
``mediapipe-heavy`` (BlazePose heavy: clearly better, a third of the speed; install it once with
``python -m engine.teacher install``, else it is refused with a message saying so),
``mediapipe-lite``; ``movenet_thunder`` (MoveNet Thunder on the person detector's athlete,
``engine.data.movenet_teacher``; ``--teacher-weights`` for fine-tuned weights; no masks).

Writes ``DIR/images/*.jpg`` and ``DIR/annotations.json`` (COCO person keypoints, all 17 COCO
joints: mapped from BlazePose's 33 landmarks, or MoveNet's own 17). Boxes come from the
teacher's keypoints; a joint is ``v=2`` when the teacher is confident (visibility >=
``VISIBLE``), ``v=1`` when it is unsure (>= ``ABSENT``), ``v=0`` below that or outside the
frame (MoveNet's visibility: its score x its ``confidence_scale``, clipped to 1); the
teacher's confidences are kept in each annotation's extra field ``keypoint_scores``. Unless
``--no-masks``, each person's ``segmentation`` is the BlazePose teacher's person mask as COCO
compressed RLE (training pastes people along it onto other backgrounds, ``--paste``). Every image
records its ``video`` and ``frame`` so that splits can leave whole clips out. Frames where
the pose barely moved since the last kept frame are skipped as near-duplicates.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engine.argtypes import positive_float, positive_int
from engine.fileio import atomic_path, write_json
from engine.joints import COCO_KEYPOINT_NAMES
from engine.video.blazepose_models import TEACHERS

#: The MoveNet teacher's name (``engine.data.movenet_teacher``).
MOVENET = "movenet_thunder"
#: Every ``--teacher`` name: the BlazePose models, then MoveNet Thunder.
TEACHER_CHOICES = (*TEACHERS, MOVENET)

#: BlazePose landmark index for each of COCO's 17 keypoints, in COCO order.
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: Teacher visibility at or above which a joint is labelled visible (v=2) ...
VISIBLE = 0.75
#: ... at or above which it is labelled but unsure (v=1); below it, unlabelled (v=0).
ABSENT = 0.3
#: A frame is a near-duplicate when no landmark moved more than this fraction of the box
#: height since the last kept frame of the same clip.
MIN_MOTION = 0.03
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v"}


def find_videos(inputs: list[str]) -> list[Path]:
    """Video files named directly or found (recursively) in the named folders, sorted."""
    out = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def coco_visibility(xy: np.ndarray, scores: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """COCO ``v`` (17,) of 17 keypoints (17, 2) in frame pixels from the teacher's confidences
    (17,) in [0, 1]: 2 at or above ``VISIBLE``, 1 at or above ``ABSENT``, 0 below that or
    outside the frame. The one rule every teacher's labels (and the audit's) go through."""
    w, h = frame_size
    xy = np.asarray(xy, float)
    sc = np.asarray(scores, float)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    return np.where(sc >= VISIBLE, 2, np.where(sc >= ABSENT, 1, 0)) * inside


def keypoints_to_annotation(xy: np.ndarray, scores: np.ndarray, frame_size: tuple[int, int],
                            margin: float = 0.08) -> dict | None:
    """COCO annotation fields from a teacher's 17 COCO keypoints (17, 2) in frame pixels and
    its confidences (17,) (clipped to [0, 1]; ``v`` by ``coco_visibility``): the box is the
    labelled keypoints' box grown by ``margin`` x its longer side, inside the frame; the
    confidences are kept as ``keypoint_scores``. None when the person cannot be boxed."""
    w, h = frame_size
    xy = np.asarray(xy, float)
    sc = np.clip(np.asarray(scores, float), 0, 1)
    v = coco_visibility(xy, sc, frame_size)
    if (v > 0).sum() < 2:
        return None
    lo, hi = xy[v > 0].min(axis=0), xy[v > 0].max(axis=0)
    pad = margin * (hi - lo).max()
    x0, y0 = max(0.0, lo[0] - pad), max(0.0, lo[1] - pad)
    x1, y1 = min(w - 1.0, hi[0] + pad), min(h - 1.0, hi[1] + pad)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    kps = np.zeros((17, 3))
    kps[:, :2] = np.where(v[:, None] > 0, xy, 0.0)
    kps[:, 2] = v
    return {"bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "area": round((x1 - x0) * (y1 - y0), 2), "iscrowd": 0, "category_id": 1,
            "keypoints": [round(float(k), 2) for k in kps.reshape(-1)],
            "num_keypoints": int((v > 0).sum()), "keypoint_scores": [round(float(s), 4) for s in sc]}


def landmarks_to_annotation(xy: np.ndarray, vis: np.ndarray, frame_size: tuple[int, int],
                            margin: float = 0.08) -> dict | None:
    """COCO annotation fields from BlazePose landmarks (33, 2) in frame pixels and their
    visibility (33,): ``keypoints_to_annotation`` of the 17 mapped by ``BLAZEPOSE_TO_COCO``.
    Returns None when the person cannot be boxed."""
    idx = list(BLAZEPOSE_TO_COCO)
    return keypoints_to_annotation(np.asarray(xy, float)[idx], np.asarray(vis, float)[idx], frame_size, margin)


#: Teacher mask probability at or above which a pixel belongs to the person.
MASK_THRESHOLD = 0.5


def mask_to_rle(mask: np.ndarray) -> dict:
    """A float person mask (H, W) as COCO's compressed RLE, JSON-ready."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray((np.asarray(mask) >= MASK_THRESHOLD).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def moved(prev: np.ndarray | None, cur: np.ndarray, box_h: float) -> bool:
    """True when some landmark moved more than MIN_MOTION x box height since ``prev``."""
    if prev is None:
        return True
    d = np.linalg.norm(cur - prev, axis=1)
    return bool(np.nanmax(d) > MIN_MOTION * box_h)


def coco_category() -> dict:
    """COCO's person category with its 17 keypoint names (the lower-body skeleton drawn)."""
    return {"id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(COCO_KEYPOINT_NAMES),
            "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13]]}


def pseudolabel(videos: list[Path], out: Path, teacher: str = "mediapipe", stride: int = 2,
                max_seconds: float | None = None, jpeg_quality: int = 90, progress: bool = True,
                masks: bool = True, teacher_weights: str | Path | None = None) -> dict:
    """Label every ``stride``-th frame of each video with the teacher; write the COCO set
    (with ``masks``, each person's segmentation too: BlazePose teachers only).
    ``teacher_weights``: for ``movenet_thunder``, a (fine-tuned) weights file instead of the
    shipped one."""
    from engine.video.reader import open_video

    if teacher not in TEACHER_CHOICES:
        raise ValueError(f"unknown teacher {teacher!r}; choose from {', '.join(TEACHER_CHOICES)}")
    if teacher_weights is not None and teacher != MOVENET:
        raise ValueError(f"--teacher-weights is for the {MOVENET} teacher, not {teacher}")
    # a missing model or weights file is refused here, before anything is written
    if teacher == MOVENET:
        from .movenet_teacher import MoveNetTeacher
        mn = MoveNetTeacher(teacher_weights)
        description = mn.description
        clip_labeller = mn.clip
        to_annotation = keypoints_to_annotation
        masks = False
    else:
        from engine.video.blazepose_models import check_model, teacher_complexity, teacher_description
        from engine.video.mediapipe_pose import MediaPipePose
        complexity = teacher_complexity(teacher)
        check_model(complexity)
        description = f"{teacher}: {teacher_description(complexity)}"
        clip_labeller = lambda: MediaPipePose(model_complexity=complexity, segmentation=masks)  # noqa: E731
        to_annotation = landmarks_to_annotation
    images_dir = out / "images"
    images, anns, stats = [], [], {}
    for vpath in videos:
        kept = skipped = missed = 0
        prev = None
        with clip_labeller() as pose, \
                open_video(vpath, stride=stride, max_seconds=max_seconds) as video:
            for frame_index, frame in tqdm(video.frames(), desc=vpath.name, disable=not progress, leave=False):
                lm = pose.landmarks(frame)
                if lm is None:
                    missed += 1
                    continue
                ann = to_annotation(lm[:, :2], lm[:, 2], video.frame_size)
                if ann is None:
                    missed += 1
                    continue
                if not moved(prev, lm[:, :2], ann["bbox"][3]):
                    skipped += 1
                    continue
                prev = lm[:, :2]
                image_id = len(images) + 1
                name = f"{vpath.stem}_{frame_index:06d}.jpg"
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                images_dir.mkdir(parents=True, exist_ok=True)
                with atomic_path(images_dir / name) as tmp:
                    tmp.write_bytes(buf.tobytes())
                images.append({"id": image_id, "file_name": name, "width": video.frame_size[0],
                               "height": video.frame_size[1], "video": vpath.name,
                               "frame": int(frame_index), "license": 0})
                if pose.mask is not None:
                    ann["segmentation"] = mask_to_rle(pose.mask)
                anns.append({"id": len(anns) + 1, "image_id": image_id, **ann})
                kept += 1
        stats[vpath.name] = {"kept": kept, "near_duplicates": skipped, "no_person": missed}
    info = {"description": "SquatPose pseudo-labels", "teacher": description, "stride": stride,
            "thresholds": {"visible": VISIBLE, "absent": ABSENT, "min_motion": MIN_MOTION,
                           "mask": MASK_THRESHOLD if masks else None},
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "videos": stats}
    if teacher == MOVENET:
        info["masks"] = ("none: MoveNet gives no person mask, so these people have no "
                         "segmentation and training's --paste never pastes them")
        info["confidence_scale"] = mn.confidence_scale
    data = {"info": info,
            "licenses": [{"id": 0, "name": "as the source video", "url": ""}],
            "images": images, "annotations": anns,
            "categories": [coco_category()]}
    write_json(out / "annotations.json", data, indent=None)
    return stats


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.pseudolabel", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="VIDEOS_OR_DIRS", help="video files or folders of them")
    p.add_argument("--teacher", default="mediapipe", choices=list(TEACHER_CHOICES),
                   help="the labelling model: mediapipe (BlazePose full, default), mediapipe-heavy "
                        "(needs python -m engine.teacher install), mediapipe-lite, movenet_thunder "
                        "(MoveNet Thunder on the person detector's athlete; no masks)")
    p.add_argument("--teacher-weights", metavar="PATH",
                   help="with --teacher movenet_thunder: a (fine-tuned) MoveNet Thunder weights file "
                        "with its sidecar instead of weights/movenet_thunder.safetensors")
    p.add_argument("--out", required=True, help="output folder (images/ and annotations.json)")
    p.add_argument("--stride", type=positive_int, default=2, help="label every K-th frame (default 2)")
    p.add_argument("--max-seconds", type=positive_float, help="only the first S seconds of each video")
    p.add_argument("--quality", type=positive_int, default=90, help="JPEG quality of the saved frames")
    p.add_argument("--no-masks", action="store_true",
                   help="do not store the teacher's person masks as segmentations")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.teacher_weights and args.teacher != MOVENET:
        parser.error(f"--teacher-weights is for --teacher {MOVENET}")
    from engine.models.weights import WeightsError
    from engine.video.blazepose_models import ModelMissing
    from engine.video.detect import DetectorError
    from engine.video.reader import VideoError
    try:
        videos = find_videos(args.inputs)
        if not videos:
            raise FileNotFoundError("no video files found in " + ", ".join(args.inputs))
        stats = pseudolabel(videos, Path(args.out), args.teacher, args.stride, args.max_seconds, args.quality,
                            masks=not args.no_masks, teacher_weights=args.teacher_weights)
    except (FileNotFoundError, VideoError, ImportError, ModelMissing, WeightsError, DetectorError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, s in stats.items():
        print(f"{name}: kept {s['kept']}, near-duplicates {s['near_duplicates']}, no person {s['no_person']}")
    print(f"wrote {Path(args.out) / 'annotations.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
