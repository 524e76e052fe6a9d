"""The demo bundle (``assets/demo/``, made by ``scripts/make_demo_bundle.py``) and the app as a
fresh Hugging Face Space sees it: a copy of the tracked files with no ``../shared`` beside it,
nothing configured, and only what ``requirements.txt`` installs importable (emulated, see
``tests/spaceenv.py``). Screenshots go to test-artifacts/space/."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cv2
import numpy as np

from engine.data import coco
from engine.data.coco import LOW_CONFIDENCE
from engine.data.pseudolabel import ABSENT, VISIBLE
from engine.video.reader import open_video
from scripts import make_demo_bundle
from tests import spaceenv
from tests.apphelpers import ROOT, running_app
from tests.conftest import needs_mediapipe

BUNDLE = ROOT / "assets" / "demo"
CLIP = BUNDLE / "clips" / "gym-side-two-squats.mp4"
ANN = BUNDLE / "coco" / "annotations" / "person_keypoints_demo.json"
IMAGES = BUNDLE / "coco" / "images"
SHOTS = ROOT / "test-artifacts" / "space"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Every variable that points the app at data of its own: a fresh Space sets none.
OVERRIDES = ("SQUATPOSE_EXAMPLES", "SQUATPOSE_COCO_ANN", "SQUATPOSE_COCO_IMAGES",
             "SQUATPOSE_WEIGHTS_DIR", "SQUATPOSE_SHARED_DATA")


def test_bundle_is_small_playable_and_attributed():
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
    assert size < 4 * 2**20, f"the bundle is {size / 2**20:.1f} MB"

    # the clip: H.264 yuv420p (browsers play it), short, its MIT notice beside it
    import imageio_ffmpeg
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(CLIP)],
                           capture_output=True, text=True).stderr
    assert re.search(r"Video: h264 .*yuv420p", probe), probe
    assert "Audio" not in probe
    with open_video(CLIP) as v:
        assert v.frame_size == (360, 640) and 12 < v.duration < 14, (v.frame_size, v.duration)
    notice = (BUNDLE / "clips" / "LICENSE").read_text()
    assert "MIT License" in notice and "Copyright (c) 2024 Rohan Kumar" in notice

    # the Review sample: frames of that clip, every image listed, licence and provenance said
    data = json.loads(ANN.read_text())
    assert [lic["name"] for lic in data["licenses"]] == \
        ["MIT License (the clip's; Copyright (c) 2024 Rohan Kumar)"]
    assert sorted(p.name for p in IMAGES.iterdir()) == sorted(im["file_name"] for im in data["images"])
    readme = (BUNDLE / "README.md").read_text()
    assert "rohanx01/Squat-Analysis-Model" in readme and "no COCO image or annotation" in readme
    for im in data["images"]:
        assert im["license"] == 1 and im["video"] == CLIP.name, im
        assert f"| `{im['file_name']}` | {im['frame']} |" in readme, im["file_name"]
    assert {a["made_by"] for a in data["annotations"]} == {"teacher", "hand"}

    # the flags the Review tab filters on, "incomplete" ones above all, have people to show
    people = coco.load(ANN, IMAGES)
    s = coco.summarize(people.people, len(people.crowd))
    for flag in make_demo_bundle.NEEDED:
        assert s[flag] > 0, (flag, s)

    # the project's README lists the bundle's licences and sources
    front = (ROOT / "README.md").read_text()
    for words in ("assets/demo", "rohanx01/Squat-Analysis-Model", "MIT", "teacher"):
        assert words in front, words


def test_the_sample_is_frames_of_the_bundled_clip():
    """Each image is the clip frame it names, whole, cut or scaled as it says: within JPEG's
    loss of it, and well closer to it than to the frame 10 later (or earlier)."""
    data = json.loads(ANN.read_text())
    other = {im["frame"]: im["frame"] + 10 if im["frame"] < 180 else im["frame"] - 10 for im in data["images"]}
    frames = make_demo_bundle.read_frames(CLIP, set(other) | set(other.values()))
    for im in data["images"]:
        keep = im["cut"] if im["cut"] == "whole" else tuple(im["cut"])
        got = cv2.cvtColor(cv2.imread(str(IMAGES / im["file_name"])), cv2.COLOR_BGR2RGB).astype(int)
        assert got.shape == (im["height"], im["width"], 3), im["file_name"]
        named, later = (np.abs(got - make_demo_bundle.cut(frames[f], np.zeros((0, 2)), keep)[0]).mean()
                        for f in (im["frame"], other[im["frame"]]))
        assert named < 5 and named < 0.7 * later, (im["file_name"], named, later)


@needs_mediapipe
def test_the_script_makes_this_bundle(tmp_path):
    """``scripts/make_demo_bundle.py`` rebuilds the committed sample from the committed clip
    alone (no ../shared): the same files, README and notice byte for byte, the same people
    and flags; pixels and the teacher's numbers within rounding of another build."""
    out = tmp_path / "bundle"
    subprocess.run([sys.executable, "scripts/make_demo_bundle.py", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "SQUATPOSE_SHARED_DATA": str(tmp_path / "no-shared-data")})
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == sorted(str(p.relative_to(BUNDLE)) for p in BUNDLE.rglob("*") if p.is_file())
    for name in ("clips/LICENSE", "clips/" + CLIP.name):
        assert (out / name).read_bytes() == (BUNDLE / name).read_bytes(), name
    a, b = (json.loads(p.read_text()) for p in (out / "coco" / "annotations" / ANN.name, ANN))
    assert a["images"] == b["images"] and a["info"] == b["info"] and a["licenses"] == b["licenses"]
    assert len(a["annotations"]) == len(b["annotations"])
    # The teacher's confidences may move by rounding on another CPU build (XNNPACK kernels):
    # the flags that follow from them are compared, and the README (which counts the flags)
    # byte for byte, unless a committed confidence lies within that rounding of a threshold.
    thresholds = np.array([ABSENT, LOW_CONFIDENCE, VISIBLE])
    near = any(np.abs(np.subtract.outer(y.get("keypoint_scores", []), thresholds)).min(initial=1) < 0.03
               for y in b["annotations"])
    if not near:
        assert (out / "README.md").read_bytes() == (BUNDLE / "README.md").read_bytes()
    for x, y in zip(a["annotations"], b["annotations"]):
        kx, ky = np.array(x["keypoints"]).reshape(17, 3), np.array(y["keypoints"]).reshape(17, 3)
        sure = np.abs(np.subtract.outer(np.array(y.get("keypoint_scores", [1.0] * 17)), thresholds)).min(axis=1) >= 0.03
        assert (kx[sure, 2] == ky[sure, 2]).all(), (x["id"], kx[:, 2], ky[:, 2])
        assert np.abs(kx[:, :2] - ky[:, :2]).max() <= 2.0 and np.allclose(x["bbox"], y["bbox"], atol=4)
        assert np.allclose(x.get("keypoint_scores", []), y.get("keypoint_scores", []), atol=0.03)
    for im in b["images"]:
        p, q = (cv2.imread(str(d / "coco" / "images" / im["file_name"])).astype(int) for d in (out, BUNDLE))
        assert np.abs(p - q).mean() < 1, im["file_name"]


def test_fallback_to_the_bundle_and_the_overrides(monkeypatch, tmp_path):
    from demo import compare
    from review import ui as review_ui
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQUATPOSE_SHARED_DATA", str(tmp_path / "no-shared-data"))
    assert compare.example_clips() == [str(CLIP)]
    assert review_ui.default_paths() == (str(ANN), str(IMAGES))

    mine = tmp_path / "my-clips"
    mine.mkdir()
    shutil.copyfile(CLIP, mine / "mine.mp4")
    monkeypatch.setenv("SQUATPOSE_EXAMPLES", str(mine))
    assert compare.example_clips() == [str(mine / "mine.mp4")]
    monkeypatch.setenv("SQUATPOSE_COCO_ANN", str(tmp_path / "a.json"))
    monkeypatch.setenv("SQUATPOSE_COCO_IMAGES", str(tmp_path / "imgs"))
    assert review_ui.default_paths() == (str(tmp_path / "a.json"), str(tmp_path / "imgs"))


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout: no tracked files to copy")
def test_a_fresh_space_offers_the_bundle_in_both_tabs(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    SHOTS.mkdir(parents=True, exist_ok=True)
    space = spaceenv.copy_tracked(tmp_path / "space" / "squatpose")
    assert not (space.parent / "shared").exists() and (space / "assets" / "demo" / "README.md").is_file()
    site = tmp_path / "site"
    hidden = spaceenv.write_blocker(site)
    assert "mediapipe" in hidden["modules"] and "pytest" in hidden["modules"]
    env = {**{name: None for name in OVERRIDES}, "PYTHONPATH": str(site),
           "SQUATPOSE_SHARED_DATA": str(tmp_path / "no-shared-data")}

    # the emulation holds: what requirements.txt does not install is neither importable nor
    # listed there, and the project is the copy's (the app importing the rest shows below)
    check = ("import importlib.util, importlib.metadata as md, engine, sys\n"
             "assert engine.__file__.startswith(sys.argv[1]), engine.__file__\n"
             "for m in ('mediapipe', 'pytest', 'playwright'):\n"
             "    assert importlib.util.find_spec(m) is None, m\n"
             "    try:\n        __import__(m)\n    except ImportError:\n        pass\n"
             "    else:\n        raise SystemExit(m + ' imported')\n"
             "    try:\n        md.version(m)\n    except md.PackageNotFoundError:\n        pass\n"
             "    else:\n        raise SystemExit(m + ' listed')\n")
    run_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    subprocess.run([sys.executable, "-c", check, str(space)], cwd=space, env=run_env, check=True)

    people = coco.load(ANN, IMAGES)
    s = coco.summarize(people.people, len(people.crowd))
    with running_app(tmp_path / "data", env, cwd=space, log=SHOTS / "app.log") as (url, _), \
            sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(180_000)
        page.goto(url)

        # Compare: the bundled clip is offered; the default model alone analyses it
        page.get_by_role("tab", name="Compare").click()
        examples = page.locator("#clip-examples")
        expect(examples).to_be_visible(timeout=60_000)
        page.screenshot(path=str(SHOTS / "1-compare-examples.png"), full_page=True)
        examples.locator("button, tr, td").first.click()
        expect(page.locator("#clip-input video")).to_be_visible(timeout=60_000)
        default = (space / "weights" / "default.txt").read_text().strip()
        boxes = page.locator("#model-choice label")
        names = [n.strip() for n in boxes.all_inner_texts()]
        assert names[0] == f"{default} (recommended)" and "mediapipe" not in names, names
        for i in range(len(names)):
            box = boxes.nth(i).locator("input")
            if (i == 0) != box.is_checked():
                box.click()
        page.locator("#analyse-button").click()
        expect(page.locator("#panel-0 img")).to_be_visible(timeout=300_000)
        expect(page.locator("#feedback")).to_contain_text(f"{default}", timeout=60_000)
        expect(page.locator("#feedback")).to_contain_text("view:")
        assert page.locator("#panel-1 img").count() == 0 or not page.locator("#panel-1 img").is_visible()
        page.screenshot(path=str(SHOTS / "2-compare-analysed.png"), full_page=True)

        # Review: the bundled sample opens with its flags; accept one person; export
        page.get_by_role("tab", name="Review").click()
        page.wait_for_selector("#review-gallery img")
        summary = page.locator("#review-summary").inner_text()
        assert (f"{s['person_annotations']} people (0 crowd regions aside): {s['none_labeled']} with "
                f"nothing labelled, {s['some_missing']} with some joints missing, {s['all_labeled']} "
                f"complete") in summary, summary
        assert s["none_labeled"] and s["some_missing"] and s["any_occluded"]
        assert f"0 of {s['flagged']} flagged people reviewed" in page.locator("#review-progress").inner_text()
        page.locator("#review-filter input").click()
        page.get_by_role("option", name="Some joint occluded").click()
        page.wait_for_function(f"() => document.body.innerText.includes('{s['any_occluded']} people match')")
        page.locator("#review-gallery img").first.click()
        page.wait_for_function("() => document.querySelector('#review-info').innerText.includes('occluded:')")
        page.screenshot(path=str(SHOTS / "3-review-occluded.png"), full_page=True)
        page.locator("#review-accept").click()
        page.wait_for_function("() => document.querySelector('#review-progress').innerText"
                               f".startsWith('1 of {s['flagged']} flagged people reviewed (1 accepted')")
        page.locator("#review-export").click()
        page.wait_for_function("() => document.querySelector('#review-report').innerText.includes('kept_accepted')")
        report = page.locator("#review-report").inner_text()
        assert re.search(r"kept_accepted\W+1\b", report), report
        assert "curated.json" in page.locator("#review-export-file").inner_text().replace("\n", "")
        page.screenshot(path=str(SHOTS / "4-review-exported.png"), full_page=True)
        browser.close()
    # nothing was written into the copy's bundle (decisions and exports live in the data dir)
    assert sorted(p.name for p in (space / "assets" / "demo" / "coco" / "images").iterdir()) == \
        sorted(p.name for p in IMAGES.iterdir())
    assert not list((space / "assets").rglob("*.sqlite")) and not list((space / "assets").rglob("*curated*"))
