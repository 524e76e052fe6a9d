"""Issue 30, item 1: on a public app (``SPACE_ID`` set, as on a Space) one visitor cannot see
or undo another's Review decisions; the shared curated set changes only for a signed-in
maintainer. Two browser contexts (two visitors) against one real app, then a maintainer."""
from __future__ import annotations

import pytest

from tests.apphelpers import ROOT, running_app
from tests.test_review_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "public"
BUNDLE = ROOT / "assets" / "demo" / "coco"
ANN = BUNDLE / "annotations" / "person_keypoints_demo.json"
TOKEN = "test-maintainer-token-7f3a"


@pytest.fixture(scope="module")
def public_app(tmp_path_factory):
    data = tmp_path_factory.mktemp("public-app")
    env = {"SPACE_ID": "someone/squatpose", "SQUATPOSE_MAINTAINER_TOKEN": TOKEN,
           "SQUATPOSE_COCO_ANN": str(ANN), "SQUATPOSE_COCO_IMAGES": str(BUNDLE / "images")}
    with running_app(data, env) as (url, _):
        yield url, data


def _open_review(browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_role("tab", name="Review").click()
    page.wait_for_selector("#review-gallery img")
    return page


def _select_first(page):
    page.locator("#review-gallery img").first.click()
    page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('Annotation')")


def _info(page) -> str:
    return page.locator("#review-info").inner_text()


def test_item1_visitors_keep_their_own_decisions_and_only_a_maintainer_changes_the_shared_set(public_app):
    from review.store import ReviewStore, file_sha256
    url, data = public_app
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        a = _open_review(browser, url)
        assert "You are a visitor" in a.locator("#review-role").inner_text()
        _select_first(a)
        aid = _info(a).split("Annotation ")[1].split()[0]
        a.locator("#review-note textarea").fill("visitor A's private note")
        a.locator("#review-reject").click()
        a.wait_for_function("() => document.querySelector('#review-progress').innerText.startsWith('1 of')")

        b = _open_review(browser, url)  # a second visitor
        assert b.locator("#review-progress").inner_text().startswith("0 of"), "B sees A's decision"
        _select_first(b)
        assert f"Annotation {aid}" in _info(b) and "decision: none yet" in _info(b)
        assert "private note" not in b.content()
        b.locator("#review-undo").click()  # B's undo: nothing of B's to undo, A's decision stays
        b.wait_for_function("() => document.body.innerText.includes('nothing to undo')")
        b.screenshot(path=str(SHOTS / "visitor-b.png"), full_page=True)
        a.locator("#review-load").click()
        a.wait_for_function("() => document.querySelector('#review-progress').innerText.startsWith('1 of')")

        # nothing reached the shared store
        shared = ReviewStore(data / "review.sqlite")
        sha = file_sha256(ANN)
        assert shared.all(sha) == {}

        # a wrong token is refused; the right one makes B a maintainer, whose accept is shared
        b.locator("#review-token input").fill("guess")
        b.locator("#review-sign-in").click()
        b.wait_for_function("() => document.body.innerText.includes('not the maintainer token')")
        b.locator("#review-token input").fill(TOKEN)
        b.locator("#review-sign-in").click()
        b.wait_for_function("() => document.querySelector('#review-role').innerText.includes('Signed in as maintainer')")
        b.locator("#review-load").click()
        b.wait_for_function("() => document.querySelector('#review-progress').innerText.startsWith('0 of')")
        _select_first(b)
        b.locator("#review-accept").click()
        b.wait_for_function("() => document.querySelector('#review-progress').innerText.startsWith('1 of')")
        b.screenshot(path=str(SHOTS / "maintainer-b.png"), full_page=True)
        decided = shared.all(sha)
        assert [d.decision for d in decided.values()] == ["accept"], decided
        assert all("private note" not in d.note for d in decided.values())
        # and visitor A still sees only A's own reject
        a.locator("#review-load").click()
        a.wait_for_function("() => document.querySelector('#review-progress').innerText.includes('1 rejected')")
        assert "1 accepted" not in a.locator("#review-progress").inner_text()
        browser.close()
