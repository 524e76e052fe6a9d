"""The teacher turns a real clip into a COCO keypoints file that trains like any other."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.data import coco as cocolib
from engine.joints import COCO_INDICES
from tests.conftest import needs_mediapipe

ROOT = Path(__file__).resolve().parents[1]


@needs_mediapipe
def test_pseudolabel_real_clip_to_coco(tmp_path, clips_dir):
    from pycocotools.coco import COCO
    clip = clips_dir / "oblique-single.mp4"
    before = clip.read_bytes()
    out = tmp_path / "pl"
    r = subprocess.run([sys.executable, "-m", "engine.pseudolabel", str(clip), "--out", str(out),
                        "--stride", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert clip.read_bytes() == before
    c = COCO(str(out / "annotations.json"))
    anns = c.loadAnns(c.getAnnIds())
    assert 5 <= len(anns) <= 30  # 30 sampled frames, near-duplicates skipped
    data = json.loads((out / "annotations.json").read_text())
    assert all(im["video"] == clip.name for im in data["images"])
    for a in anns:
        im = c.imgs[a["image_id"]]
        assert (out / "images" / im["file_name"]).is_file()
        x, y, w, h = a["bbox"]
        assert w > 50 and h > 100 and x >= 0 and y >= 0 and x + w <= im["width"] and y + h <= im["height"]
        k = np.array(a["keypoints"]).reshape(17, 3)
        lab = k[:, 2] > 0
        assert lab[list(COCO_INDICES)].sum() >= 4  # the lower body is in view in this clip
        inside = (k[lab, 0] >= x - 1) & (k[lab, 0] <= x + w + 1) & (k[lab, 1] >= y - 1) & (k[lab, 1] <= y + h + 1)
        assert inside.all()
        assert len(a["keypoint_scores"]) == 17
        # the teacher's person mask, as COCO RLE: mostly inside the box, around the joints
        m = c.annToMask(a)
        assert m.shape == (im["height"], im["width"]) and m.sum() > 0.1 * w * h
        ys, xs = np.nonzero(m)
        in_box = (xs >= x - 0.1 * w) & (xs <= x + 1.1 * w) & (ys >= y - 0.1 * h) & (ys <= y + 1.1 * h)
        assert in_box.mean() > 0.95
        hip = k[list(COCO_INDICES)[:2]]
        for jx, jy, jv in hip:
            if jv == 2:
                assert m[int(jy), int(jx)] == 1
    # it loads like any COCO file, with the teacher's low-confidence joints flagged
    people = cocolib.load(out / "annotations.json", out / "images").people
    assert len(people) == len(anns) and all(p.scores is not None for p in people)
    # consecutive kept frames differ: near-duplicates were skipped
    frames = [im["frame"] for im in data["images"]]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)


@needs_mediapipe
def test_pseudolabel_bad_input_says_so(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    r = subprocess.run([sys.executable, "-m", "engine.pseudolabel", str(bad), "--out", str(tmp_path / "o")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "notes.mp4" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
