"""Issue 19, finding 5: every CLI checks its arguments. A bad value stops the command with exit
code 2 and a message naming the option (argparse, before anything is loaded), and nothing is
created. The CLIs' own ``main`` functions are called in this process (what ``python -m`` runs);
one is also run as a real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tests.apphelpers import ROOT
from tests.test_hardening_app import broken_coco


def refused(main, argv, needle, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert needle in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("option,value,needle", [
    ("--epochs", "0", "--epochs: must be 1 or more"),
    ("--batch-size", "0", "--batch-size: must be 1 or more"),
    ("--lr", "nan", "--lr: 'nan' is not a finite number"),
    ("--lr", "-0.1", "--lr: must be more than 0"),
    ("--paste", "2", "--paste: must be a probability from 0 to 1"),
    ("--device", "tpu", "--device: unknown device 'tpu'"),
    ("--workers", "-1", "--workers: must be 0 or more"),
    ("--epochs", "two", "--epochs: 'two' is not a whole number"),
])
def test_train_refuses_bad_numbers_and_creates_nothing(coco_ann, coco_images, tmp_path, capsys,
                                                      option, value, needle):
    from engine.train import main
    out = tmp_path / "run"
    argv = ["--model", "dilated", "--train-ann", str(coco_ann), "--train-images", str(coco_images),
            "--epochs", "1", "--out", str(out), option, value]
    refused(main, argv, needle, capsys)
    assert not out.exists()


def test_train_on_invalid_values_stops_before_making_its_folder(coco_ann, coco_images, tmp_path, capsys):
    from engine.train import main
    data, needles = broken_coco(coco_ann)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "run"
    assert main(["--model", "dilated", "--train-ann", str(bad), "--train-images", str(coco_images),
                 "--epochs", "1", "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert all(f"annotation {aid}" in err for aid in needles), err
    assert not out.exists()


def test_train_exits_2_as_a_real_command(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "engine.train", "--model", "dilated", "--train-ann", "x.json",
                        "--train-images", "x", "--epochs", "0", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--epochs: must be 1 or more" in r.stderr, r.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from engine.models import build_model
    from engine.models import weights as weightslib
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "dilated.safetensors"
    weightslib.save(build_model("dilated"), path, {"model": "dilated", "input_size": [96, 128]})
    return path


def test_evaluate_refuses_bad_arguments_invalid_data_and_non_reports(weights, coco_ann, coco_images,
                                                                     tmp_path, capsys):
    from engine.evaluate import main
    base = ["--weights", str(weights), "--ann", str(coco_ann), "--images", str(coco_images)]
    refused(main, base + ["--batch-size", "0"], "--batch-size: must be 1 or more", capsys)
    refused(main, base + ["--device", "tpu"], "unknown device 'tpu'", capsys)
    # numeric strings, a negative box width, nulls: refused by the schema, naming the annotation
    data = json.loads(coco_ann.read_text())
    people = [a for a in data["annotations"] if not a["iscrowd"]]
    people[0]["keypoints"][3 * 11] = "12.5"
    people[1]["bbox"][2] = -40
    people[2]["bbox"] = None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "report.json"
    assert main(["--weights", str(weights), "--ann", str(bad), "--images", str(coco_images),
                 "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    for a, needle in zip(people, ("holds '12.5'", "negative size", "bbox None")):
        assert f"annotation {a['id']}" in err and needle in err, (needle, err)
    assert not out.exists()
    # --compare on something that is not a report: exit 2, not a table of dashes
    assert main(["--compare", str(coco_ann)]) == 2
    assert "is not a report of python -m engine.evaluate" in capsys.readouterr().err
    report = tmp_path / "real.json"
    report.write_text(json.dumps({"model": "dilated", "pck@0.05": 0.5, "per_joint": {}}))
    assert main(["--compare", str(report)]) == 0
    assert "| dilated |" in capsys.readouterr().out


@pytest.mark.parametrize("entry,argv,needle", [
    ("engine.analyze", ["clip.mp4", "--out", "OUT", "--stride", "0"], "--stride: must be 1 or more"),
    ("engine.analyze", ["clip.mp4", "--out", "OUT", "--max-seconds", "nan"], "not a finite number"),
    ("engine.analyze", ["clip.mp4", "--out", "OUT", "--device", "tpu"], "unknown device 'tpu'"),
    ("engine.flags", ["a.json", "--subset", "0", "--export", "OUT"], "--subset: must be 1 or more"),
    ("engine.pseudolabel", ["v.mp4", "--out", "OUT", "--stride", "-2"], "--stride: must be 1 or more"),
    ("engine.bench", ["train", "--steps", "0", "--out", "OUT"], "--steps: must be 1 or more"),
    ("engine.bench", ["video", "clip.mp4", "--device", "tpu", "--out", "OUT"], "unknown device 'tpu'"),
    ("engine.recipe", ["train", "dilated", "--epochs", "0", "--work", "OUT"], "--epochs: must be 1 or more"),
    ("engine.recipe", ["train", "dilated", "--paste", "1.5", "--work", "OUT"], "must be a probability"),
])
def test_every_cli_checks_its_numbers(tmp_path, capsys, entry, argv, needle):
    import importlib
    main = importlib.import_module(entry).main
    out = tmp_path / "out"
    refused(main, [str(out) if a == "OUT" else a for a in argv], needle, capsys)
    assert not out.exists()
