"""The label audit on a real LSP person: the heavy teacher flags the labels when the test swaps
their left and right, and not the same labels as the crowd-workers left them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.data import audit as auditlib
from engine.data.coco import swap_left_right
from engine.joints import COCO_KEYPOINT_NAMES, JOINTS
from tests.conftest import SHARED_DATA, _need, needs_heavy_teacher

ROOT = Path(__file__).resolve().parents[1]
LSP = SHARED_DATA / "lsp-extended"
#: im00010.jpg: a cheerleader in a split jump, seen from the front, all six leg joints labelled
#: (and labelled right): her legs stretch far to either side, so a swap cannot go unseen.
PERSON = 10


@pytest.fixture(scope="module")
def one_person(tmp_path_factory) -> Path:
    """A COCO file of one LSP image holding its person twice: as labelled (id 1) and with the
    labels swapped left/right (id 2)."""
    from PIL import Image

    from engine.data import lsp
    d = _need(LSP / "joints.mat").parent
    joints = lsp.read_joints(d / "joints.mat")[PERSON - 1: PERSON]
    with Image.open(d / "images" / lsp.IMAGE_NAME.format(PERSON)) as im:
        data = lsp.to_coco(joints, [im.size])
    data["images"][0].update(id=PERSON, file_name=lsp.IMAGE_NAME.format(PERSON))
    a = data["annotations"][0]
    a.update(id=1, image_id=PERSON)
    data["annotations"].append({**a, "id": 2, "keypoints": swap_left_right(a["keypoints"]), "note": "swapped by the test"})
    path = tmp_path_factory.mktemp("audit") / "one.json"
    path.write_text(json.dumps(data))
    return path


@needs_heavy_teacher
def test_audit_flags_the_swapped_labels_and_not_the_right_ones(one_person, tmp_path):
    images = LSP / "images"
    before = one_person.read_bytes()
    out = tmp_path / "audited.json"
    cmd = [sys.executable, "-m", "engine.audit", str(one_person), str(images), "--teacher", "mediapipe-heavy",
           "--out", str(out), "--json", "--quiet"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert one_person.read_bytes() == before
    s = json.loads(r.stdout)
    assert (s["people"], s["checked"], s["skipped"]) == (2, 2, 0)
    assert s["flagged"]["swapped"] == 1
    data = json.loads(out.read_text())
    right, wrong = data["annotations"]
    assert "swapped" not in right["audit"]["flags"] and right["audit"]["swap_gain"] < 0
    assert "swapped" in wrong["audit"]["flags"] and wrong["audit"]["swap_gain"] >= auditlib.SWAP_MIN_GAIN
    # judged after the swap is undone, the swapped labels hold no far joint
    assert wrong["audit"]["far_joints"] == right["audit"]["far_joints"] == []
    for a in (right, wrong):
        au = a["audit"]
        assert set(au) == {"flags", "far_joints", "missed_joints", "swap_gain", "teacher_keypoints", "teacher_scores"}
        assert set(au["flags"]) <= set(auditlib.KINDS)
        assert set(au["missed_joints"]) <= set(JOINTS)
        assert len(au["teacher_keypoints"]) == 51 and len(au["teacher_scores"]) == 17
        tk = np.array(au["teacher_keypoints"]).reshape(17, 3)
        assert set(tk[:, 2]) <= {0, 1, 2} and (tk[11:17, 2] == 2).all()
        # the teacher's hips, knees and ankles land on the human's (in image pixels)
        lab = np.array(right["keypoints"]).reshape(17, 3)
        assert np.linalg.norm(tk[11:17, :2] - lab[11:17, :2], axis=1).max() < 0.1 * auditlib.person_size(a["bbox"])
    # everything of the input is kept
    src = json.loads(before)
    for a, b in zip(src["annotations"], data["annotations"]):
        assert {k: v for k, v in b.items() if k != "audit"} == a
    assert data["images"] == src["images"] and data["categories"] == src["categories"]
    assert set(data["audit_info"]) >= {"teacher", "thresholds", "date"}
    assert data["audit_info"]["teacher"].startswith("mediapipe-heavy")
    assert data["audit_info"]["thresholds"]["swap_min_gain"] == auditlib.SWAP_MIN_GAIN
    # a rerun takes the teacher's landmarks from the cache: it runs even where no model is found
    empty = tmp_path / "no-models"
    empty.mkdir()
    r2 = subprocess.run(cmd[:-3] + [str(tmp_path / "again.json"), "--json", "--quiet",
                                    "--cache", str(auditlib.cache_path(out))],
                        cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env={**os.environ, "SQUATPOSE_MEDIAPIPE_MODULES": str(empty)})
    assert r2.returncode == 0, r2.stderr[-2000:]
    again = json.loads((tmp_path / "again.json").read_text())
    assert [a["audit"] for a in again["annotations"]] == [a["audit"] for a in data["annotations"]]


def test_judge_rules_on_made_up_joints():
    """The rules themselves, on joints placed by hand (image pixels, a 100 x 200 box)."""
    box = [0, 0, 100, 200]  # person size 250 px
    label = np.array([[40, 100], [60, 100], [30, 150], [70, 150], [25, 195], [75, 195]], float)
    v = np.full(6, 2)
    sure = np.ones(6)
    same = auditlib.judge(label, v, label + 2, sure, box, (200, 200))
    assert same["flags"] == [] and same["swap_gain"] < 0
    mirrored = label[[1, 0, 3, 2, 5, 4]]
    sw = auditlib.judge(mirrored, v, label, sure, box, (200, 200))
    assert sw["flags"] == ["swapped"] and sw["far_joints"] == []
    off = label.copy()
    off[3] += [0, 0.2 * 250]  # right knee 50 px low: far
    far = auditlib.judge(off, v, label, sure, box, (200, 200))
    assert far["flags"] == ["far_joint"] and far["far_joints"] == ["right_knee"]
    unsure = sure.copy()
    unsure[3] = 0.3
    assert auditlib.judge(off, v, label, unsure, box, (200, 200))["far_joints"] == []
    v2 = v.copy()
    v2[4] = 0
    missed = auditlib.judge(label, v2, label, sure, box, (200, 200))
    assert missed["flags"] == ["missed_joint"] and missed["missed_joints"] == ["left_ankle"]
    other = auditlib.judge(label, v, label + [0, 200], sure, box, (400, 400))
    assert other["flags"] == ["skipped"] and "another person" in other["reason"]


def test_swap_fix_swaps_the_left_right_pairs_and_records_itself():
    names = list(COCO_KEYPOINT_NAMES)
    kps = []
    for i in range(17):
        kps += [10 * i, 10 * i + 1, 2]
    kps[3 * names.index("left_ankle") + 2] = 0  # an unlabelled joint moves with its pair
    ann = {"id": 7, "keypoints": kps, "audit": {"flags": ["swapped"], "swap_gain": 0.3}}
    fixed = auditlib.apply_swap_fix(ann, by="test")
    k = np.array(fixed["keypoints"]).reshape(17, 3)
    orig = np.array(kps).reshape(17, 3)
    for left in ("hip", "knee", "ankle"):
        li, ri = names.index(f"left_{left}"), names.index(f"right_{left}")
        assert (k[li] == orig[ri]).all() and (k[ri] == orig[li]).all()
    for arm in ("shoulder", "elbow", "wrist"):  # the whole body, as the Review tab's swap
        li, ri = names.index(f"left_{arm}"), names.index(f"right_{arm}")
        assert (k[li] == orig[ri]).all() and (k[ri] == orig[li]).all()
    assert (k[0] == orig[0]).all()  # the nose stays
    assert fixed["audit"]["fixed"] == [{"kind": "swapped", "by": "test"}]
    assert ann["keypoints"] == kps and "fixed" not in ann["audit"]  # the input is untouched
    data = {"annotations": [ann, {"id": 8, "keypoints": kps, "audit": {"flags": ["far_joint"]}}]}
    out, n = auditlib.apply_fixes(data)
    assert n == 1 and out["annotations"][1]["keypoints"] == kps
    assert out["annotations"][0]["keypoints"] == fixed["keypoints"]
    with pytest.raises(ValueError, match="only 'swapped'"):
        auditlib.apply_fixes(data, kinds=("far_joint",))
