"""Issue 30 (hardening, second round) through the running app: one app on loopback, driven
by gradio_client and plain HTTP; its messages in a real browser are in
``test_hardening2_browser.py``. The data: the demo bundle (no shared data needed)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from gradio_client import Client, handle_file

from tests.apphelpers import ROOT, running_app

BUNDLE = ROOT / "assets" / "demo" / "coco"
ANN = BUNDLE / "annotations" / "person_keypoints_demo.json"
IMAGES = BUNDLE / "images"
QUOTA_MB = 40
UPLOAD_MB = 2
ENV = {"SQUATPOSE_MAX_UPLOAD_MB": str(UPLOAD_MB), "SQUATPOSE_DISK_QUOTA_MB": str(QUOTA_MB),
       "SQUATPOSE_MAX_SECONDS": "15", "SQUATPOSE_MAX_SIDE": "1400", "SQUATPOSE_REVIEW_MAX_MB": "0.1",
       "SQUATPOSE_COCO_ANN": str(ANN), "SQUATPOSE_COCO_IMAGES": str(IMAGES)}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("hardening2-app")
    with running_app(data, ENV) as (url, proc):
        yield Client(url, verbose=False), url, data, proc


def upload(url: str, name: str, body: bytes) -> tuple[int, str]:
    """POST one file to Gradio's own upload route, as the browser does."""
    boundary = uuid.uuid4().hex
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url + "gradio_api/upload", data=data, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# -- item 2: uploads inside the app's limit and quota ------------------------------------------
def test_item2_gradio_upload_route_is_held_to_the_app_upload_limit(app):
    _, url, _, proc = app
    status, _ = upload(url, "small.bin", b"\0" * 1000)
    assert status == 200
    status, text = upload(url, "big.bin", b"\0" * (UPLOAD_MB * 2**20 + 4096))
    assert status == 413, (status, text[:300])  # Gradio's default took up to 200 MB
    assert proc.poll() is None


def test_item2_gradio_upload_route_counts_against_the_quota(app):
    _, url, data, _ = app
    filler = data / "exports" / "filler.bin"  # young: cannot be removed to make room
    filler.parent.mkdir(parents=True, exist_ok=True)
    filler.write_bytes(b"\0" * QUOTA_MB * 2**20)
    try:
        status, text = upload(url, "a.bin", b"\0" * 1000)
        assert status == 413 and "storage for uploads and results is full" in text, (status, text[:300])
        assert "/" not in text.split("full", 1)[1], text  # no server path in it
    finally:
        filler.unlink()
    assert upload(url, "a.bin", b"\0" * 1000)[0] == 200


# -- item 3: duplicate model names -------------------------------------------------------------
def test_item3_the_models_of_one_call_are_deduplicated_and_capped():
    from demo.compare import MAX_MODELS, InputProblem, available_models, chosen_models
    m = available_models()[0]
    assert chosen_models([m] * 50) == [m]
    with pytest.raises(InputProblem, match=f"one analysis runs at most {MAX_MODELS}"):
        chosen_models([f"m{i}" for i in range(MAX_MODELS + 1)])
    with pytest.raises(InputProblem, match="list of model names"):
        chosen_models({"a": 1})


def test_item3_analyze_with_too_many_models_is_refused_before_anything_runs(app):
    client, *_ = app
    with pytest.raises(Exception, match="one analysis runs at most 6"):
        client.predict(handle_file(str(ROOT / "assets/demo/clips/gym-side-two-squats.mp4")),
                       [f"model{i}" for i in range(7)], api_name="/analyze")


# -- item 8: unguessable export names, no server paths in messages ------------------------------
def test_item8_exports_get_unguessable_names_and_messages_show_no_server_path(app):
    import re
    client, url, data, _ = app
    names = []
    for _ in range(2):
        path, report = client.predict(str(ANN), str(IMAGES), False, api_name="/review_export")
        names.append(path)
        assert report["source"] == ANN.name and report["output"] == "person_keypoints_demo." \
            + report["source_sha256"][:8] + ".curated.json", report
    folders = [re.search(r"exports/([0-9a-f]+)/", n) for n in [str(p) for p in
               sorted((data / "exports").rglob("*.curated.json"))]]
    assert len(folders) == 2 and all(f and len(f.group(1)) == 32 for f in folders), folders
    assert folders[0].group(1) != folders[1].group(1)
    summary = client.predict(str(ANN), str(IMAGES), api_name="/review_summary")
    assert summary["annotation_file"] == ANN.name and "/" not in summary["images_dir"]
    missing = data / "typed" / "gone.json"  # inside the data dir: allowed, but not there
    missing.parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(Exception) as err:
        client.predict(str(missing), str(IMAGES), api_name="/review_summary")
    assert "gone.json: file not found" in str(err.value) and str(data) not in str(err.value), str(err.value)
    bad = data / "typed" / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(Exception) as err:
        client.predict(str(bad), str(IMAGES), api_name="/review_summary")
    assert "bad.json: not valid JSON" in str(err.value) and str(data) not in str(err.value), str(err.value)


# -- item 9: wrong types sent to each endpoint get one message in words, never Python's text -------
RAW = ("Traceback", "validation error", "pydantic", "invalid literal", "object has no attribute",
       "unsupported operand", "NoneType", "Errno", "<class")


def test_item9_wrong_types_get_words_not_python_text(app):
    client, *_ = app
    clip = handle_file(str(ROOT / "assets/demo/clips/gym-side-two-squats.mp4"))
    cases = [
        (("review_decide", str(ANN), 1, "accept", "", 5), "the note must be text"),
        (("review_decide", str(ANN), 1, "accept", "", ["x"]), "the note must be text"),
        (("review_decide", str(ANN), True, "accept", "", ""), "annotation id must be a whole number"),
        (("review_decide", str(ANN), 1, 5, "", ""), "decision must be one of"),
        (("review_decide", str(ANN), 1, "fix", "[1, 2]", ""), "fixes must map joint names"),
        (("review_decide", str(ANN), 1, "fix", '{"left_knee": [1, 2, true]}', ""), "fix for left_knee"),
        (("review_export", str(ANN), str(IMAGES), "yes"), "only_complete must be true or false"),
        (("review_summary", str(ANN), str(ANN)), "image folder not found"),
        (("analyze", clip, 5), "list of model names"),
        (("analyze", clip, "mobilenetv2x"), "Unknown or unavailable model(s): 'mobilenetv2x'"),
        (("analyze", "notafile", ["mobilenetv2"]), None),  # refused by Gradio before the app: no text
    ]
    for (name, *args), needle in cases:
        with pytest.raises(Exception) as err:
            client.predict(*args, api_name="/" + name)
        msg = str(err.value)
        assert not any(r in msg for r in RAW), (name, args, msg)
        if needle:
            assert needle in msg, (name, args, msg)


# -- item 2 (last: it fills the review database): Review keeps working when storage is full ----
def test_item2_when_storage_is_full_review_reads_and_refuses_new_decisions_in_words(app):
    client, *_ = app
    ids = [a["id"] for a in json.loads(ANN.read_text())["annotations"]]
    refused = None
    for k in range(300):  # SQUATPOSE_REVIEW_MAX_MB=0.1: full after a few dozen long notes
        try:
            client.predict(str(ANN), ids[k % len(ids)], ("accept", "reject")[k % 2], "", f"{k} " + "n" * 1990,
                           api_name="/review_decide")
        except Exception as e:
            refused = str(e)
            break
    assert refused and "storage is full, so this decision was not saved" in refused, refused
    assert "database or disk is full" not in refused
    summary = client.predict(str(ANN), str(IMAGES), api_name="/review_summary")  # reading works
    assert summary["person_annotations"] == len(ids)
