"""Analyse a squat clip: joints per frame, repetitions, angles and feedback.

    python -m engine.analyze CLIP [--model NAME] [--weights W] --out DIR [--no-smooth]
                             [--stride K] [--max-seconds S] [--device auto|cpu|cuda]

Writes ``DIR/keypoints.csv`` (frame, time_s, joint, x, y, confidence; frame pixels),
``DIR/report.json`` (reps, view, rep_details, feedback, fps_processed, ...) and
``DIR/annotated.mp4`` (H.264 with skeleton, knee angles and rep counter). The three files are
made in a temporary folder and moved into DIR only when all of them are complete; a clip
that cannot be read stops with a clear message and writes nothing.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .pose import PoseSeries
from .video import VideoError, VideoWriter, open_video

Progress = Callable[[float, str], None]
MEDIAPIPE = "mediapipe"


def mediapipe_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("mediapipe") is not None


def default_model_name() -> str:
    """The shipped default model, else MediaPipe when installed (said in the report)."""
    from .weights import default_model
    name = default_model()
    if name:
        return name
    if mediapipe_available():
        return MEDIAPIPE
    raise SystemExit("error: no shipped weights in weights/ and mediapipe is not installed; "
                     "pass --weights or pip install -r requirements-mediapipe.txt")


def make_predictor(model: str | None, weights: str | None = None, device: str = "auto", smooth: bool = True):
    """A Predictor for a registered model with weights, or MediaPipe's reference adapter."""
    name = model or (None if weights else default_model_name())
    if name == MEDIAPIPE:
        from .mediapipe_pose import MediaPipePose
        return MediaPipePose(smooth=smooth)
    from .predict import load_predictor
    from .weights import resolve
    name, path = resolve(name, weights)
    if path is None:
        raise SystemExit(f"error: no weights for model '{name}' in weights/; pass --weights")
    return load_predictor(name, str(path), device=device, smooth=smooth)


def predict(clip: str | Path, predictor, stride: int = 1, max_seconds: float | None = None,
            keep_heatmaps: bool = False, progress: Progress | None = None) -> PoseSeries:
    """Run a predictor over a clip and record its end-to-end speed in ``series.meta``."""
    t0 = time.perf_counter()
    series = predictor.predict_video(str(clip), stride=stride, max_seconds=max_seconds,
                                     keep_heatmaps=keep_heatmaps, progress=progress)
    secs = time.perf_counter() - t0
    series.meta["seconds"] = round(secs, 3)
    series.meta["fps_processed"] = round(len(series) / secs, 2) if secs > 0 else None
    return series


def keypoints_csv(series: PoseSeries) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "time_s", "joint", "x", "y", "confidence"])
    for f, t, j, x, y, c in series.rows():
        w.writerow([f, f"{t:.4f}", j, "" if not np.isfinite(x) else f"{x:.2f}",
                    "" if not np.isfinite(y) else f"{y:.2f}", f"{c:.4f}"])
    return buf.getvalue()


def reps_done_per_frame(report, times: np.ndarray) -> np.ndarray:
    """How many reps are complete at each time (for the on-screen counter)."""
    ends = sorted(r["end_s"] for r in report.rep_details)
    return np.searchsorted(np.asarray(ends), times, side="right")


def write_annotated(clip, series: PoseSeries, report, path: Path, stride: int = 1,
                    max_seconds: float | None = None, heatmaps: bool = False) -> int:
    """annotated.mp4: one frame per processed frame, skeleton + knee angles + rep counter."""
    from .render import annotate, heatmap_overlay
    done = reps_done_per_frame(report, series.times)
    by_frame = {int(f): t for t, f in enumerate(series.frame_indices)}
    n = 0
    with open_video(clip, stride=stride, max_seconds=max_seconds) as video, \
            VideoWriter(path, series.fps or video.fps / stride, video.frame_size) as out:
        for i, frame in video.frames():
            t = by_frame.get(i)
            if t is None:
                continue
            base = heatmap_overlay(frame, series, t) if heatmaps else frame
            knees = (report.knee_angle[t, 0], report.knee_angle[t, 1])
            out.write(annotate(base, series, t, knees, int(done[t]), series.model))
            n += 1
    return n


def run_analysis(clip: str | Path, out_dir: str | Path | None = None, model: str | None = None,
                 weights: str | None = None, smooth: bool = True, stride: int = 1,
                 max_seconds: float | None = None, device: str = "auto", keep_heatmaps: bool = False,
                 progress: Progress | None = None, predictor=None) -> tuple[dict, PoseSeries, object]:
    """clip -> predictor -> squat analysis -> (report dict, series, SquatReport); with
    ``out_dir`` also writes keypoints.csv, report.json and annotated.mp4 there, all or nothing."""
    from .analysis import analyze_series
    from .fileio import write_json, write_text
    clip = Path(clip)
    with open_video(clip) as v:  # fail early, before anything is written
        info = {"file": clip.name, "fps": v.fps, "frame_size": list(v.frame_size),
                "claimed_frames": v.frame_count}
    predictor = predictor or make_predictor(model, weights, device, smooth)
    series = predict(clip, predictor, stride, max_seconds, keep_heatmaps, progress)
    if len(series) == 0:
        raise VideoError(f"{clip.name}: no frame could be decoded")
    analysis = analyze_series(series)
    report = analysis.to_json()
    info["decoded_frames_processed"] = len(series)
    report.update({"model": series.model, "clip": info, "stride": stride, "smoothed": smooth,
                   "fps_processed": series.meta.get("fps_processed"),
                   "timings_s": series.meta.get("timings_s"), "frames": len(series)})
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            if progress:
                progress(0.95, "writing annotated video")
            n = write_annotated(clip, series, analysis, tmp / "annotated.mp4", stride, max_seconds)
            report["annotated_frames"] = n
            write_text(tmp / "keypoints.csv", keypoints_csv(series))
            write_json(tmp / "report.json", report)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in ("keypoints.csv", "annotated.mp4", "report.json"):
                os.replace(tmp / name, out_dir / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return report, series, analysis


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.analyze", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", help="video file (mp4, mov, webm, avi); never modified")
    p.add_argument("--model", help="registered model with shipped weights, or 'mediapipe' for the "
                                   "reference adapter (default: the shipped default model)")
    p.add_argument("--weights", help="a .safetensors file (its sidecar names the model)")
    p.add_argument("--out", required=True, help="output folder for keypoints.csv, report.json, annotated.mp4")
    p.add_argument("--no-smooth", action="store_true", help="turn the One Euro temporal filter off")
    p.add_argument("--stride", type=int, default=1, help="process every K-th frame (default 1)")
    p.add_argument("--max-seconds", type=float, help="only the first S seconds of the clip")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm
    bar = tqdm(total=100, desc="analyse", unit="%", bar_format="{l_bar}{bar}| {n:.0f}%")

    def progress(frac: float, msg: str) -> None:
        bar.n = round(100 * frac)
        bar.set_postfix_str(msg)
        bar.refresh()

    try:
        report, _, _ = run_analysis(args.clip, args.out, args.model, args.weights, not args.no_smooth,
                                    args.stride, args.max_seconds, args.device, progress=progress)
    except VideoError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    print(f"{report['model']}: {report['reps']} reps, view {report['view']}, "
          f"{report['fps_processed']} frames/s")
    for line in report["feedback"]:
        print(" -", line)
    print(f"wrote {args.out}/keypoints.csv, report.json, annotated.mp4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
