"""The scorecard's choice of default model and the model card's measured section."""
from __future__ import annotations

from engine.training.recipe import write_card
from engine.training.scorecard import best_model, matched_reps, pck_by_knee, table


def _row(match, clip, coco, wrong=None, box=None):
    return {"reps": {"a.mp4": 2, "b.mp4": 0}, "reps_match": match, "clip_pck@0.05": clip,
            "coco_pck@0.05": coco, "reps_wrong": wrong or {}, "clip_box_pck@0.05": box}


def test_default_is_most_clips_right_then_teacher_agreement_then_coco():
    rows = {"x": _row(1, 0.9, 0.9), "y": _row(2, 0.1, 0.1)}
    assert best_model(rows) == "y"
    rows["z"] = _row(2, 0.5, 0.0)
    assert best_model(rows) == "z"
    rows["w"] = _row(2, 0.5, 0.2)
    assert best_model(rows) == "w"
    rows["v"] = _row(2, None, None)  # a model without figures never wins on them
    assert best_model(rows) == "w"


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
