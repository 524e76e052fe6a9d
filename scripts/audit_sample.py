"""Draw a seeded sample of audited people per flag, the human label and the teacher side by
side on the person's crop, to judge by eye how often each flag is right.

    python scripts/audit_sample.py AUDITED.json IMAGES --out data/lsp-audit/sample [--per-kind 20] [--seed 0]

Writes OUT/KIND/ID.png (crop enlarged to 480 px high): the label as drawn by the dataset
(left joints orange, right joints blue, dots) and the teacher (thin lines, left joints yellow,
right joints cyan, open circles); far joints ringed red, missed joints' teacher points ringed
magenta. Also OUT/index.json: the ids drawn per flag.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data.audit import KINDS, crop_for  # noqa: E402
from engine.data.dataset import read_image  # noqa: E402
from engine.joints import COCO_INDICES, JOINTS, SKELETON  # noqa: E402

LABEL = {"left": (255, 140, 0), "right": (30, 144, 255)}
TEACHER = {"left": (255, 255, 0), "right": (0, 255, 255)}
SIZE = 480


def draw(image: np.ndarray, ann: dict) -> np.ndarray:
    au = ann["audit"]
    crop = crop_for(ann["bbox"])
    img = crop.warp(image)
    k = SIZE / img.shape[0]
    img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    lab = np.array(ann["keypoints"], float).reshape(17, 3)[list(COCO_INDICES)]
    tea = np.array(au["teacher_keypoints"], float).reshape(17, 3)[list(COCO_INDICES)]
    lab_xy, tea_xy = crop.to_input(lab[:, :2]) * k, crop.to_input(tea[:, :2]) * k
    side = lambda j: "left" if JOINTS[j].startswith("left") else "right"  # noqa: E731
    pt = lambda p: (int(round(p[0])), int(round(p[1])))  # noqa: E731
    for (a, b) in SKELETON:
        if tea[a, 2] > 0 and tea[b, 2] > 0:
            cv2.line(img, pt(tea_xy[a]), pt(tea_xy[b]), TEACHER[side(a)] if side(a) == side(b) else (200, 200, 200), 1)
        if lab[a, 2] > 0 and lab[b, 2] > 0:
            cv2.line(img, pt(lab_xy[a]), pt(lab_xy[b]), LABEL[side(a)] if side(a) == side(b) else (200, 200, 200), 3)
    for j in range(6):
        if tea[j, 2] > 0:
            cv2.circle(img, pt(tea_xy[j]), 6, TEACHER[side(j)], 1)
        if lab[j, 2] > 0:
            cv2.circle(img, pt(lab_xy[j]), 5, LABEL[side(j)], -1)
        if JOINTS[j] in au["far_joints"] and tea[j, 2] > 0:
            cv2.circle(img, pt(tea_xy[j]), 12, (255, 0, 0), 2)
        if JOINTS[j] in au["missed_joints"] and tea[j, 2] > 0:
            cv2.circle(img, pt(tea_xy[j]), 12, (255, 0, 255), 2)
    text = f"{ann['id']} {','.join(au['flags']) or 'no flag'} gain {au['swap_gain']:.2f}"
    cv2.putText(img, text, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3)
    cv2.putText(img, text, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
    return img


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audited")
    p.add_argument("images")
    p.add_argument("--out", required=True)
    p.add_argument("--per-kind", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ids", type=int, nargs="*", help="draw these annotation ids instead (to OUT/ids)")
    args = p.parse_args(argv)
    data = json.loads(Path(args.audited).read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    audited = [a for a in data["annotations"] if "audit" in a and a["audit"]["flags"] != ["skipped"]]
    rng = random.Random(args.seed)
    groups = {}
    if args.ids:
        groups["ids"] = [a for a in audited if a["id"] in set(args.ids)]
    else:
        for kind in (*KINDS, "none"):
            pool = [a for a in audited if (kind in a["audit"]["flags"] if kind != "none" else not a["audit"]["flags"])]
            groups[kind] = rng.sample(pool, min(args.per_kind, len(pool)))
    out = Path(args.out)
    for kind, anns in groups.items():
        (out / kind).mkdir(parents=True, exist_ok=True)
        for a in anns:
            img = draw(read_image(Path(args.images) / files[a["image_id"]]), a)
            cv2.imwrite(str(out / kind / f"{a['id']:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (out / "index.json").write_text(json.dumps({k: [a["id"] for a in v] for k, v in groups.items()}))
    print(json.dumps({k: len(v) for k, v in groups.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
