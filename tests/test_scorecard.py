"""The scorecard's choice of default model and the model card's measured section."""
from __future__ import annotations

import pytest

from engine.training.recipe import write_card
from engine.training.scorecard import best_model, matched_reps, pck_by_knee, table


def _row(match, clip, coco, wrong=None, box=None, lsp=None):
    return {"reps": {"a.mp4": 2, "b.mp4": 0}, "reps_match": match, "clip_pck@0.05": clip,
            "coco_pck@0.05": coco, "reps_wrong": wrong or {}, "clip_box_pck@0.05": box,
            "lsp_pck@0.05": lsp}


def test_default_is_chosen_on_held_out_clips_and_people_before_the_trained_on_clips():
    held = ("b.mp4",)  # a.mp4: a clip the models trained on
    wrong_a, wrong_b = {"a.mp4": {"counted": 1, "person": 2}}, {"b.mp4": {"counted": 1, "person": 0}}
    rows = {"x": _row(2, 0.6, 0.9, lsp=0.9), "y": _row(1, 0.9, 0.1, wrong_a, lsp=0.1)}
    assert best_model(rows, held) == "y"  # the held-out clip agreement first: not all clips right
    rows["z"] = _row(1, 0.99, 0.9, wrong_b, lsp=0.9)
    assert best_model(rows, held) == "y"  # the held-out clip counted wrong: never first
    rows["w"] = _row(1, 0.9, 0.1, wrong_a, lsp=0.2)
    assert best_model(rows, held) == "w"  # then the held-out LSP people
    rows["v"] = _row(2, 0.9, 0.1, lsp=0.2)
    assert best_model(rows, held) == "v"  # and all clips right last
    rows["u"] = _row(2, None, None)  # a model without figures never wins on them
    assert best_model(rows, held) == "v"


def test_card_names_the_clips_counted_wrong(tmp_path):
    meta = {"parameters": 1_000_000, "input_size": [96, 128], "recipe": "r", "epochs": 3,
            "settings": {}, "history": [{"loss": 0.001, "val_pck@0.05": 0.2}],
            "training_data": {"sources": "s", "people": 10, "held_out_clips": ["b.mp4"],
                              "held_out_coco_images": [1]}}
    path = tmp_path / "m.md"
    write_card("dilated", meta, path, _row(1, 0.25, None, {"b.mp4": {"counted": 0, "person": 3}}, box=0.5))
    text = path.read_text()
    assert "PCK@0.05 against the teacher on the held-out clips: 0.250" in text
    assert "cropped by the teacher's box (the model alone, no tracking): 0.500" in text
    assert "on the held-out human-labelled COCO-MINI people: –" in text
    assert "counted wrong (this model / the person): b.mp4 0 / 3" in text
    assert "on the held-out Leeds Sports Pose people (human labels): –\n" in text
    assert "detector" not in text
    assert "one pass per crop (no flip test)" in text and "heatmap peak x 1.0" in text
    write_card("dilated", {**meta, "flip_test": True, "confidence_scale": 2.0}, path)
    assert "flip test on" in path.read_text() and "heatmap peak x 2.0" in path.read_text()
    write_card("dilated", meta, path, {**_row(1, 0.25, 0.2), "coco_det_pck@0.05": 0.1,
                                       "lsp_pck@0.05": 0.4, "lsp_det_pck@0.05": 0.35})
    text = path.read_text()
    assert "COCO-MINI people: 0.200 (cropped by the person detector's boxes instead: 0.100)" in text
    assert "Leeds Sports Pose people (human labels): 0.400 (cropped by the person detector's boxes instead: 0.350)" in text
    write_card("dilated", meta, path, _row(2, 0.25, 0.5))
    assert "counted wrong" not in path.read_text() and "coincide in time" not in path.read_text()
    write_card("dilated", meta, path, {**_row(2, 0.25, 0.5), "reps_in_time": 3, "teacher_reps": 5})
    assert "of MediaPipe's 5 repetitions on these clips, 3 coincide in time" in path.read_text()
    by_knee = {"deep": {"pck": 0.1, "people": 4}, "not deep": {"pck": 0.7, "people": 6}}
    write_card("dilated", meta, path, {**_row(2, 0.25, 0.5, box=0.5), "clip_box_pck@0.05_by_knee": by_knee})
    assert "no tracking): 0.500 (deep squats, knee under 100°: 0.100 on 4 frames; the rest: 0.700 on 6)" \
        in path.read_text()


def test_table_has_a_row_per_clip_with_the_persons_count():
    card = {"models": {"dilated": _row(1, 0.25, None, box=0.6), "mediapipe": _row(2, 1.0, 0.3)},
            "clips": {"a.mp4": 2, "b.mp4": 3}, "coco_people": 15}
    text = table(card)
    assert "| reps `b.mp4` (person: 3) | 0 | 0 |" in text
    assert "| clips with the right rep count | 1 / 2 | 2 / 2 |" in text
    assert "on 15 held-out COCO-MINI people | – | 0.300 |" in text
    assert "| PCK@0.05 vs teacher, held-out clip frames in the teacher's box | 0.600 | – |" in text
    card["held_out_clips"] = ["b.mp4"]
    assert "| reps `b.mp4` (person: 3, held out) | 0 | 0 |" in table(card)
    assert "matched in time" not in text and "deep squats" not in text
    card["models"]["dilated"]["clip_box_pck@0.05_by_knee"] = {"deep": {"pck": 0.1, "people": 4},
                                                               "not deep": {"pck": 0.7, "people": 6}}
    text = table(card)
    assert "| ... of them deep squats (knee under 100°), 4 frames | 0.100 | – |" in text
    assert "| ... of them standing to bent (knee 100° or more), 6 frames | 0.700 | – |" in text
    card["teacher_reps"] = 5
    card["models"]["dilated"]["reps_in_time"] = 3
    card["models"]["mediapipe"]["reps_in_time"] = 5
    assert "| MediaPipe's reps matched in time (interval IoU ≥ 0.5) | 3 / 5 | 5 / 5 |" in table(card)


def test_table_has_the_held_out_people_rows_with_the_references():
    card = {"models": {"dilated": {**_row(1, 0.25, 0.1), "coco_det_pck@0.05": 0.05, "lsp_pck@0.05": 0.2,
                                   "lsp_det_pck@0.05": 0.15},
                       "mediapipe": {**_row(2, 1.0, 0.3), "coco_missed_people": 1, "coco_det_pck@0.05": 0.25,
                                     "coco_det_missed_people": 2, "lsp_pck@0.05": 0.45, "lsp_missed_people": 7,
                                     "lsp_det_pck@0.05": 0.4, "lsp_det_missed_people": 5},
                       "movenet-lightning": {"reference": True, "coco_pck@0.05": 0.35, "coco_missed_people": 0,
                                             "coco_det_pck@0.05": 0.3, "coco_det_missed_people": 0}},
            "clips": {"a.mp4": 2, "b.mp4": 3}, "coco_people": 15, "lsp_people": 900,
            "detection": {"coco": {"found": 13, "missed": 2}, "lsp": {"found": 850, "missed": 50}},
            "skipped": {"mediapipe-heavy": "the heavy BlazePose model is not installed"}}
    text = table(card)
    assert "| PCK@0.05 on 15 held-out COCO-MINI people | 0.100 | 0.300 | 0.350 |" in text
    assert ("| ... the same people in the person detector's boxes (2 of 15 not found, counted wrong) "
            "| 0.050 | 0.250 | 0.300 |") in text
    assert "| PCK@0.05 on 900 held-out Leeds Sports Pose people | 0.200 | 0.450 | – |" in text
    assert "(50 of 900 not found, counted wrong) | 0.150 | 0.400 | – |" in text
    assert "(ground-truth box / detector box; counted wrong) | – | 7 / 5 | – |" in text  # LSP
    assert "(ground-truth box / detector box; counted wrong) | – | 1 / 2 | 0 / 0 |" in text  # COCO
    # a reference of the held-out people only: "–" in every clip row, and said so
    assert "| clips with the right rep count | 1 / 2 | 2 / 2 | – |" in text
    assert "| reps `b.mp4` (person: 3) | 0 | 0 | – |" in text
    assert "- movenet-lightning: the held-out people only" in text
    assert "- not scored: mediapipe-heavy: the heavy BlazePose model is not installed" in text
    del card["lsp_people"], card["detection"]  # no val-lsp.json, no detector
    text = table(card)
    assert "| PCK@0.05 on held-out Leeds Sports Pose people (no val-lsp.json) | – | – | – |" in text
    assert "detector" not in text and "(ground-truth box; counted wrong) | – | 1 | 0 |" in text


def test_reps_match_the_teachers_in_time_one_to_one():
    teacher = [[1.0, 3.0], [4.0, 6.0], [7.0, 9.0]]
    assert matched_reps(teacher, teacher) == 3
    # one rep split in two halves (IoU 0.5 each: only one may match), one missed: the count
    # of reps is right (3), the reps matched are not
    split = [[1.0, 2.0], [2.0, 3.0], [4.2, 6.0]]
    assert matched_reps(split, teacher) == 2
    assert matched_reps([[1.0, 1.9]], teacher) == 0  # under half the interval
    assert matched_reps([], teacher) == 0 and matched_reps(teacher, []) == 0


def test_card_keeps_its_section_written_by_hand(tmp_path):
    meta = {"parameters": 1_000_000, "input_size": [96, 128], "recipe": "r", "epochs": 3,
            "settings": {}, "history": [], "training_data": {"sources": "s", "people": 10,
                                                             "held_out_clips": [], "held_out_coco_images": []}}
    path = tmp_path / "m.md"
    write_card("dilated", meta, path)
    path.write_text(path.read_text() + "\n## Observed (by hand)\n- puts every joint on one foot\n")
    write_card("dilated", meta, path, _row(2, 0.5, 0.5))
    text = path.read_text()
    assert text.count("## Observed (by hand)") == 1 and "- puts every joint on one foot" in text
    assert "## Measured" in text


def test_pck_by_knee_splits_deep_squats_from_the_rest(coco_ann, coco_images, squatting):
    import numpy as np

    from engine.data import coco as cocolib
    people = [p for p in cocolib.load(coco_ann, coco_images).people if p.labeled.all()][:4]
    deep = [squatting(p) for p in people[:2]]  # the same people made to squat
    everyone = deep + people
    pred = np.stack([p.keypoints for p in everyone])
    pred[:2] += 1000.0  # the deep squats all wrong, the rest right
    r = pck_by_knee(pred, everyone)
    assert r["deep"] == {"pck": 0.0, "people": 2}
    assert r["not deep"] == {"pck": 1.0, "people": 4}


# -- held-out people: real Leeds Sports Pose people, each model and reference, both box kinds --
LSP_PEOPLE = 6


@pytest.fixture(scope="module")
def lsp_held_out(tmp_path_factory):
    """A recipe-like work folder holding ``val-lsp.json`` with the first ``LSP_PEOPLE`` real LSP
    people whose six joints are all labelled (converted by engine.data.lsp, named relative to
    WORK through its ``lsp-images`` link and id-offset as ``engine.recipe data`` writes them),
    loaded by the scorecard and run through the person detector once."""
    from engine.data import lsp
    from engine.fileio import write_json
    from engine.training import recipe
    from engine.training.scorecard import HeldOutPeople
    from engine.video.detect import detector_or_reason
    from tests.conftest import SHARED_DATA, _need
    src = _need(SHARED_DATA / "lsp-extended" / "joints.mat").parent
    n = 20
    joints = lsp.read_joints(src / "joints.mat")[:n]
    data = lsp.to_coco(joints, lsp.image_sizes(src / "images", [lsp.IMAGE_NAME.format(i + 1) for i in range(n)]))
    keep = [a["image_id"] for a in data["annotations"]
            if all(a["keypoints"][3 * k + 2] > 0 for k in range(11, 17))][:LSP_PEOPLE]
    assert len(keep) == LSP_PEOPLE
    work = tmp_path_factory.mktemp("work")
    recipe._link(src / "images", work / "lsp-images")
    images, anns = recipe._prefixed(data, "lsp-images", lambda im: im["id"] in keep, recipe.LSP_ID_OFFSET)
    write_json(work / "val-lsp.json", recipe._coco_file(images, anns, "test: held-out LSP people"))
    held = HeldOutPeople.load("lsp", work / "val-lsp.json", work)
    detector, why = detector_or_reason(2)
    if detector is None:
        pytest.skip(f"the person detector cannot run here: {why}")
    return held.detect(detector)


def _names():
    from engine.models.weights import shipped_weights
    from engine.training.scorecard import REFERENCES
    return list(shipped_weights()) + list(REFERENCES)


@pytest.mark.parametrize("name", _names())
def test_every_model_and_reference_scores_held_out_lsp_people(lsp_held_out, name):
    from engine.training.scorecard import REFERENCES, reference_or_reason, score_people
    reference = None
    if name in REFERENCES:
        reference, why = reference_or_reason(name)
        if reference is None:
            pytest.skip(f"{name} cannot run here: {why}")
    row = score_people(name, [lsp_held_out], reference)
    det = lsp_held_out.detections.summary()
    assert det["found"] + det["missed"] == LSP_PEOPLE and det["found"] >= LSP_PEOPLE - 2, det
    for key in ("lsp_pck@0.05", "lsp_det_pck@0.05"):
        assert 0.0 <= row[key] <= 1.0, (key, row)
    if name in REFERENCES:
        assert 0 <= row["lsp_missed_people"] <= LSP_PEOPLE and 0 <= row["lsp_det_missed_people"] <= det["found"]
        # measured here: full 0.417 (one person missed), heavy 0.444, MoveNet 0.444 (36 joints)
        assert row["lsp_pck@0.05"] > 0.3, row


def test_clip_agreement_within_the_tie_band_is_settled_by_the_held_out_people():
    from engine.training.scorecard import CLIP_TIE, ranking
    held = ("b.mp4",)
    # one joint in 4,000 apart on the clips: a tie, the held-out LSP people decide
    rows = {"import": _row(2, 0.99573, 0.70, lsp=0.591), "tuned": _row(2, 0.99548, 0.70, lsp=0.616),
            "small": _row(2, 0.99397, 0.66, lsp=0.544)}
    assert ranking(rows, held) == ["tuned", "import", "small"]
    assert best_model(rows, held) == "tuned"
    # further apart than the band: the clips decide, and the rest is ranked among itself
    rows["tuned"]["clip_pck@0.05"] = 0.99573 - 2 * CLIP_TIE
    assert ranking(rows, held) == ["import", "small", "tuned"]  # small is within the band of import
    rows["small"]["clip_pck@0.05"] = 0.97
    assert ranking(rows, held) == ["import", "tuned", "small"]  # the rest ranked among itself
