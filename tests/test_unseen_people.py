"""scripts/unseen_people.py: the training people a ``--subset N`` run never saw (issue 28's
validation sets for choosing a WiSE-FT mix) are exactly the rest of the training file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.data import coco as cocolib
from engine.training.train import build_parser, load_people

ROOT = Path(__file__).resolve().parents[1]


def test_unseen_people_are_the_rest_of_what_engine_train_chooses(tmp_path, coco_ann, coco_images):
    data = json.loads(coco_ann.read_text())
    for im in data["images"]:  # laid out as the recipe's train.json: one folder per source
        im["file_name"] = "coco-mini/" + im["file_name"]
    (tmp_path / "coco-mini").symlink_to(coco_images, target_is_directory=True)
    train = tmp_path / "train.json"
    train.write_text(json.dumps(data))
    before = train.read_bytes()
    done = subprocess.run([sys.executable, "scripts/unseen_people.py", str(train), "20", str(tmp_path / "unseen")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert train.read_bytes() == before
    args = build_parser().parse_args(["--model", "dilated", "--train-ann", str(train), "--train-images",
                                      str(tmp_path), "--epochs", "1", "--out", "x", "--subset", "20"])
    trained = {p.image_id for p in load_people(train, tmp_path, args, None, 20)[1]}
    unseen = json.loads((tmp_path / "unseen-coco.json").read_text())
    ids = {im["id"] for im in unseen["images"]}
    assert len(trained) == 20 and ids and not ids & trained
    assert ids | trained == {im["id"] for im in data["images"]}
    assert {a["image_id"] for a in unseen["annotations"]} <= ids
    with_legs = [p for p in cocolib.load(tmp_path / "unseen-coco.json", tmp_path).people if p.flags.n_labeled]
    assert with_legs  # people to measure on
    for other in ("lsp", "clips"):  # no such source here: empty, valid files
        assert json.loads((tmp_path / f"unseen-{other}.json").read_text())["images"] == []
    usage = subprocess.run([sys.executable, "scripts/unseen_people.py"], cwd=ROOT, capture_output=True, text=True)
    assert usage.returncode == 2 and "unseen_people.py" in usage.stderr
