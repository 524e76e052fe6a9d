"""Issue 31 item 10: requirements.txt (the app's and the Space's install) holds only what the
app imports at run time. A fresh interpreter builds the app, analyses the demo clip with the
default model (panels, charts) and opens the demo bundle in the Review tab (gallery, detail,
chart), as the running app does; every package requirements.txt names must then be imported.
What only tests and tools need lives in requirements-dev.txt."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Import names that differ from the distribution's name.
MODULE = {"opencv-python-headless": "cv2", "imageio-ffmpeg": "imageio_ffmpeg", "pillow": "PIL"}

RUN = """
import sys, tempfile
import app
app.build_app()
from demo import compare, comparison
from engine.models.weights import default_model
clip = str(compare.BUNDLE_CLIPS / "gym-side-two-squats.mp4")
runs = compare.run_models(clip, [default_model()], out_root=tempfile.mkdtemp(), stride=10)
cmp = comparison.compare(clip, runs)
compare.render_panels(clip, runs, 3)
compare.angle_chart(runs), comparison.disagreement_chart(cmp)
from review import curation
from review.store import ReviewStore
ds = curation.open_dataset("assets/demo/coco/annotations/person_keypoints_demo.json",
                           "assets/demo/coco/images", ReviewStore(tempfile.mkdtemp() + "/r.sqlite"))
p = curation.filter_people(ds, "flagged", "any")[0]
curation.detail(ds, p), curation.gallery_items(ds, [p]), curation.chart(curation.summary(ds))
print(" ".join(sorted(m.split(".")[0] for m in sys.modules)))
"""


def _names(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            out.append(re.split(r"[<>=!~\[; ]", line)[0].lower())
    return out


def test_requirements_txt_holds_only_what_the_app_imports(tmp_path):
    r = subprocess.run([sys.executable, "-c", RUN], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "SQUATPOSE_DATA_DIR": str(tmp_path),
                            # a fresh Space: no ONNX export of the weights yet (made on first use)
                            "SQUATPOSE_ONNX_DIR": str(tmp_path / "onnx")})
    assert r.returncode == 0, r.stderr[-3000:]
    imported = set(r.stdout.split())
    unused = [d for d in _names(ROOT / "requirements.txt") if MODULE.get(d, d.replace("-", "_")) not in imported]
    assert unused == [], f"requirements.txt names packages the app never imports: {unused}"
    # what the tests and tools need instead is in requirements-dev.txt
    assert {"scipy", "tflite"} <= set(_names(ROOT / "requirements-dev.txt"))
