"""Issue 28 experiment: the recipe's training file with Leeds Sports Pose's hips unlabelled.

    python scripts/lsp_without_hips.py data/recipe/train.json data/recipe/train-lsp-no-hips.json

LSP marks the hips differently from COCO; a fine-tuned MoveNet trained on LSP's hips loses COCO-MINI's
(docs/weights.md). This writes a copy of the training file where every LSP person's two hips are
unlabelled (v=0: no loss on them), so that LSP teaches knees and ankles only.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, as the other scripts

from engine.data import coco as cocolib  # noqa: E402
from engine.fileio import write_json  # noqa: E402
from engine.joints import COCO_INDICES, JOINT_INDEX  # noqa: E402

HIPS = tuple(COCO_INDICES[JOINT_INDEX[j]] for j in ("left_hip", "right_hip"))  # COCO keypoint indices


def main(src: str, dst: str) -> int:
    data = cocolib.read_json(src)
    lsp = {im["id"] for im in data["images"] if im["file_name"].startswith("lsp-images/")}  # the recipe's layout
    changed = 0
    for a in data["annotations"]:
        if a["image_id"] in lsp:
            for k in HIPS:
                if a["keypoints"][3 * k + 2] > 0:
                    a["keypoints"][3 * k: 3 * k + 3] = [0, 0, 0]
                    changed += 1
            a["num_keypoints"] = sum(1 for k in range(17) if a["keypoints"][3 * k + 2] > 0)
    data["info"] = {**data.get("info", {}), "description": data.get("info", {}).get("description", "") +
                    " (LSP hips unlabelled: scripts/lsp_without_hips.py)"}
    write_json(dst, data, indent=None)
    print(f"wrote {dst}: {changed} LSP hips unlabelled")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python scripts/lsp_without_hips.py TRAIN.json OUT.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
