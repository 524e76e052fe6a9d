"""The webcam road for real (issue 19): Chromium with a fake camera that plays a file made from a
shared clip records a clip in the Compare tab, and the analysis counts the clip's reps."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from engine.video.reader import ffmpeg_exe
from tests.apphelpers import ROOT, running_app
from tests.conftest import needs_mediapipe

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "webcam"
#: Standing still before and after the rep in the camera's file (seconds): the recording starts
#: and stops in one of these, whatever the timing of the clicks.
PAD_S = 2.0
RECORD_S = 6.0

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium)")]


def camera_file(clip: Path, out: Path) -> Path:
    """The clip as MJPEG for Chromium's fake camera (which loops it), with its first and last
    frames held for PAD_S seconds, 360 px high, 30 frames/s (an MJPEG file carries no frame
    rate: Chromium plays it at 30)."""
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", "-i", str(clip), "-vf",
                    f"scale=-2:360,tpad=start_duration={PAD_S}:stop_duration={PAD_S}:start_mode=clone:"
                    "stop_mode=clone,fps=30", "-q:v", "5", str(out)], check=True)
    return out


@needs_mediapipe
def test_a_clip_recorded_with_the_webcam_is_analysed(tmp_path, clips_dir, clips_manifest):
    from playwright.sync_api import expect, sync_playwright
    name = "oblique-single.mp4"  # one slow rep, 3 s
    expected = next(c for c in clips_manifest["clips"] if c["file"] == name)
    cam = camera_file(clips_dir / name, tmp_path / "camera.mjpeg")
    SHOTS.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={cam}"]
    env = {"SQUATPOSE_EXAMPLES": str(tmp_path / "none")}
    with running_app(tmp_path / "data", env) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_context(permissions=["camera", "microphone"],
                                   viewport={"width": 1400, "height": 1600}).new_page()
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        clip = page.locator("#clip-input")
        clip.get_by_label("Capture from camera").click()
        clip.get_by_text("Click to Access Webcam").click()  # the fake camera starts its file here
        record = clip.get_by_label("start recording")
        expect(record).to_be_visible()
        record.click()
        time.sleep(RECORD_S)
        clip.get_by_label("start recording").click()  # the same button, now "Stop"
        expect(clip.locator("video")).to_have_count(1, timeout=60_000)
        page.screenshot(path=str(SHOTS / "1-recorded.png"), full_page=True)
        for label in page.locator("#model-choice label").all():
            box = label.locator("input[type=checkbox]")
            (box.check if label.inner_text().strip() == "mediapipe" else box.uncheck)()
        page.locator("#analyse-button").click()
        feedback = page.locator("#feedback")
        expect(feedback).to_contain_text(", view:", timeout=240_000)
        page.screenshot(path=str(SHOTS / "2-analysed.png"), full_page=True)
        text = feedback.inner_text()
        browser.close()
    reps = int(re.search(r"mediapipe\s*—\s*(\d+) reps?\b", text).group(1))
    assert abs(reps - expected["reps"]) <= expected["reps_tolerance"], text
