"""The Review tab in a real Chromium (Playwright) against the real app: filter, select a person,
place a missing joint by clicking the image, save the fix, export. Screenshots go to
test-artifacts/review/."""
from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from tests.apphelpers import ROOT, running_app

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "review"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, coco_ann, coco_images):
    env = {"SQUATPOSE_COCO_ANN": str(coco_ann), "SQUATPOSE_COCO_IMAGES": str(coco_images)}
    with running_app(tmp_path_factory.mktemp("review-browser"), env) as (url, _):
        yield url


@pytest.fixture()
def page(app_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1600})
        pg.set_default_timeout(180_000)  # slow shared CI machines
        pg.goto(app_url)
        yield pg
        browser.close()


def test_filter_select_place_missing_joint_save_and_export(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_role("tab", name="Review").click()
    page.wait_for_selector("#review-gallery img")
    assert "0 of 149 flagged people reviewed" in page.locator("#review-progress").inner_text()

    # filter: some joints missing
    page.locator("#review-filter input").click()
    page.get_by_role("option", name="Some joints missing (1-5 of 6)").click()
    page.wait_for_function("() => document.querySelector('#review-gallery') && "
                           "document.body.innerText.includes('28 people match')")
    page.screenshot(path=str(SHOTS / "1-filtered.png"), full_page=True)

    # select the first person; the joint dropdown jumps to a missing joint
    page.locator("#review-gallery img").first.click()
    page.wait_for_selector("#review-detail img")
    page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('missing:')")
    info = page.locator("#review-info").inner_text()
    missing = re.search(r"missing: ([a-z_, ]+)", info).group(1).split(", ")[0].strip()
    page.locator("#review-joint input").click()
    page.get_by_role("option", name=missing, exact=True).click()

    # place it by clicking the image: the middle of the picture is the middle of the image
    img = page.locator("#review-detail img")
    # choosing the joint redraws the picture (the chosen joint highlighted); a click that lands
    # while the new picture replaces the old one reaches no image, as a user's would not, so
    # the click is repeated (as a user would) until the fix is pending
    placed = "() => document.querySelector('#review-pending').innerText.includes('Fix to save')"
    for attempt in range(6):
        page.wait_for_function("() => { const i = document.querySelector('#review-detail img');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        box = img.bounding_box()
        natural = page.evaluate("() => { const i = document.querySelector('#review-detail img');"
                                " return [i.naturalWidth, i.naturalHeight]; }")
        img.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.6})
        try:
            page.wait_for_function(placed, timeout=30_000)
            break
        except Exception:  # playwright's TimeoutError: click again
            page.screenshot(path=str(SHOTS / f"2-click-{attempt + 1}-lost.png"), full_page=True)
            if attempt == 5:
                raise
    pending = page.locator("#review-pending").inner_text()
    x, y = (float(v) for v in re.search(rf"{missing} → \((\d+), (\d+)\)", pending).groups())
    assert abs(x - natural[0] * 0.5) <= 3 and abs(y - natural[1] * 0.6) <= 3, (pending, natural)
    page.screenshot(path=str(SHOTS / "2-placed.png"), full_page=True)

    page.locator("#review-save-fix").click()
    page.wait_for_function("() => document.querySelector('#review-progress').innerText"
                           ".startsWith('1 of 149 flagged people reviewed')")
    assert "1 fixed" in page.locator("#review-progress").inner_text()

    # keyboard: 'a' accepts the person shown next (focus out of text boxes first)
    page.locator("#review-summary").click()
    page.keyboard.press("a")
    page.wait_for_function("() => document.querySelector('#review-progress').innerText.startsWith('2 of 149')")

    page.locator("#review-export").click()
    page.wait_for_function("() => document.querySelector('#review-report').innerText.includes('fixed_ids')")
    report = page.locator("#review-report").inner_text()
    assert "curated.json" in page.locator("#review-export-file").inner_text().replace("\n", "")
    page.screenshot(path=str(SHOTS / "3-exported.png"), full_page=True)
    assert re.search(r"fixed\W+1\b", report), report


def test_zoom_on_a_small_person_places_joints_in_image_pixels(page, coco_ann, coco_images, tmp_path):
    from review import curation
    from review.store import ReviewStore
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_role("tab", name="Review").click()
    page.wait_for_selector("#review-gallery img")
    page.locator("#review-filter input").click()
    page.get_by_role("option", name="Box too small").click()
    page.wait_for_function("() => /\\b81 people match/.test(document.body.innerText)")
    page.locator("#review-gallery img").nth(2).click()
    page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('Annotation')")
    aid = int(re.search(r"Annotation (\d+)", page.locator("#review-info").inner_text()).group(1))
    ds = curation.open_dataset(coco_ann, coco_images, ReviewStore(tmp_path / "r.sqlite"))
    person = ds.person(aid)
    view = curation.zoom_view(person, person.image_size)
    size = (round(view.width * view.scale), round(view.height * view.scale))

    page.locator("#review-zoom input").check()
    page.wait_for_function("(s) => { const i = document.querySelector('#review-detail img');"
                           " return i && i.naturalWidth === s[0] && i.naturalHeight === s[1]; }", arg=list(size))
    img = page.locator("#review-detail img")
    box = img.bounding_box()
    img.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
    page.wait_for_function("() => document.querySelector('#review-pending').innerText.includes('Fix to save')")
    pending = page.locator("#review-pending").inner_text()
    x, y = (float(v) for v in re.search(r"→ \((\d+), (\d+)\)", pending).groups())
    ex, ey = view.to_image(size[0] * 0.5, size[1] * 0.5)
    # one picture pixel is 1/scale image pixels: the click lands within a pixel of the centre
    assert abs(x - ex) <= 1.5 and abs(y - ey) <= 1.5, (pending, (ex, ey), view)
    page.screenshot(path=str(SHOTS / "4-zoomed.png"), full_page=True)

    # 81 small people: two pages of 60; the second page holds the other 21
    assert "page 1 of 2 (people 1-60)" in page.locator("body").inner_text()
    page.locator("#review-page input").fill("2")
    page.locator("#review-page input").press("Enter")
    page.wait_for_function("() => document.body.innerText.includes('page 2 of 2 (people 61-81)')")
    page.wait_for_function("() => document.querySelectorAll('#review-gallery img').length === 21")


def test_upload_json_and_zip_then_a_bad_zip_is_refused_in_words(page, coco_ann, coco_images, tmp_path):
    """The upload road: a COCO .json plus a .zip of its images opens like typed paths; a file
    that is not a zip gets a clear error and the tab keeps working."""
    import zipfile
    from engine.data.coco import export
    data = json.loads(coco_ann.read_text())
    with_people = sorted({a["image_id"] for a in data["annotations"] if not a.get("iscrowd")})[:3]
    keep = [a["id"] for a in data["annotations"] if a["image_id"] in with_people]
    people = sum(1 for a in data["annotations"] if a["id"] in keep and not a.get("iscrowd"))
    ann = export(data, keep, tmp_path / "three.json")
    good = tmp_path / "three-images.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for im in data["images"]:
            if im["id"] in with_people:
                zf.write(coco_images / im["file_name"], f"imgs/{im['file_name']}")
    bad = tmp_path / "broken.zip"
    bad.write_text("this is not an archive")

    page.get_by_role("tab", name="Review").click()
    page.wait_for_selector("#review-gallery img")
    page.locator("#review-json-upload input[type=file]").set_input_files(str(ann))
    page.locator("#review-zip-upload input[type=file]").set_input_files(str(good))
    page.wait_for_selector('#review-zip-upload td.filename[aria-label="three-images.zip"]')
    page.locator("#review-load").click()
    page.wait_for_function("(n) => document.querySelector('#review-summary').innerText.startsWith(n + ' people')",
                           arg=people)
    assert page.locator("#review-ann textarea, #review-ann input").first.input_value().endswith("three.json")
    page.screenshot(path=str(SHOTS / "5-uploaded.png"), full_page=True)

    page.locator("#review-zip-upload button[aria-label=Clear]").click()
    page.locator("#review-zip-upload input[type=file]").set_input_files(str(bad))
    page.wait_for_selector('#review-zip-upload td.filename[aria-label="broken.zip"]')
    page.locator("#review-load").click()
    page.wait_for_function("() => document.body.innerText.includes('broken.zip: not a zip archive')")
    page.screenshot(path=str(SHOTS / "6-bad-zip.png"), full_page=True)
    # still serving: the gallery answers a click with the person's detail
    page.locator("#review-gallery img").first.click()
    page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('Annotation')")
