"""``python -m engine.bench video``: every model on the same clip, side by side, in one run.

Heatmap models find the athlete with the person detector (when it loads; its time is the
"detector" stage, and the table gives its calls per clip and milliseconds per call) or else the
detector-free search. Each model runs in its own child process (so that its peak memory is its own) on the same
number of CPU threads; a model without shipped weights is timed with random weights at the
recipe's input size (speed does not depend on the weights) and marked untrained.

A model is named ``NAME`` (the app's runtime: ONNX Runtime on the CPU) or ``NAME@RUNTIME`` with
RUNTIME one of torch, onnx, onnx-int8 (``engine.models.onnx_runtime.RUNTIMES``), and
``movenet_lightning@tflite-int8`` is Google's int8 TFLite Lightning (the scorecard's MoveNet peer)
in the same video path (``engine.video.movenet.lite_predictor``). The default set: every shipped
model on PyTorch and on ONNX Runtime, MediaPipe full and the TFLite Lightning.
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

from engine.fileio import write_json  # noqa: F401  (re-exported for the CLI's callers)

STAGES = ("decode", "preprocess", "model", "postprocess", "detector")
#: The TFLite Lightning's name in the table.
LITE = "movenet_lightning@tflite-int8"


def split_spec(spec: str) -> tuple[str, str]:
    """'movenet_thunder@onnx' -> ('movenet_thunder', 'onnx'); 'dilated' -> ('dilated', 'auto')."""
    name, _, runtime = spec.partition("@")
    return name, runtime or "auto"


def _one(clip: str, model: str, stride: int, max_seconds, repeats: int, device: str, threads: int) -> dict:
    """Time one model in this process; returns medians and this process's peak memory."""
    import torch
    torch.set_num_threads(threads)
    from engine.video.pipeline import MEDIAPIPE
    untrained = False
    name, runtime = split_spec(model)
    if model == MEDIAPIPE:
        from engine.video.mediapipe_pose import MediaPipePose
        predictor = MediaPipePose(smooth=True)
    elif model == LITE:
        from engine.video.movenet import lite_predictor
        predictor = lite_predictor(threads)
    else:
        from engine.video.predict import HeatmapPredictor, load_predictor
        from engine.models.weights import shipped_weights
        model = name
        if model in shipped_weights():
            predictor = load_predictor(model, device=device, runtime=runtime)
        else:
            from engine.models import build_model
            from .recipe import SETTINGS
            h, w = (int(v) for v in SETTINGS["input_size"].split("x"))
            predictor = HeatmapPredictor(build_model(model).eval(), (w, h), model, device=torch.device(device),
                                         runtime="torch")
            untrained = True
    if name != MEDIAPIPE and model != LITE:  # an export made on first use is not timed
        predictor.predict_video(clip, stride=stride, max_seconds=min(max_seconds or 1.0, 1.0), keep_heatmaps=False)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        s = predictor.predict_video(clip, stride=stride, max_seconds=max_seconds, keep_heatmaps=False)
        wall = time.perf_counter() - t0
        runs.append({"frames": len(s), "seconds": wall, "timings_s": s.meta.get("timings_s", {}),
                     "detector_calls": s.meta.get("detector_calls"), "searches": s.meta.get("searches"),
                     "detector_ms_per_call": s.meta.get("detector_ms_per_call"),
                     "person_finder": s.meta.get("person_finder")})
    frames = runs[0]["frames"]
    med = lambda xs: statistics.median(xs)  # noqa: E731
    per_stage = {k: round(1000 * med([r["timings_s"].get(k, 0.0) for r in runs]) / max(frames, 1), 3)
                 for k in STAGES}
    return {"model": name, "runtime": getattr(predictor, "runtime", None) or "mediapipe", "untrained": untrained,
            "frames": frames,
            "fps": round(frames / med([r["seconds"] for r in runs]), 2),
            "fps_runs": [round(frames / r["seconds"], 2) for r in runs],
            "ms_per_frame": per_stage,
            "person_finder": runs[0]["person_finder"], "searches": runs[0]["searches"],
            "detector_calls": runs[0]["detector_calls"],
            "detector_ms_per_call": (med([r["detector_ms_per_call"] for r in runs])
                                     if runs[0]["detector_ms_per_call"] is not None else None),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def bench_video(clip, models, stride, max_seconds, repeats, device) -> list[dict]:
    """Run each model in a child process on the same clip; returns one row per model."""
    import torch
    from engine.video.pipeline import MEDIAPIPE, mediapipe_available
    from engine.models import list_models
    if not models:
        from engine.models.weights import shipped_weights
        shipped = [m for m in list_models() if m in shipped_weights()]
        models = [f"{m}@{rt}" for m in shipped for rt in ("torch", "onnx")] + \
            ([MEDIAPIPE] if mediapipe_available() else []) + [LITE]
    rows = []
    for m in models:
        args = json.dumps([str(clip), m, stride, max_seconds, repeats, str(device), torch.get_num_threads()])
        r = subprocess.run([sys.executable, "-m", "engine.training.benchvideo", args], capture_output=True, text=True)
        if r.returncode != 0:
            rows.append({"model": m, "error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"})
            continue
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return rows


def video_table(rows: list[dict], env: dict, clip) -> str:
    from pathlib import Path
    base = next((r for r in rows if r.get("model") == "mediapipe" and "fps" in r), None)
    lines = [f"Video inference on `{Path(clip).name}`, {env['device']}, {env['threads']} threads, "
             f"torch {env['torch']} ({env['date']}); medians of repeated runs, one process per model", "",
             "| model | runtime | frames/s | vs MediaPipe | decode ms | preprocess ms | model ms | postprocess ms "
             "| detector ms | finder: searches / detector calls | ms per detector call | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | | error: {r['error']} | | | | | | | | | |")
            continue
        ms = r["ms_per_frame"]
        ratio = f"{r['fps'] / base['fps']:.2f}x" if base else "–"
        name = r["model"] + (" (untrained weights)" if r.get("untrained") else "")
        finder = "–" if not r.get("person_finder") else \
            f"{r['person_finder']}: {r.get('searches') or 0} / {r.get('detector_calls') or 0}"
        per_call = r.get("detector_ms_per_call")
        lines.append(f"| {name} | {r.get('runtime', '')} | {r['fps']} | {ratio} | {ms['decode']} | {ms['preprocess']} | "
                     f"{ms['model']} | {ms['postprocess']} | {ms.get('detector', 0)} | {finder} | "
                     f"{'–' if per_call is None else per_call} | {r['peak_rss_mb']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(_one(*json.loads(sys.argv[1]))))
