"""Issue 30: the app's messages for items 3-11 as a visitor sees them, in a real Chromium
against one real app (items 10 and the joint-file part of 11 are CLI-only, item 7 has no
message: see docs/hardening.md). Screenshots: test-artifacts/hardening2/."""
from __future__ import annotations

import json
import zipfile

import pytest

from tests.apphelpers import ROOT, running_app
from tests.test_hardening2_clips import make_huge_mjpeg
from tests.test_hardening2_data import ANN, BUNDLE, bomb_png, good_audit, truncated_jpeg
from tests.test_review_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "hardening2"

#: Calls a named endpoint over Gradio's HTTP API from the page, returns the error text.
API_ERROR_JS = """
async ([name, data]) => {
  const r = await fetch(`gradio_api/call/${name}`, {method: 'POST',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({data})});
  const {event_id} = await r.json();
  const text = await (await fetch(`gradio_api/call/${name}/${event_id}`)).text();
  return text;
}
"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    env = {"SQUATPOSE_MAX_SIDE": "1400", "SQUATPOSE_MAX_SECONDS": "15",
           "SQUATPOSE_COCO_ANN": str(ANN), "SQUATPOSE_COCO_IMAGES": str(BUNDLE / "images")}
    with running_app(tmp_path_factory.mktemp("hardening2-browser"), env) as (url, _):
        yield url


def _files(tmp_path):
    """The bad inputs: a 16000x16000 clip, COCO files with a 1e308 keypoint and with an audit
    carrying an unknown field, a damaged zip, and a zip of the bundle's images where one is a
    PNG claiming 60000x60000 and one a truncated JPEG."""
    data = json.loads(ANN.read_text())
    out = {"huge": make_huge_mjpeg(tmp_path / "huge.mp4")}
    big = json.loads(json.dumps(data))
    big["annotations"][0]["keypoints"][3 * 13] = 1e308
    out["big_json"] = tmp_path / "big-keypoint.json"
    out["big_json"].write_text(json.dumps(big))
    audited = json.loads(json.dumps(data))
    audited["annotations"][0]["audit"] = {**good_audit(), "injected": True}
    out["audit_json"] = tmp_path / "odd-audit.json"
    out["audit_json"].write_text(json.dumps(audited))
    imgs = sorted(im["file_name"] for im in data["images"])
    bomb_png(tmp_path / "bomb.png")
    truncated_jpeg(tmp_path / "half.jpg")
    out["zip"] = tmp_path / "images.zip"
    with zipfile.ZipFile(out["zip"], "w") as zf:
        for k, name in enumerate(imgs):
            src = {0: tmp_path / "bomb.png", 1: tmp_path / "half.jpg"}.get(k, BUNDLE / "images" / name)
            zf.write(src, f"imgs/{name}")
    good = out["zip"].read_bytes()
    out["damaged_zip"] = tmp_path / "damaged.zip"
    out["damaged_zip"].write_bytes(good[: len(good) // 2])
    return out


def _load(page, json_path, zip_path):
    for sel, path in (("#review-json-upload", json_path), ("#review-zip-upload", zip_path)):
        clear = page.locator(f"{sel} button[aria-label=Clear]")
        if clear.count():
            clear.first.click()
        page.locator(f"{sel} input[type=file]").set_input_files(str(path))
        page.wait_for_selector(f'{sel} td.filename[aria-label="{path.name}"]')
    page.locator("#review-load").click()


def _shows(page, text: str) -> None:
    page.wait_for_function("(t) => document.body.innerText.includes(t)", arg=text)


def test_items_3_to_11_messages_in_the_browser(app_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    f = _files(tmp_path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(120_000)
        page.goto(app_url)

        # item 4: a 16000x16000 clip is refused from its header, in words, before decoding
        page.locator("#clip-input input[type=file]").set_input_files(str(f["huge"]))
        page.wait_for_function("() => document.querySelector('#estimate').innerText.includes('16000x16000')")
        assert "over the 1400-pixel resolution limit" in page.locator("#estimate").inner_text()
        page.screenshot(path=str(SHOTS / "4-huge-clip.png"), full_page=True)

        # item 3 (API only: the tab cannot choose a model twice), item 9: from this page's fetch
        text = page.evaluate(API_ERROR_JS, ["analyze", [None, ["mobilenetv2"] * 3 + [f"m{i}" for i in range(6)]]])
        assert "one analysis runs at most 6" in text and "Traceback" not in text, text
        text = page.evaluate(API_ERROR_JS, ["review_decide", [str(ANN), 1, "accept", "", 5]])
        assert "the note must be text" in text, text

        page.get_by_role("tab", name="Review").click()
        page.wait_for_selector("#review-gallery img")
        # item 5: a keypoint of 1e308: that record set aside naming its annotation, the rest loaded
        _load(page, f["big_json"], f["zip"])
        _shows(page, "1 record(s) set aside")
        _shows(page, "keypoint 13 has x, y = 1e+308, 422.32, far outside its")
        page.screenshot(path=str(SHOTS / "5-big-keypoint.png"), full_page=True)
        # item 6: an audit with an unknown field
        _load(page, f["audit_json"], f["zip"])
        _shows(page, "audit has unknown field(s) 'injected'")
        page.screenshot(path=str(SHOTS / "6-audit.png"), full_page=True)
        # item 9: a damaged zip (its end cut off) said in words
        _load(page, ANN, f["damaged_zip"])
        _shows(page, "damaged.zip: not a zip archive")
        # items 4 and 11: one image claims 60000x60000, one is truncated: both refused, the rest shown
        _load(page, ANN, f["zip"])
        _shows(page, "image not shown: the image claims more than 50 million pixels")
        _shows(page, "image not shown: the image is damaged")
        n_people = len(json.loads(ANN.read_text())["annotations"])
        assert page.locator("#review-gallery img").count() >= n_people - 1
        page.screenshot(path=str(SHOTS / "4-11-gallery.png"), full_page=True)
        # item 8: the export is offered by its file name; its report names no server path
        page.locator("#review-export").click()
        page.wait_for_function("() => document.querySelector('#review-report').innerText.includes('output')")
        report = page.locator("#review-report").inner_text()
        assert "person_keypoints_demo." in report and "exports/" not in report and "/tmp" not in report, report
        assert "curated.json" in page.locator("#review-export-file").inner_text().replace("\n", "")
        page.screenshot(path=str(SHOTS / "8-export.png"), full_page=True)
        browser.close()
