"""``engine.bench video`` (issue 29): a model on PyTorch and on ONNX Runtime, and the int8 TFLite
Lightning, each end to end through the engine's video path on a real clip, with the runtime that
ran named in its row and the table."""
from __future__ import annotations

import importlib.util

import pytest

from engine.training.benchvideo import LITE, bench_video, split_spec, video_table


def test_the_bench_names_the_runtime_of_each_row(clips_dir):
    clip = clips_dir / "side-closeup.mp4"
    specs = ["movenet_lightning@torch", "movenet_lightning@onnx"]
    if importlib.util.find_spec("ai_edge_litert"):
        specs.append(LITE)
    rows = bench_video(str(clip), specs, stride=4, max_seconds=1.0, repeats=1, device="cpu")
    assert [r.get("error") for r in rows] == [None] * len(specs), rows
    assert [r["runtime"] for r in rows] == ["torch", "onnxruntime", "tflite-int8"][:len(specs)]
    assert all(r["model"] == "movenet_lightning" and r["frames"] > 0 and r["fps"] > 0 for r in rows)
    assert all(r["person_finder"] == "detector" for r in rows)  # the detector in the loop for every row
    table = video_table(rows, {"device": "cpu", "threads": 2, "torch": "x", "date": "today"}, clip)
    assert "| movenet_lightning | onnxruntime |" in table and "| movenet_lightning | torch |" in table


@pytest.mark.parametrize("spec, want", [("dilated", ("dilated", "auto")),
                                        ("movenet_thunder@onnx-int8", ("movenet_thunder", "onnx-int8"))])
def test_model_specs(spec, want):
    assert split_spec(spec) == want
