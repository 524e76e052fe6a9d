"""A short soak of the running app (issue 19): ``scripts/soak.py`` with a few analyses and
decisions in a row; the app keeps serving, its resident memory stops growing after the first
analysis and its data dir stays small. The bounds are loose on purpose; the full soak's figures
(30 analyses, 300 decisions) are in bench/soak.md and docs/hardening.md."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.apphelpers import ROOT

#: Loose bounds (MB): resident memory may grow this much after the first analysis, and the
#: data dir (the example clips cached by Gradio, ~15 MB, included) may hold this much.
GROWTH_MB = 150
DATA_DIR_MB = 100


@pytest.mark.slow
def test_a_short_soak_stays_within_bounds(tmp_path, clips_dir, coco_ann):
    out = tmp_path / "soak.json"
    r = subprocess.run([sys.executable, "scripts/soak.py", "--analyses", "3", "--decisions", "60",
                        "--data-dir", str(tmp_path / "data"), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["app_alive_at_end"] and figures["reps_per_analysis"] == [1]
    assert figures["rss_mb_growth_after_first_analysis"] < GROWTH_MB, figures["rss_mb_trace"]
    assert figures["data_dir_mb"] < DATA_DIR_MB, figures["data_dir_mb_by_folder"]
