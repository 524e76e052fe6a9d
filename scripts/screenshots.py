"""Make the pictures in the docs from the real program, never by hand.

    python scripts/screenshots.py [--clip assets/demo/clips/gym-side-two-squats.mp4] [--out docs/images]

1. ``annotated-frame.jpg``: ``python -m engine.analyze CLIP --out TMP`` (the shipped default
   model), then the frame at the bottom of the first repetition it found, read with OpenCV
   from the ``annotated.mp4`` it wrote.
2. ``compare.png`` and ``compare-results.png``: the real app (``python app.py`` on a free loopback port, as the browser
   tests start it) driven by Debian's Chromium through Playwright: the clip uploaded on the
   Compare tab (the demo bundle offered as the example clips, as on a fresh Space), the
   models it ticks by default analysed, the frame slider moved to the same bottom frame, and
   the results photographed (slider, panels, videos, angle chart, rep table, feedback).

Both are shrunk (and the PNG reduced to 256 colours) to stay well under 300 KB, and written
to a temporary name and renamed into place. The default clip is the demo bundle's
(``assets/demo/``, MIT-licensed; see ``docs/images/README.md``), so nothing outside the
repository is needed but Debian's Chromium and Playwright (``requirements-dev.txt``); it takes
a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
from PIL import Image  # noqa: E402

from engine.fileio import atomic_path  # noqa: E402
from tests.apphelpers import running_app  # noqa: E402

BUNDLE_CLIPS = ROOT / "assets" / "demo" / "clips"
CLIP = BUNDLE_CLIPS / "gym-side-two-squats.mp4"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
MAX_BYTES = 300_000


def analyse(clip: Path, work: Path) -> tuple[Path, dict]:
    """Run the real CLI on ``clip``; return the annotated video and the report."""
    out = work / "analyze"
    subprocess.run([sys.executable, "-m", "engine.analyze", str(clip), "--out", str(out)],
                   cwd=ROOT, check=True)
    return out / "annotated.mp4", json.loads((out / "report.json").read_text())


def key_frame(report: dict) -> int:
    """The bottom of the first repetition found, else the middle of the clip."""
    reps = report.get("rep_details") or []
    if reps:
        return int(reps[0]["bottom_frame"])
    return int(report.get("annotated_frames", 1)) // 2


def save_small(img: Image.Image, path: Path, max_side: int, fmt: str) -> int:
    """Shrink ``img`` to ``max_side`` on its longer side and write it atomically; returns bytes."""
    img = img.convert("RGB")
    img.thumbnail((max_side, max_side), Image.LANCZOS)
    buf = io.BytesIO()
    if fmt == "PNG":
        img.quantize(colors=256, method=Image.MEDIANCUT, dither=Image.NONE).save(buf, "PNG", optimize=True)
    else:
        img.save(buf, "JPEG", quality=82, optimize=True, progressive=True)
    data = buf.getvalue()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{path.name} came out at {len(data)} bytes, over {MAX_BYTES}: lower max_side")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return len(data)


def annotated_frame(video: Path, frame: int, path: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok:
        raise SystemExit(f"could not read frame {frame} of {video}")
    return save_small(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), path, 720, "JPEG")


def box(locator) -> dict:
    """The box of the Gradio block holding the element (its label included), in page
    coordinates (not the viewport's), for a full-page clip."""
    return locator.evaluate("e => { const r = (e.closest('.block') || e).getBoundingClientRect();"
                            " return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; }")


def region(y0: float, y1: float, x1: float, margin: float = 8) -> dict:
    return {"x": 0, "y": max(0.0, y0 - margin), "width": x1 + margin, "height": y1 - y0 + 2 * margin}


def compare_screenshots(clip: Path, frame: int, work: Path, path: Path, results_path: Path) -> tuple[int, int]:
    """The Compare tab's model panels at ``frame`` (``path``), and its angle chart, rep table
    and feedback (``results_path``)."""
    from playwright.sync_api import expect, sync_playwright
    # the examples a fresh Space offers (the demo bundle), not the clips of ../shared
    env = {"SQUATPOSE_EXAMPLES": str(BUNDLE_CLIPS)}
    with running_app(work / "data", env) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.get_by_role("tab", name="Compare").click()
            page.locator("#clip-input input[type=file]").set_input_files(str(clip))
            expect(page.locator("#clip-input video")).to_be_visible(timeout=60_000)
            n_models = page.locator("#model-choice input[type=checkbox]:checked").count()
            if not n_models:
                raise SystemExit("the Compare tab ticks no model: ship weights or install MediaPipe")
            page.locator("#analyse-button").click()  # the models ticked by default
            panel = page.locator("#panel-0 img")
            expect(panel).to_be_visible(timeout=1_200_000)
            expect(page.locator("#feedback")).to_contain_text("view:", timeout=60_000)
            before = panel.get_attribute("src")
            number = page.locator("#frame-slider input[type=number]")
            number.fill(str(frame))
            number.press("Enter")
            expect(panel).not_to_have_attribute("src", before, timeout=120_000)
            page.wait_for_timeout(2000)  # let the chart and images settle
            # Two regions of the page: the clip input above the results is as tall as the
            # (portrait) clip, and the whole page shrunk to a readable file is unreadable.
            slider = box(page.locator("#frame-slider"))
            shown = [box(page.locator(f"#panel-{k}")) for k in range(n_models)]
            panels = page.screenshot(full_page=True, clip=region(
                slider["y"], max(b["y"] + b["h"] for b in shown), max(b["x"] + b["w"] for b in shown)))
            chart, feedback = box(page.locator(".js-plotly-plot").first), box(page.locator("#feedback"))
            results = page.screenshot(full_page=True, clip=region(chart["y"], feedback["y"] + feedback["h"],
                                                                    chart["x"] + chart["w"]))
        finally:
            browser.close()
    return (save_small(Image.open(io.BytesIO(panels)), path, 1000, "PNG"),
            save_small(Image.open(io.BytesIO(results)), results_path, 1000, "PNG"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=CLIP, help="the clip to show (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the pictures go")
    ap.add_argument("--only", choices=["frame", "compare"], help="make only one of the two")
    args = ap.parse_args(argv)
    if not args.clip.is_file():
        raise SystemExit(f"no clip at {args.clip} (pass --clip)")
    if args.only != "frame" and not Path(CHROMIUM).exists():
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="squatpose-shots-") as tmp:
        work = Path(tmp)
        video, report = analyse(args.clip, work)
        frame = key_frame(report)
        print(f"{args.clip.name}: {report['reps']} reps, key frame {frame}")
        if args.only != "compare":
            n = annotated_frame(video, frame, args.out / "annotated-frame.jpg")
            print(f"wrote {args.out / 'annotated-frame.jpg'} ({n} bytes)")
        if args.only != "frame":
            sizes = compare_screenshots(args.clip, frame, work, args.out / "compare.png",
                                        args.out / "compare-results.png")
            for name, n in zip(["compare.png", "compare-results.png"], sizes):
                print(f"wrote {args.out / name} ({n} bytes)")


if __name__ == "__main__":
    main()
