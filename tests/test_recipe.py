"""The recipe's Leeds Sports Pose part: the held-out tenth and the audit's fixes."""
from __future__ import annotations

import numpy as np
import pytest

from engine.joints import COCO_INDICES
from engine.training import recipe


def _audited(n: int = 40) -> dict:
    images, anns = [], []
    for i in range(1, n + 1):
        images.append({"id": i, "file_name": f"im{i:05d}.jpg", "width": 100, "height": 150})
        kps = [0] * 51
        for j, c in enumerate(COCO_INDICES):
            kps[3 * c: 3 * c + 3] = [10 + j, 20 + 10 * j, 2]
        flags = ["swapped"] if i % 5 == 0 else (["far_joint"] if i % 7 == 0 else [])
        anns.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 50, 100],
                     "keypoints": kps, "num_keypoints": 6,
                     "audit": {"flags": flags, "swap_gain": 0.2, "teacher_keypoints": [0] * 51}})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def test_lsp_split_holds_out_a_seeded_tenth_unfixed_and_trains_on_the_swaps_fixed():
    data = _audited()
    train, val, counts = recipe.lsp_split(data)
    held = set(counts["lsp_held_out_image_ids"])
    assert len(held) == 4 and counts["lsp_val_people"] == 4 and counts["lsp_train_people"] == 36
    assert {a["image_id"] for a in val["annotations"]} == held == {im["id"] for im in val["images"]}
    assert not held & {a["image_id"] for a in train["annotations"]}
    assert recipe.lsp_split(_audited())[2] == counts  # the same split every run
    original = {a["id"]: a["keypoints"] for a in _audited()["annotations"]}
    for a in val["annotations"]:  # held out: the human labels as they are, no audit fields
        assert a["keypoints"] == original[a["id"]] and "audit" not in a
    fixed = [a for a in train["annotations"] if "audit" in a]
    assert len(fixed) == counts["lsp_swaps_fixed_in_train"] == sum(
        1 for a in train["annotations"] if a["id"] % 5 == 0)
    for a in train["annotations"]:
        k = np.array(a["keypoints"]).reshape(17, 3)
        left_hip_x = k[COCO_INDICES[0], 0]
        assert left_hip_x == (11 if a["id"] % 5 == 0 else 10)  # swapped people get the right hip's label
        assert set(a.get("audit", {})) <= {"fixed"}
    assert data["annotations"][4]["keypoints"] == original[5]  # the input is not changed


def test_recipe_data_without_the_lsp_audit_says_how_to_make_it(tmp_path):
    with pytest.raises(recipe.LSPNotAudited) as e:
        recipe.build_data(tmp_path / "shared", tmp_path / "work", [])
    msg = str(e.value)
    assert "engine.convert lsp" in msg and "engine.audit" in msg and "--no-lsp" in msg
    assert recipe.main(["data", "--shared", str(tmp_path / "shared"), "--work", str(tmp_path / "work")]) == 2


def test_the_held_out_lsp_people_do_not_need_the_audit(tmp_path):
    """``engine.recipe heldout`` reads the plain conversion when the audited file is missing:
    the held-out people (seeded by image id, human labels unfixed) come out the same."""
    audited = _audited()
    plain = {**audited, "annotations": [{k: v for k, v in a.items() if k != "audit"}
                                        for a in audited["annotations"]]}
    _, val_audited, counts_audited = recipe.lsp_split(audited)
    _, val_plain, counts_plain = recipe.lsp_split(plain)
    assert val_plain == val_audited
    assert counts_plain["lsp_held_out_image_ids"] == counts_audited["lsp_held_out_image_ids"]
    work = tmp_path / "work"
    (work / "lsp").mkdir(parents=True)
    (work / "lsp" / "lsp.json").write_text("{}")
    assert recipe.lsp_source(tmp_path, work, held_out_only=True) == work / "lsp" / "lsp.json"
    assert recipe.lsp_source(tmp_path, work, held_out_only=False) == recipe.lsp_audited_path(work)
    recipe.lsp_audited_path(work).write_text("{}")
    assert recipe.lsp_source(tmp_path, work, held_out_only=True) == recipe.lsp_audited_path(work)
