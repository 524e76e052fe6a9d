"""The scorecard's choice of default model and the model card's measured section."""
from __future__ import annotations

from engine.recipe import write_card
from engine.scorecard import best_model, table


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
    assert "counted wrong" not in path.read_text()


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
