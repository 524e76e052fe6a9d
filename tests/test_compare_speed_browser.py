"""Issue 29's Compare-tab speed goal, measured in a real browser: a 10-second clip
(``side-wall.mp4``, 10.7 s) analysed with the models a first-time visitor finds ticked (the
default and the next best), the shipped weights, Debian's Chromium. The wall time from the
click on Analyse to the results on the page is written to ``test-artifacts/compare-speed.log``
and printed: a benchmark figure (goal: 10 s or less on an idle 2-core machine), not an
assertion; the test asserts only that the analysis finishes and its results show, with the
heatmap models' one shared tracking pass said in the summary."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.apphelpers import running_app
from tests.test_compare_browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium)")]

CLIP = "side-wall.mp4"
LOG = ARTIFACTS / "compare-speed.log"


def test_compare_tab_times_a_ten_second_clip_with_two_models(tmp_path, clips_dir):
    from playwright.sync_api import expect, sync_playwright
    from demo import compare, summary
    from engine.models.weights import default_model
    ticked = summary.preselected(compare.available_models(), default_model(), summary.scorecard())
    if len(ticked) < 2:
        pytest.skip(f"the shipped weights tick {ticked} only: the goal is for the default and one other")
    ARTIFACTS.mkdir(exist_ok=True)
    env = {"SQUATPOSE_EXAMPLES": str(tmp_path / "none")}  # the shipped weights, as a visitor finds them
    with running_app(tmp_path / "data", env) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#clip-input input[type=file]").set_input_files(str(clips_dir / CLIP))
        labels = page.locator("#model-choice label")
        checked = [labels.nth(i).inner_text().split(" (")[0] for i in range(labels.count())
                   if labels.nth(i).locator("input[type=checkbox]").is_checked()]
        assert checked == ticked, checked
        # the estimate's timing of the models runs on upload; let it end, so it does not share
        # the cores with the run it would be cancelled by
        expect(page.locator("#estimate")).to_contain_text(" for ", timeout=600_000)
        t0 = time.perf_counter()
        page.locator("#analyse-button").click()
        panels = [page.locator(f"#panel-{k} img") for k in range(len(ticked))]
        for panel in panels:
            expect(panel).to_be_visible(timeout=900_000)
        expect(page.locator("#feedback")).to_contain_text("rep", timeout=60_000)
        wall = time.perf_counter() - t0
        overview = page.locator("#run-summary").inner_text()
        page.screenshot(path=str(ARTIFACTS / "compare-speed.png"), full_page=True)
        browser.close()
    assert f"once for {len(ticked)} models" in overview, overview
    entry = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "clip": CLIP,
             "models": ticked, "wall_s": round(wall, 1), "goal_s": 10.0,
             "load_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
             "app_says": [s for s in overview.splitlines() if s.startswith(("Took", "Decoding"))]}
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")
    print(f"\nCompare tab, {CLIP} with {' + '.join(ticked)}: {wall:.1f} s from Analyse to results "
          f"(goal 10 s; load {entry['load_1min']} on {entry['cpus']} CPUs) -> {LOG}")
