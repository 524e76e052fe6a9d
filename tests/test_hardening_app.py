"""Issue 19 through the running app (one instance on loopback, driven by gradio_client): every
numbered finding of the attack, refused with a message while the app keeps serving."""
from __future__ import annotations

import json
import os
import time

import pytest
from gradio_client import Client, handle_file

from tests.apphelpers import running_app
from tests.conftest import needs_mediapipe
from tests.test_hardening_clips import make_raw_stream, make_tiny_clip


#: The app's disk quota in these tests (MB): small, so that a test can fill it.
QUOTA_MB = 40
#: Left in the data dir before the app starts: what an interrupted write or an old visit left.
STALE = ["exports/.curated.json.k2j3.json.tmp", "analyses/run-x/mediapipe/.annotated.mp4.a1.tmp.mp4",
         "uploads/.partial-9f8e/imgs/a.jpg", "analyses/run-y/.mediapipe.q8w7/report.json"]
EXPIRED = "exports/old.curated.json"  # three days old: past the 24 h age limit
KEPT = "exports/recent.curated.json"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("app-hardening")
    for rel in STALE + [EXPIRED, KEPT]:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("{}")
    old = time.time() - 3 * 86400
    os.utime(d / EXPIRED, (old, old))
    return d


@pytest.fixture(scope="module")
def app(data_dir):
    env = {"SQUATPOSE_MAX_SECONDS": "15", "SQUATPOSE_MAX_SIDE": "1400",
           "SQUATPOSE_DISK_QUOTA_MB": str(QUOTA_MB)}
    with running_app(data_dir, env) as (url, proc):
        yield Client(url, verbose=False), proc


@pytest.fixture(scope="module")
def raw_stream(tmp_path_factory):
    return make_raw_stream(tmp_path_factory.mktemp("clips") / "long.mp4")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("clips") / "tiny.mp4")


# -- 1. limits on what is decoded ---------------------------------------------------------------
def test_the_app_refuses_the_raw_stream_in_seconds(app, raw_stream):
    client, proc = app
    t0 = time.perf_counter()
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(raw_stream)), ["mediapipe"], api_name="/analyze")
    took = time.perf_counter() - t0
    assert "lasts more than 15 s, over the 15 s limit" in str(err.value), str(err.value)
    assert took < 30, took  # loose: refused at the check, not after analysing 80 s of video
    assert proc.poll() is None


def test_a_one_pixel_video_gets_a_message_not_ffmpeg_text(app, tiny_clip):
    client, _ = app
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(tiny_clip)), ["mediapipe"], api_name="/analyze")
    assert "1x1 pixels, too small" in str(err.value), str(err.value)
    assert "ffmpeg" not in str(err.value).lower()


def test_the_analyze_api_with_no_model_is_refused_as_the_ui_refuses(app, clips_dir):
    client, _ = app
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(clips_dir / "oblique-single.mp4")), [], api_name="/analyze")
    assert "Choose at least one model" in str(err.value), str(err.value)




# -- 2. the Review side reads only inside its folders ---------------------------------------------
def typed_dir(data_dir, name):
    """A folder inside the app's data dir (a review root: typed paths may point there)."""
    d = data_dir / "typed" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_coco(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_a_file_name_that_escapes_the_image_folder_is_refused_naming_the_entries(app, data_dir, coco_ann,
                                                                                 coco_images):
    client, _ = app
    data = json.loads(coco_ann.read_text())
    data["images"][0]["file_name"] = "../../../../../../etc/hostname"
    data["images"][1]["file_name"] = "/etc/passwd"
    ann = write_coco(typed_dir(data_dir, "escape") / "escape.json", data)
    with pytest.raises(Exception) as err:
        client.predict(ann, str(coco_images), api_name="/review_summary")
    msg = str(err.value)
    assert "leave the image folder" in msg, msg
    for im in data["images"][:2]:
        assert f"image {im['id']} {im['file_name']!r}" in msg, msg


def test_typed_paths_outside_the_review_roots_are_refused_without_saying_whether_they_exist(
        app, tmp_path, coco_ann, coco_images):
    client, proc = app
    outside = tmp_path / "elsewhere"  # not in the data dir nor the configured data set
    outside.mkdir()
    real = outside / "real.json"
    real.write_text(coco_ann.read_text())  # a valid COCO file the server could read
    answers = {}
    for name, path in (("real.json", real), ("ghost.json", outside / "ghost.json"),
                       ("passwd", "/etc/passwd")):
        with pytest.raises(Exception) as err:
            client.predict(str(path), str(coco_images), api_name="/review_summary")
        answers[name] = str(err.value).replace(name, "NAME")
        with pytest.raises(Exception, match="only from its own data folder"):
            client.predict(str(path), str(coco_images), False, api_name="/review_export")
        with pytest.raises(Exception, match="only from its own data folder"):
            client.predict(str(path), 1, "accept", "", "", api_name="/review_decide")
    assert len(set(answers.values())) == 1, answers  # the same words whether the file exists or not
    assert "only from its own data folder" in answers["real.json"]
    with pytest.raises(Exception, match="only from its own data folder"):  # an image folder too
        client.predict(str(coco_ann), str(outside), api_name="/review_summary")
    # a detour through .. out of a root is followed before the check
    sneaky = f"{coco_images}/../../../../../../../{real.relative_to('/')}"
    with pytest.raises(Exception, match="only from its own data folder"):
        client.predict(sneaky, str(coco_images), api_name="/review_summary")
    assert proc.poll() is None
    assert client.predict(str(coco_ann), str(coco_images), api_name="/review_summary")["person_annotations"] == 167


# -- 3. one schema check for COCO input -----------------------------------------------------------
def broken_coco(coco_ann):
    """coco-mini with one invalid value in each of five annotations; returns (data, {id: needle})."""
    data = json.loads(coco_ann.read_text())
    anns = data["annotations"]
    anns[0]["keypoints"][3 * 13 + 2] = 7          # left knee visibility 7
    anns[1]["keypoints"][3 * 11 + 2] = -1         # left hip visibility -1
    anns[2]["keypoints"][3 * 15] = float("nan")   # left ankle x NaN (json writes NaN)
    anns[3]["keypoints"] = None
    anns[4]["bbox"] = None
    anns[6]["id"] = anns[5]["id"]                 # duplicate id
    anns[7]["keypoints"][0] = "abc"
    needles = {anns[0]["id"]: "visibility 7", anns[1]["id"]: "visibility -1", anns[2]["id"]: "nan",
               anns[3]["id"]: "'keypoints' must be a list", anns[4]["id"]: "bbox None",
               anns[5]["id"]: "appears twice", anns[7]["id"]: "'abc'"}
    return data, needles


def test_invalid_values_are_refused_naming_file_annotation_and_problem(app, data_dir, coco_ann, coco_images):
    client, _ = app
    data, needles = broken_coco(coco_ann)
    ann = write_coco(typed_dir(data_dir, "invalid") / "invalid.json", data)
    with pytest.raises(Exception) as err:
        client.predict(ann, str(coco_images), api_name="/review_summary")
    msg = str(err.value)
    assert "invalid.json" in msg and "7 problems" in msg, msg
    for aid, needle in needles.items():
        assert f"annotation {aid}" in msg and needle in msg, (aid, needle, msg)
    with pytest.raises(Exception, match="7 problems"):
        client.predict(ann, needles and next(iter(needles)), "accept", "", "", api_name="/review_decide")


def test_json_nested_100000_deep_gets_a_message(app, data_dir, coco_images):
    client, proc = app
    path = typed_dir(data_dir, "deep") / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(Exception, match="nested too deeply"):
        client.predict(str(path), str(coco_images), api_name="/review_summary")
    assert proc.poll() is None


# -- 4. a disk budget -----------------------------------------------------------------------------
def test_at_start_stale_temporary_files_and_expired_entries_are_gone(app, data_dir):
    for rel in STALE + [EXPIRED]:
        assert not (data_dir / rel).exists(), rel
    assert (data_dir / KEPT).exists()
    log = (data_dir / "app.log").read_text()
    assert f"of {QUOTA_MB} MB in use" in log and "4 stale temporary files removed" in log, log
    # Gradio's cache lives in the data dir and its deletion is configured (the 2 h default)
    assert "Gradio's cache: files older than 7200 s deleted every 900 s" in log, log
    assert (data_dir / "gradio").is_dir()


def test_notes_are_capped(app, coco_ann):
    client, _ = app
    people = [a["id"] for a in json.loads(coco_ann.read_text())["annotations"] if not a["iscrowd"]]
    with pytest.raises(Exception, match="notes are kept to 2,000 characters"):
        client.predict(str(coco_ann), people[-1], "accept", "", "x" * 200_000, api_name="/review_decide")
    d = client.predict(str(coco_ann), people[-1], "accept", "", "fine: " + "y" * 1990, api_name="/review_decide")
    assert d["decision"] == "accept" and len(d["note"]) == 1996


@needs_mediapipe
def test_the_quota_is_enforced_and_old_files_make_room(app, data_dir, clips_dir, monkeypatch):
    """A young file that fills the quota: the analysis is refused in words. The same file two
    hours old (past the in-use grace, not yet expired): it is removed to make room, and the
    analysis runs, its results under the data dir."""
    client, proc = app
    filler = data_dir / "exports" / "filler.bin"
    from engine import storage
    monkeypatch.setenv("SQUATPOSE_DATA_DIR", str(data_dir))
    # room for the clip's upload (0.5 MB; Gradio's upload route counts it too since issue 30)
    # but not for the analysis (the clip plus 1 MB)
    filler.write_bytes(b"\0" * (QUOTA_MB * 2**20 - storage.usage() - 2**20))
    clip = handle_file(str(clips_dir / "oblique-single.mp4"))
    with pytest.raises(Exception, match=r"storage for uploads and results is full \(\d+ MB of 40 MB"):
        client.predict(clip, ["mediapipe"], api_name="/analyze")
    assert proc.poll() is None and filler.exists()
    two_hours = time.time() - 7200
    os.utime(filler, (two_hours, two_hours))
    report = client.predict(clip, ["mediapipe"], api_name="/analyze")["mediapipe"]
    assert report["reps"] == 1
    assert not filler.exists()
    runs = list((data_dir / "analyses").glob("run-*/mediapipe/report.json"))
    assert runs, "the analysis wrote its files under the data dir"
    assert storage.usage() <= QUOTA_MB * 2**20
