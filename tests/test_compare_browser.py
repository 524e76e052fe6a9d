"""A real browser (Debian's Chromium driven by Playwright) on the Compare tab: upload a clip,
wait for the results, one panel per chosen model, and the slider moves every panel."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from engine.models import weights as weightslib
from engine.models import build_model
from tests.apphelpers import running_app
from tests.conftest import needs_mediapipe

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium)")]


@contextmanager
def compare_page(tmp_path, clip, models):
    """The app started with untrained weights for ``models`` (an untrained model is enough to
    show a panel with heatmaps), a browser on its Compare tab with ``clip`` uploaded and every
    model (and MediaPipe) ticked; yields the page, the Analyse button not yet clicked."""
    from playwright.sync_api import expect, sync_playwright
    weights = tmp_path / "weights"
    torch.manual_seed(0)
    for name in models:
        weightslib.save(build_model(name), weights / f"{name}.safetensors", {"model": name, "input_size": [96, 128]})
    ARTIFACTS.mkdir(exist_ok=True)
    env = {"SQUATPOSE_WEIGHTS_DIR": str(weights), "SQUATPOSE_EXAMPLES": str(tmp_path / "none")}
    with running_app(tmp_path / "data", env) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#clip-input input[type=file]").set_input_files(str(clip))
        boxes = page.locator("#model-choice input[type=checkbox]")
        expect(boxes).to_have_count(len(models) + 1)
        for i in range(len(models) + 1):
            if not boxes.nth(i).is_checked():
                boxes.nth(i).check()
        yield page
        browser.close()


@needs_mediapipe
def test_compare_tab_upload_panels_and_slider(tmp_path, clips_dir):
    from playwright.sync_api import expect
    with compare_page(tmp_path, clips_dir / "oblique-single.mp4", ["dilated"]) as page:
        page.locator("#analyse-button").click()
        panel0, panel1 = page.locator("#panel-0 img"), page.locator("#panel-1 img")
        expect(panel0).to_be_visible(timeout=300_000)
        expect(panel1).to_be_visible(timeout=30_000)
        expect(page.locator("#feedback")).to_contain_text("reps", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "compare-results.png"), full_page=True)
        before = [panel0.get_attribute("src"), panel1.get_attribute("src")]
        number = page.locator("#frame-slider input[type=number]")
        number.fill("45")
        number.press("Enter")
        expect(panel0).not_to_have_attribute("src", before[0], timeout=60_000)
        expect(panel1).not_to_have_attribute("src", before[1], timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "compare-slider.png"), full_page=True)


@needs_mediapipe
def test_five_panels_share_one_width(tmp_path, clips_dir):
    """Four models and MediaPipe: a grid of equal panels, not a fifth one stretched across the
    page under four narrow ones."""
    from playwright.sync_api import expect
    models = ["dilated", "attention", "resnet18", "resnet18_fpn"]
    with compare_page(tmp_path, clips_dir / "oblique-single.mp4", models) as page:
        page.locator("#analyse-button").click()
        for k in range(5):
            expect(page.locator(f"#panel-{k} img")).to_be_visible(timeout=300_000)
        widths = [page.locator(f"#panel-{k}").bounding_box()["width"] for k in range(5)]
        assert max(widths) - min(widths) <= 2, widths
        page.screenshot(path=str(ARTIFACTS / "compare-five-panels.png"), full_page=True)
