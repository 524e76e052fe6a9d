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
from tests.conftest import has_module, needs_mediapipe

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
        expect(page.locator("#feedback")).to_contain_text("view:", timeout=30_000)
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


# -- heatmaps, zoom and disagreement: one analysis shared by the tests below -------------------

def _png(locator) -> "np.ndarray":
    """The picture of an element as the browser shows it (RGB)."""
    import cv2
    import numpy as np
    return cv2.imdecode(np.frombuffer(locator.screenshot(), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def _set_and_wait(page, panels, action, timeout=60_000):
    """Do ``action`` and wait until every panel shows a new picture; returns the new srcs."""
    from playwright.sync_api import expect
    before = [p.get_attribute("src") for p in panels]
    action()
    for p, b in zip(panels, before):
        expect(p).not_to_have_attribute("src", b, timeout=timeout)
    page.wait_for_function("""() => [...document.querySelectorAll('[id^=panel-] img')]
                              .every(i => i.complete && i.naturalWidth > 0)""", timeout=timeout)
    return [p.get_attribute("src") for p in panels]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, clips_dir):
    """The app with its shipped weights, oblique-single.mp4 analysed every 3rd frame by the
    dilated CNN, ResNet18-FPN and MediaPipe; yields (page, three panel <img> locators)."""
    from playwright.sync_api import expect, sync_playwright
    if not has_module("mediapipe"):
        pytest.skip("mediapipe is not installed (optional extra: pip install -r requirements-mediapipe.txt)")
    tmp = tmp_path_factory.mktemp("compare-views")
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(tmp / "data", {"SQUATPOSE_EXAMPLES": str(tmp / "none")}) as (url, _), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        # models and stride first, then the clip: its upload starts the one estimate that must
        # show them (changing a setting while an estimate runs raced Gradio's queue on a slow CI)
        choice = page.locator("#model-choice label")
        expect(choice.first).to_be_visible()
        for i in range(choice.count()):
            box = choice.nth(i).locator("input")
            if box.is_checked() != (choice.nth(i).inner_text().strip() in ("dilated", "resnet18_fpn", "mediapipe")):
                box.click()
        stride = page.locator("#stride input[type=number]")
        stride.fill("3")
        stride.press("Enter")
        expect(stride).to_have_value("3")
        page.locator("#clip-input input[type=file]").set_input_files(str(clips_dir / "oblique-single.mp4"))
        # the time is estimated before the run, for these models and this stride
        expect(page.locator("#estimate")).to_contain_text("for 30 frames", timeout=120_000)
        expect(page.locator("#estimate")).to_contain_text("3 models")
        page.locator("#analyse-button").click()
        panels = [page.locator(f"#panel-{k} img") for k in range(3)]
        for panel in panels:
            expect(panel).to_be_visible(timeout=300_000)
        expect(page.locator("#run-summary")).to_contain_text("Took", timeout=60_000)
        expect(page.locator("#disagreement-plot .js-plotly-plot")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "compare-analysed.png"), full_page=True)
        yield page, panels
        browser.close()


def test_choosing_a_joint_changes_every_heatmap_panel(analysed):
    page, panels = analysed
    before = [_png(p) for p in panels]
    _choose_heatmap(page, panels, "left knee")
    after = [_png(p) for p in panels]
    page.screenshot(path=str(ARTIFACTS / "compare-heatmap-left-knee.png"), full_page=True)
    for k in range(2):  # the two heatmap models: their picture of the heat changed
        assert before[k].shape == after[k].shape
        changed = (abs(before[k].astype(int) - after[k]).sum(axis=2) > 60).mean()
        assert changed > 0.02, (k, changed)
    _choose_heatmap(page, panels, "all joints (max)")


def _choose_heatmap(page, panels, label):
    """Choose a heatmap; wait for the heatmap models' panels (MediaPipe's has none to change)."""
    def choose():
        page.locator("#heatmap-choice input").click()
        page.get_by_role("option", name=label, exact=True).click()
    _set_and_wait(page, panels[:2], choose)


def test_zoom_shows_the_athlete_larger_than_the_whole_frame(analysed):
    """Measured on the pictures as the page shows them: the skeleton (on minus off) of
    MediaPipe's panel, with no heatmap, is taller when zoomed to the athlete."""
    import numpy as np
    page, panels = analysed
    _choose_heatmap(page, panels, "none")
    skeleton = page.locator("#skeleton-switch input")
    heights = {}
    for view in ("whole frame", "zoom to the athlete"):
        radio = page.get_by_label(view, exact=True)
        if not radio.is_checked():
            _set_and_wait(page, panels, radio.check)
        on = _png(panels[2])
        page.screenshot(path=str(ARTIFACTS / f"compare-view-{view.split()[0]}.png"), full_page=True)
        _set_and_wait(page, panels, skeleton.uncheck)
        off = _png(panels[2])
        drawn = np.abs(on.astype(int) - off).sum(axis=2) > 60  # the skeleton and knee angles
        ys = np.nonzero(drawn.any(axis=1))[0]
        heights[view] = int(ys.max() - ys.min())  # screen pixels
        _set_and_wait(page, panels, skeleton.check)
    assert heights["zoom to the athlete"] > 1.5 * heights["whole frame"], heights
    _choose_heatmap(page, panels, "all joints (max)")


def test_clicking_the_disagreement_plot_moves_the_slider_and_every_panel(analysed):
    page, panels = analysed
    number = page.locator("#frame-slider input[type=number]")
    start = number.input_value()
    area = page.locator("#disagreement-plot .nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    x_range = page.evaluate("""() => document.querySelector('#disagreement-plot .js-plotly-plot')
                               ._fullLayout.xaxis.range""")
    frac = 0.62
    clicked_s = x_range[0] + frac * (x_range[1] - x_range[0])
    _set_and_wait(page, panels, lambda: page.mouse.click(box["x"] + frac * box["width"],
                                                         box["y"] + 0.5 * box["height"]))
    # every 3rd frame of a 30 frames/s clip: position p is at p / 10 s
    moved = int(number.input_value())
    assert str(moved) != start and abs(moved - clicked_s * 10) <= 1.5, (moved, clicked_s)
    page.screenshot(path=str(ARTIFACTS / "compare-disagreement-click.png"), full_page=True)
    # and the button: on to the worst frame of the next disagreement
    _set_and_wait(page, panels, lambda: page.locator("#next-disagreement").click())
    assert int(number.input_value()) != moved
