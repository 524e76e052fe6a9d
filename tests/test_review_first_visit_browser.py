"""Issue 31 item 9, the Review tab as a first-time user meets it, on the demo bundle's eight
people (assets/demo/coco) in a 1280x800 window: the filter's name is not cut off, the
gallery's highlight follows Accept to the next person, a small person opens zoomed, and the
yellow ring has a one-line legend. One app start."""
from __future__ import annotations

from pathlib import Path

import pytest

from review import curation
from review.store import ReviewStore
from tests.apphelpers import running_app
from tests.test_compare_browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM

ROOT = Path(__file__).resolve().parents[1]
ANN = ROOT / "assets" / "demo" / "coco" / "annotations" / "person_keypoints_demo.json"
IMAGES = ROOT / "assets" / "demo" / "coco" / "images"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium)")]

SELECTED_JS = """() => [...document.querySelectorAll('#review-gallery .thumbnail-item')]
                      .findIndex(b => b.classList.contains('selected'))"""


@pytest.fixture(scope="module")
def review_page(tmp_path_factory):
    from playwright.sync_api import sync_playwright
    tmp = tmp_path_factory.mktemp("review-first")
    env = {"SQUATPOSE_COCO_ANN": str(ANN), "SQUATPOSE_COCO_IMAGES": str(IMAGES)}
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(tmp / "data", env) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.get_by_role("tab", name="Review").click()
        page.wait_for_selector("#review-gallery img")
        yield page, tmp
        browser.close()


def test_the_filter_name_is_not_cut_off(review_page):
    page, _ = review_page
    box = page.locator("#review-filter input")
    assert box.input_value() == curation.FILTERS["flagged"]
    width = box.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert width[0] <= width[1], width


def test_the_gallery_highlight_follows_accept(review_page):
    page, _ = review_page
    page.locator("#review-gallery .thumbnail-item").first.click()
    page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('Annotation')")
    assert page.evaluate(SELECTED_JS) == 0
    first = page.locator("#review-info").inner_text()
    page.locator("#review-accept").click()
    page.wait_for_function("(old) => document.querySelector('#review-info').innerText !== old", arg=first)
    page.wait_for_function(f"() => ({SELECTED_JS})() === 1")
    page.screenshot(path=str(ARTIFACTS / "review-after-accept.png"), full_page=True)


def test_a_small_person_opens_zoomed_and_the_ring_is_explained(review_page):
    page, tmp = review_page
    ds = curation.open_dataset(ANN, IMAGES, ReviewStore(tmp / "r.sqlite"))
    order = [p.ann_id for p in curation.filter_people(ds, "flagged", "any")]
    people = {a: ds.person(a) for a in order}
    small = next(a for a in order if curation.zoom_by_default(people[a], people[a].image_size))
    large = next(a for a in order if not curation.zoom_by_default(people[a], people[a].image_size))
    for aid, zoomed in ((large, False), (small, True)):
        page.locator("#review-gallery .thumbnail-item").nth(order.index(aid)).click()
        page.wait_for_function("(a) => document.querySelector('#review-info').innerText"
                               ".includes('Annotation ' + a)", arg=aid)
        view = curation.zoom_view(people[aid], people[aid].image_size, zoomed)
        size = [round(view.width * view.scale), round(view.height * view.scale)]
        page.wait_for_function("(s) => { const i = document.querySelector('#review-detail img');"
                               " return i && i.naturalWidth === s[0] && i.naturalHeight === s[1]; }", arg=size)
        assert page.locator("#review-zoom input").is_checked() == zoomed, aid
    page.screenshot(path=str(ARTIFACTS / "review-small-person.png"), full_page=True)
    legend = page.locator("#review-ring-legend")
    assert legend.is_visible() and "Yellow ring" in legend.inner_text()
    assert len(legend.inner_text().strip().splitlines()) == 1
