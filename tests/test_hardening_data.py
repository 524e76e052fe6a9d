"""Issue 19, findings 2 and 3 outside the app: the one COCO schema check behind every loader
(the CLIs refuse what the app refuses, naming file, annotation and problem), and image paths
that resolve inside their folder."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from engine.data import coco as cocolib
from engine.data.schema import CocoFormatError, check_coco, escapes
from tests.apphelpers import ROOT
from tests.test_hardening_app import broken_coco


def test_the_flags_cli_refuses_invalid_values_and_exports_nothing(coco_ann, tmp_path):
    data, needles = broken_coco(coco_ann)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "visible.json"
    r = subprocess.run([sys.executable, "-m", "engine.flags", str(bad), "--filter", "visible",
                        "--export", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    for aid, needle in needles.items():
        assert f"annotation {aid}" in r.stderr and needle in r.stderr, (aid, needle, r.stderr)
    assert not out.exists()


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, None), "holds None"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, True), "holds True"),
    (lambda d: d["annotations"][0].__setitem__("id", "abc"), "id 'abc'"),
    (lambda d: d["annotations"][0].__setitem__("bbox", [0, 0, -5, 10]), "negative size"),
    (lambda d: d["annotations"][0].__setitem__("bbox", [0, 0, math.inf, 10]), "finite numbers"),
    (lambda d: d["annotations"][0].__setitem__("keypoint_scores", [0.5] * 16 + [math.nan]), "keypoint_scores"),
    (lambda d: d["images"][0].__setitem__("width", 0), "width 0"),
    (lambda d: d["images"][1].__setitem__("id", d["images"][0]["id"]), "image id"),
    (lambda d: d["images"][0].__setitem__("file_name", "C:\\\\x.jpg"), "leave the image folder"),
])
def test_the_schema_names_each_problem(coco_ann, mutate, needle):
    data = json.loads(coco_ann.read_text())
    check_coco(data, "ok.json")  # the real file passes
    mutate(data)
    with pytest.raises(CocoFormatError, match="bad.json") as err:
        check_coco(data, "bad.json")
    assert needle in str(err.value), str(err.value)


def test_file_names_that_escape():
    for name in ("../a.jpg", "/etc/passwd", "a/../../b.jpg", "C:x.jpg", "a\\b.jpg", "a\x00.jpg"):
        assert escapes(name), name
    for name in ("a.jpg", "train2017/000000493652.jpg", "a..b.jpg"):
        assert not escapes(name), name


def test_an_image_linked_out_of_its_folder_is_refused(coco_ann, coco_images, tmp_path):
    data = json.loads(coco_ann.read_text())
    person = next(a for a in data["annotations"] if not a["iscrowd"])
    image = next(im for im in data["images"] if im["id"] == person["image_id"])
    folder = tmp_path / "images"
    folder.mkdir()
    secret = tmp_path / "secret.jpg"  # outside the image folder
    secret.write_bytes((coco_images / image["file_name"]).read_bytes())
    os.symlink(secret, folder / image["file_name"])
    ann = tmp_path / "one.json"
    cocolib.export(data, [person["id"]], ann)
    people = cocolib.load(ann, folder)
    with pytest.raises(CocoFormatError, match="outside the image folder"):
        people.image_path(people.people[0])


def test_an_export_is_standard_json(coco_ann, tmp_path):
    data = json.loads(coco_ann.read_text())
    data["annotations"][0]["area"] = math.nan  # a key the schema does not read
    with pytest.raises(ValueError):
        cocolib.export(data, [data["annotations"][0]["id"]], tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
