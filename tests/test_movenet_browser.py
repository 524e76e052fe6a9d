"""MoveNet Thunder and Lightning in the Compare tab, in a real browser: with their shipped weights
both are offered, analyse a real clip side by side, and each panel shows the model's heatmaps."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.models import weights as weightslib
from tests.apphelpers import running_app
from tests.test_compare_browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM

MODELS = ("movenet_thunder", "movenet_lightning")

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium)")]


def test_both_movenets_show_their_heatmaps_in_compare(tmp_path, clips_dir):
    from playwright.sync_api import expect, sync_playwright
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in MODELS:  # the shipped files, alone in the app's weights folder
        src = weightslib.WEIGHTS_DIR / f"{name}.safetensors"
        shutil.copy(src, weights / src.name)
        shutil.copy(src.with_suffix(".json"), weights / f"{name}.json")
    ARTIFACTS.mkdir(exist_ok=True)
    env = {"SQUATPOSE_WEIGHTS_DIR": str(weights), "SQUATPOSE_EXAMPLES": str(tmp_path / "none")}
    with running_app(tmp_path / "data", env) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#clip-input input[type=file]").set_input_files(str(clips_dir / "side-single-text.mp4"))
        labels = page.locator("#model-choice label")
        expect(labels.filter(has_text="movenet_thunder")).to_have_count(1)
        expect(labels.filter(has_text="movenet_lightning")).to_have_count(1)
        for i in range(labels.count()):  # exactly the two MoveNets ticked
            box = labels.nth(i).locator("input[type=checkbox]")
            want = any(m in labels.nth(i).inner_text() for m in MODELS)
            if box.is_checked() != want:
                box.set_checked(want)
        page.locator("#analyse-button").click()
        panels = [page.locator(f"#panel-{k} img") for k in range(2)]
        for panel in panels:
            expect(panel).to_be_visible(timeout=300_000)
        expect(page.locator("#feedback")).to_contain_text("rep", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "compare-movenet.png"), full_page=True)
        feedback = page.locator("#feedback").inner_text()
        assert all(m in feedback for m in MODELS), feedback
        # the heatmap view: each panel changes when one joint's heatmap is chosen instead of all
        before = [panel.get_attribute("src") for panel in panels]
        page.locator("#heatmap-choice input").click()
        page.get_by_role("option", name="left knee", exact=True).click()
        for panel, src in zip(panels, before):
            expect(panel).not_to_have_attribute("src", src, timeout=60_000)
        browser.close()
