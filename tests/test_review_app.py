"""The real app on loopback through gradio_client: the Review endpoints on coco-mini,
decisions kept across a restart, and bad input answered in words while the app keeps serving."""
from __future__ import annotations

import contextlib
import io
import json

import pytest
from gradio_client import Client

from tests.apphelpers import ROOT, running_app


def load_coco(path):
    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("review-app")


@pytest.fixture(scope="module")
def app(data_dir):
    with running_app(data_dir) as (url, proc):
        yield Client(url, verbose=False), proc


@pytest.fixture(scope="module")
def coco(coco_ann):
    return json.loads(coco_ann.read_text())


def test_review_summary_counts_coco_mini(app, coco_ann, coco_images):
    client, _ = app
    s = client.predict(str(coco_ann), str(coco_images), api_name="/review_summary")
    assert (s["person_annotations"], s["none_labeled"], s["all_labeled"], s["all_visible"]) == (167, 114, 25, 21)


def test_decisions_then_export_give_exactly_the_expected_annotations(app, coco_ann, coco_images, coco):
    client, _ = app
    people = [a for a in coco["annotations"] if not a.get("iscrowd")]
    crowd = {a["id"] for a in coco["annotations"] if a.get("iscrowd")}
    rejected, fixed, undone = people[0]["id"], people[1]["id"], people[2]["id"]
    client.predict(str(coco_ann), rejected, "reject", "", "duplicate", api_name="/review_decide")
    d = client.predict(str(coco_ann), fixed, "fix", json.dumps({"left_knee": [11.5, 22.5, 1]}), "",
                       api_name="/review_decide")
    assert d["decision"] == "fix" and d["fixes"] == {"left_knee": [11.5, 22.5, 1]}
    client.predict(str(coco_ann), undone, "reject", "", "", api_name="/review_decide")
    d = client.predict(str(coco_ann), undone, "undo", "", "", api_name="/review_decide")
    assert d["decision"] is None

    path, report = client.predict(str(coco_ann), str(coco_images), False, api_name="/review_export")
    out = load_coco(path)
    assert set(out.anns) == {a["id"] for a in people} - {rejected} | crowd
    assert out.anns[fixed]["keypoints"][3 * 13: 3 * 13 + 3] == [11.5, 22.5, 1]
    assert (report["kept"], report["fixed"], report["dropped"]) == (166, 1, 1)
    assert report["rejected_ids"] == [rejected]


def test_decisions_survive_an_app_restart(app, data_dir, coco_ann, coco):
    client, proc = app
    aid = [a["id"] for a in coco["annotations"] if not a.get("iscrowd")][5]
    client.predict(str(coco_ann), aid, "accept", "", "checked before restart", api_name="/review_decide")
    with running_app(data_dir, log=data_dir / "second.log") as (url2, _):
        # a second server on the same data: same database, the decision is there
        d = Client(url2, verbose=False).predict(str(coco_ann), aid, "accept", "", "",
                                                api_name="/review_decide")
        assert d["created_at"] < d["updated_at"]  # it replaced an earlier decision
        d = Client(url2, verbose=False).predict(str(coco_ann), aid, "undo", "", "",
                                                api_name="/review_decide")
        assert d["decision"] == "accept" and d["note"] == "checked before restart"


@pytest.mark.parametrize("kind,needle", [
    ("wrong json", "not valid JSON"),
    ("not coco", "not a COCO"),
    ("missing file", "file not found"),
    ("missing images", "image folder not found"),
])
def test_bad_input_gets_a_clear_error_and_the_app_keeps_serving(app, data_dir, coco_ann, coco_images,
                                                               kind, needle):
    client, proc = app
    folder = data_dir / "typed" / kind.replace(" ", "-")  # typed paths must lie in a review root
    folder.mkdir(parents=True, exist_ok=True)
    ann, imgs = str(coco_ann), str(coco_images)
    if kind == "wrong json":
        (folder / "a.json").write_text("{ this is not json")
        ann = str(folder / "a.json")
    elif kind == "not coco":
        (folder / "a.json").write_text(json.dumps({"hello": 1}))
        ann = str(folder / "a.json")
    elif kind == "missing file":
        ann = str(folder / "nope.json")
    else:
        imgs = str(folder / "no-images")
    with pytest.raises(Exception, match=needle):
        client.predict(ann, imgs, api_name="/review_summary")
    with pytest.raises(Exception, match="(decision must be|no person annotation)"):
        client.predict(str(coco_ann), 1, "keep", "", "", api_name="/review_decide")
    assert proc.poll() is None
    s = client.predict(str(coco_ann), str(coco_images), api_name="/review_summary")
    assert s["person_annotations"] == 167


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout: no tracked files to copy")
def test_without_data_the_tab_says_what_to_load(tmp_path):
    """No SQUATPOSE_COCO_*, no shared coco-mini and no demo bundle (a copy of the tracked files
    without assets/demo): the Review tab opens empty and says what to load; asking for a
    summary without paths is answered in words."""
    import urllib.request
    from tests.spaceenv import copy_tracked
    copy = copy_tracked(tmp_path / "copy", leave_out=("assets/demo/",))
    env = {"SQUATPOSE_SHARED_DATA": str(tmp_path / "no-shared-data"), "SQUATPOSE_COCO_ANN": "",
           "SQUATPOSE_COCO_IMAGES": ""}
    with running_app(tmp_path / "data", env, cwd=copy) as (url, proc):
        with urllib.request.urlopen(url + "config", timeout=30) as r:
            config = r.read().decode()
        assert "Nothing loaded" in config and "SQUATPOSE_COCO_ANN" in config
        with pytest.raises(Exception, match="no annotation file given"):
            Client(url, verbose=False).predict("", "", api_name="/review_summary")
        assert proc.poll() is None
