"""Issue 31's walk, as a first-time user meets the Compare tab: a 1280x800 window, the demo
bundle's clip, Analyse with the defaults. The summary is in view without scrolling, no table
overflows, the scorecard's default is ticked and marked in the list and every result table,
and the progress shows one line per model (its name once, its stage, the time left). One app
start, one analysis, for every check."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from engine.models.weights import default_model
from tests.apphelpers import running_app
from tests.test_compare_browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets" / "demo" / "clips" / "gym-side-two-squats.mp4"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium)")]

#: Every table on the page that shows a horizontal scroll: [elem id of its block, scrollWidth, clientWidth].
OVERFLOWS_JS = """() => [...document.querySelectorAll('table')].map(t => {
    const wrap = t.closest('.table-wrap') || t.parentElement;
    return [(t.closest('[id]') || {}).id, wrap.scrollWidth, wrap.clientWidth];
}).filter(([id, sw, cw]) => sw > cw + 1)"""

#: Record, every 100 ms, what the run's progress bar says (its one line, on the summary block).
WATCH_PROGRESS_JS = """() => {
    window.__progress = [];
    window.__watch = setInterval(() => {
        const s = document.querySelector('#run-summary [data-testid=status-tracker]');
        const t = s && s.innerText.trim();
        if (t && window.__progress[window.__progress.length - 1] !== t) window.__progress.push(t);
    }, 100);
}"""


def _in_view(page, selector) -> dict:
    return page.locator(selector).evaluate("""e => { const r = e.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, height: innerHeight, scrolled: scrollY}; }""")


@pytest.fixture(scope="module")
def first_visit(tmp_path_factory):
    """The app with its shipped weights and the demo bundle as examples; the clip analysed
    with the models ticked on page load. Yields (page, progress lines seen, ticked models)."""
    from playwright.sync_api import expect, sync_playwright
    tmp = tmp_path_factory.mktemp("first-visit")
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(tmp / "data", {"SQUATPOSE_EXAMPLES": str(CLIP.parent)}) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.locator("#clip-input input[type=file]").set_input_files(str(CLIP))
        expect(page.locator("#estimate")).to_contain_text(" frames (", timeout=300_000)
        ticked = [page.locator("#model-choice label").filter(has=page.locator("input:checked")).nth(i).inner_text()
                  .strip() for i in range(page.locator("#model-choice input:checked").count())]
        page.screenshot(path=str(ARTIFACTS / "first-visit-loaded.png"))
        page.evaluate(WATCH_PROGRESS_JS)
        page.locator("#analyse-button").click()
        expect(page.locator("#run-summary")).to_contain_text("Took", timeout=600_000)
        time.sleep(1.0)  # the scroll after the run
        lines = page.evaluate("() => { clearInterval(window.__watch); return window.__progress; }")
        page.screenshot(path=str(ARTIFACTS / "first-visit-analysed.png"))
        yield page, lines, ticked
        browser.close()


def test_default_is_ticked_and_marked_recommended(first_visit):
    page, _, ticked = first_visit
    default = default_model()
    assert ticked[0] == f"{default} (recommended)"
    assert "attention" not in ticked and len(ticked) <= 2
    labels = [t.strip() for t in page.locator("#model-choice label").all_inner_texts()]
    assert sum("(recommended)" in t for t in labels) == 1
    # every result table marks it too
    for table in ("#rep-table", "#model-summary"):
        cells = [c.strip() for c in page.locator(f"{table} [role=gridcell]").all_inner_texts()]
        assert f"{default} (recommended)" in cells, (table, cells)
    assert f"{default} (recommended)" in page.locator("#feedback").inner_text()


def test_summary_is_in_view_without_scrolling(first_visit):
    page, _, _ = first_visit
    box = _in_view(page, "#run-summary")
    assert 0 <= box["top"] and box["bottom"] <= box["height"], box
    text = page.locator("#run-summary").inner_text()
    assert re.search(r"^\d+ reps? — ", text, re.M), text  # reps first
    assert "Rep 1 (" in text and "parallel" in text  # depth per rep
    assert "Took" in text


def test_no_table_overflows_at_1280(first_visit):
    page, _, _ = first_visit
    assert page.locator("#rep-table [role=gridcell]").count() >= 9
    assert page.evaluate(OVERFLOWS_JS) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280


def test_progress_shows_one_line_per_model(first_visit):
    _, lines, ticked = first_visit
    names = [t.replace(" (recommended)", "") for t in ticked]
    assert lines, "no progress seen"
    seen = set()
    for text in lines:
        for name in names:
            assert len(re.findall(rf"\b{re.escape(name)}\b", text)) <= 1, text
        who = [n for n in names if re.search(rf"\b{re.escape(n)}\b", text)]
        assert len(who) <= 1, text  # one model a line
        seen.update(who)
    assert seen == set(names), (seen, lines[:5])
    assert any("left" in t for t in lines), lines[:5]
    assert any("finding the joints" in t for t in lines), lines[:5]


def test_heatmap_starts_on_each_joint_in_its_colour(first_visit):
    page, _, _ = first_visit
    assert page.locator("#heatmap-choice input").input_value() == "each joint, own colour"


def test_feedback_wording(first_visit):
    page, _, _ = first_visit
    text = page.locator("#feedback").inner_text()
    assert "analysed at" in text and " 1 reps" not in text
    assert not re.search(r"\d\.\d frames/s", text), text
