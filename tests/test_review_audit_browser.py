"""The label audit in the Review tab, in a real Chromium (Playwright) against the real app: a
file audited by the real heavy teacher (``python -m engine.audit`` on three LSP people, one
of them swapped left/right by the test) is opened, both skeletons are seen on the picture,
the "swapped" audit filter finds the person, one click swaps it back, and the curated export
holds the LSP labels as they were before the test swapped them. Screenshots go to
test-artifacts/review/."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from urllib.parse import urljoin

import numpy as np
import pytest

from engine.data.coco import swap_left_right
from tests.apphelpers import ROOT, running_app
from tests.conftest import heavy_teacher_missing
from tests.test_review_audit import LSP, SWAPPED_BY_TEST, lsp_file
from tests.test_review_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "review"


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """(the file the test made, the audited copy): the real audit by the heavy teacher."""
    why = heavy_teacher_missing()
    if why:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("audit-review")
    src = lsp_file(folder)
    out = folder / "lsp3-audited.json"
    r = subprocess.run([sys.executable, "-m", "engine.audit", str(src), str(LSP / "images"), "--teacher",
                        "mediapipe-heavy", "--out", str(out), "--json", "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return src, out


def magenta(im: np.ndarray) -> np.ndarray:
    """Pixels of the teacher's left colour (255, 0, 255), allowing for JPEG."""
    return (im[..., 0] > 170) & (im[..., 1] < 110) & (im[..., 2] > 170)


def cyan(im: np.ndarray) -> np.ndarray:
    """Pixels of the teacher's right colour (0, 255, 255), allowing for JPEG."""
    return (im[..., 0] < 90) & (im[..., 1] > 200) & (im[..., 2] > 200)


def picture(page) -> tuple[str, np.ndarray]:
    """(src, RGB pixels) of the detail picture as the browser got it."""
    import cv2
    src = page.locator("#review-detail img").get_attribute("src")
    if src.startswith("data:"):
        raw = base64.b64decode(src.split(",", 1)[1])
    else:
        raw = page.request.get(urljoin(page.url, src)).body()
    im = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    return src, cv2.cvtColor(im, cv2.COLOR_BGR2RGB).astype(int)


def test_review_tab_opens_an_audited_file_and_fixes_a_swap(audited, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from review import curation
    from review.store import ReviewStore

    src, audited_path = audited
    before = audited_path.read_bytes()
    data = json.loads(before)
    n_swapped = sum("swapped" in a["audit"]["flags"] for a in data["annotations"])
    assert "swapped" in next(a for a in data["annotations"] if a["id"] == SWAPPED_BY_TEST)["audit"]["flags"]
    # where the person is in the filtered gallery, and where its left joints are drawn (zoomed)
    ds = curation.open_dataset(audited_path, LSP / "images", ReviewStore(tmp_path / "own.sqlite"))
    order = [p.ann_id for p in curation.filter_people(ds, "flagged", "any", ReviewStore(tmp_path / "own.sqlite"),
                                                      audit="swapped")]
    person = ds.person(SWAPPED_BY_TEST)
    view = curation.zoom_view(person, person.image_size)
    size = [round(view.width * view.scale), round(view.height * view.scale)]
    left_in_file = view.to_picture(person.keypoints[[0, 2, 4]])  # left hip, knee, ankle as labelled

    def colours_at_left_joints(im):
        return [np.median(im[int(round(y)) - 1: int(round(y)) + 2, int(round(x)) - 1: int(round(x)) + 2]
                          .reshape(-1, 3), axis=0) for x, y in left_in_file]

    data_dir = tmp_path / "app-data"
    env = {"SQUATPOSE_REVIEW_ROOTS": os.pathsep.join([str(audited_path.parent), str(LSP / "images")])}
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(data_dir, env) as (url, _), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.set_default_timeout(180_000)
        page.goto(url)
        page.get_by_role("tab", name="Review").click()
        page.wait_for_selector("#review-gallery img")  # the default data set, loaded at start
        # open the audited file by its path
        page.locator("#review-ann textarea, #review-ann input").first.fill(str(audited_path))
        page.locator("#review-images textarea, #review-images input").first.fill(str(LSP / "images"))
        page.locator("#review-load").click()
        page.wait_for_function("() => document.querySelector('#review-summary').innerText.includes('Label audit')")
        assert f"{n_swapped} left/right swapped" in page.locator("#review-summary").inner_text()

        # the audit filter: swapped
        page.locator("#review-audit-filter input").click()
        page.get_by_role("option", name="Left and right look swapped").click()
        page.wait_for_function(f"() => document.body.innerText.includes('{len(order)} people match')")
        assert len(order) == n_swapped
        page.screenshot(path=str(SHOTS / "audit-0-filtered.png"), full_page=True)
        page.locator("#review-gallery img").nth(order.index(SWAPPED_BY_TEST)).click()
        try:
            page.wait_for_function(f"() => document.querySelector('#review-info').innerText"
                                   f".includes('Annotation {SWAPPED_BY_TEST}')", timeout=60_000)
        except Exception:
            page.screenshot(path=str(SHOTS / "audit-0-not-selected.png"), full_page=True)
            print(open(data_dir / "app.log").read()[-3000:])
            raise
        info = page.locator("#review-info").inner_text()
        assert "audit: swapped" in info and "person sizes closer to the teacher" in info
        assert page.locator("#review-legend img").is_visible()

        # both skeletons on the (zoomed) picture: the teacher's colours, which the photo lacks,
        # and the label's left joints in orange
        page.locator("#review-zoom input").check()
        page.wait_for_function("(s) => { const i = document.querySelector('#review-detail img');"
                               " return i && i.naturalWidth === s[0] && i.naturalHeight === s[1]; }", arg=size)
        shown_src, shown = picture(page)
        photo = curation.read_rgb(LSP / "images" / person.file_name).astype(int)
        assert magenta(photo).sum() == 0 and cyan(photo).sum() < 20
        assert magenta(shown).sum() > 150 and cyan(shown).sum() > 150, (magenta(shown).sum(), cyan(shown).sum())
        for r, g, b in colours_at_left_joints(shown):
            assert r > 200 and b < 100, (r, g, b)  # orange: the label's left
        page.screenshot(path=str(SHOTS / "audit-1-swapped-person.png"), full_page=True)

        # one action: swap left/right; the picture shows it at once (blue where orange was)
        page.locator("#review-swap").click()
        page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('left/right swapped')")
        page.wait_for_function("(old) => { const i = document.querySelector('#review-detail img');"
                               " return i && i.getAttribute('src') !== old && i.complete && i.naturalWidth > 0; }",
                               arg=shown_src)
        assert "1 fixed" in page.locator("#review-progress").inner_text()
        _, fixed = picture(page)
        for r, g, b in colours_at_left_joints(fixed):
            assert b > 200 and r < 100, (r, g, b)  # blue: those joints are the right ones now
        page.screenshot(path=str(SHOTS / "audit-2-swap-fixed.png"), full_page=True)

        page.locator("#review-export").click()
        page.wait_for_function("() => document.querySelector('#review-report').innerText.includes('swapped_ids')")
        page.screenshot(path=str(SHOTS / "audit-3-exported.png"), full_page=True)
        browser.close()

    exports = sorted((data_dir / "exports").rglob("lsp3-audited.*.curated.json"))
    assert len(exports) == 1, exports
    out = {a["id"]: a for a in json.loads(exports[0].read_text())["annotations"]}
    made = {a["id"]: a for a in json.loads(src.read_text())["annotations"]}
    inp = {a["id"]: a for a in data["annotations"]}
    fixed_ann = out[SWAPPED_BY_TEST]
    # the exported joints are the swapped ones: the LSP labels from before the test swapped them
    assert fixed_ann["keypoints"] == swap_left_right(made[SWAPPED_BY_TEST]["keypoints"])
    assert fixed_ann["keypoints"] == swap_left_right(inp[SWAPPED_BY_TEST]["keypoints"])
    assert fixed_ann["keypoints"] != inp[SWAPPED_BY_TEST]["keypoints"]
    assert fixed_ann["audit"]["review_fix"]["swapped_left_right"] is True
    for aid in set(out) - {SWAPPED_BY_TEST}:
        assert out[aid] == inp[aid]  # everyone else as audited
    assert audited_path.read_bytes() == before  # the input is never modified
