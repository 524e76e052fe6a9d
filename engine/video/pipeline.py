"""Analyse a squat clip: joints per frame, repetitions, angles and feedback.

    python -m engine.analyze CLIP [--model NAME] [--weights W] --out DIR [--no-smooth]
                             [--stride K] [--max-seconds S] [--device auto|cpu|cuda] [--heatmaps]
                             [--finder auto|detector|search]
    python -m engine.analyze --keypoints FILE --out DIR [--fps F]
    python -m engine.analyze --keypoints-batch FOLDER --out DIR [--fps F]

``--keypoints`` analyses joints that another tool (or this one) found, without video: the
project's own keypoints.csv, a Penn Action label file (.mat), or a CSV of frame, time_s,
joint, x, y, confidence with joint names or COCO indices (docs/analysis.md). It writes
``DIR/report.json`` only (no annotated.mp4 without video). ``--keypoints-batch`` analyses
every .mat/.csv in a folder and writes ``DIR/tracks.csv`` and ``DIR/views.md`` (the labelled
view against the view found, where the files name one).

Writes ``DIR/keypoints.csv`` (frame, time_s, joint, x, y, confidence; frame pixels),
``DIR/report.json`` (reps, view, rep_details, feedback, fps_processed, ...) and
``DIR/annotated.mp4`` (H.264 with skeleton, knee angles and rep counter). The three files are
made in a temporary folder and moved into DIR only when all of them are complete; a clip
that cannot be read stops with a clear message (exit code 2) and writes nothing.

The default model is the shipped default (``engine.models.weights.default_model``); while no trained
weights are shipped it is MediaPipe Pose, and the output says so. The library entry point for
the app is ``run_analysis``.
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

from engine.argtypes import device_name, positive_float, positive_int
from engine.models.onnx_runtime import DEFAULT_RUNTIME
from engine.pose import PoseSeries
from .reader import VideoError, VideoWriter, open_video

Progress = Callable[[float, str], None]
MEDIAPIPE = "mediapipe"


def mediapipe_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("mediapipe") is not None


#: What the report and the terminal say when the default falls back to MediaPipe.
MEDIAPIPE_FALLBACK_NOTE = ("No trained SquatPose weights are shipped yet, so the default model is "
                           "MediaPipe Pose (the reference model); pass --model/--weights to choose.")


def default_model_name() -> str:
    """The shipped default model (``engine.models.weights.default_model``), else MediaPipe when it is
    installed (``MEDIAPIPE_FALLBACK_NOTE`` says so in the report). Raises ``WeightsError``
    when neither exists."""
    from engine.models.weights import WeightsError, default_model
    name = default_model()
    if name:
        return name
    if mediapipe_available():
        return MEDIAPIPE
    raise WeightsError("no shipped weights in weights/ and mediapipe is not installed: pass "
                       "--weights, or pip install -r requirements-mediapipe.txt")


def make_predictor(model: str | None, weights: str | None = None, device: str = "auto", smooth: bool = True,
                   finder: str = "auto", runtime: str = DEFAULT_RUNTIME):
    """A Predictor for a registered model with weights, or MediaPipe's reference adapter;
    ``finder`` says how a heatmap model finds the athlete (``engine.video.predict.FINDERS``),
    ``runtime`` what runs it (``HeatmapPredictor``; default ``DEFAULT_RUNTIME``, "auto" = ONNX Runtime on the CPU, else PyTorch).
    Raises ``engine.models.weights.WeightsError`` (no usable weights), ``ImportError`` (MediaPipe
    missing) or ``ValueError`` (unknown device), each with a readable message."""
    name = model or (None if weights else default_model_name())
    if name == MEDIAPIPE and not weights:
        from .mediapipe_pose import MediaPipePose, _mediapipe
        _mediapipe()  # a clear ImportError now, not at the first frame
        return MediaPipePose(smooth=smooth)
    from engine.models import list_models
    from .predict import load_predictor
    from engine.models.weights import WeightsError, resolve
    if name and not weights and name not in list_models():
        raise WeightsError(f"unknown model '{name}' (known: {', '.join([*list_models(), MEDIAPIPE])})")
    name, path = resolve(name, weights)
    if path is None:
        raise WeightsError(f"no weights for model '{name}' in weights/; pass --weights")
    return load_predictor(name, str(path), device=device, smooth=smooth, finder=finder, runtime=runtime)


def choose_predictor(model: str | None = None, weights: str | None = None, device: str = "auto",
                     smooth: bool = True, finder: str = "auto", runtime: str = DEFAULT_RUNTIME):
    """(predictor, note): ``make_predictor`` for the CLI's options, with the default model
    resolved; ``note`` says when that default is the MediaPipe fallback (else None)."""
    note = None
    if model is None and weights is None:
        model = default_model_name()
        if model == MEDIAPIPE:
            note = MEDIAPIPE_FALLBACK_NOTE
    return make_predictor(model, weights, device, smooth, finder, runtime), note


def predict(clip: str | Path, predictor, stride: int = 1, max_seconds: float | None = None,
            keep_heatmaps: bool = False, progress: Progress | None = None) -> PoseSeries:
    """Run a predictor over a clip and record its end-to-end speed in ``series.meta``."""
    t0 = time.perf_counter()
    series = predictor.predict_video(str(clip), stride=stride, max_seconds=max_seconds,
                                     keep_heatmaps=keep_heatmaps, progress=progress)
    secs = time.perf_counter() - t0
    series.meta["seconds"] = round(secs, 3)
    series.meta["fps_processed"] = round(len(series) / secs, 2) if secs > 0 else None
    series.meta["model_s"] = round(model_seconds(series), 3)
    return series


#: The stages of ``timings_s`` that are a model's own work on its crops (not decoding, not the
#: person detector).
MODEL_STAGES = ("preprocess", "model", "postprocess")


def model_seconds(series: PoseSeries) -> float:
    """The model's own time in a series' pass: cutting its crops, the network and decoding its
    heatmaps (``MODEL_STAGES`` of ``meta['timings_s']``), seconds."""
    t = series.meta.get("timings_s") or {}
    return float(sum(t.get(k, 0.0) for k in MODEL_STAGES))


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


#: x264 preset of annotated.mp4: "ultrafast" encoded a 10 s 960x544 clip in 1.1 s against
#: veryfast's 2.4 s (files 2.4x larger: 1.9 MB against 0.8 MB), on the 2-core machine in one run
#: (2026-11-27); the Compare tab writes one per model, and the encode was a third of its time.
ANNOTATED_PRESET = "ultrafast"


def write_annotated(clip, series: PoseSeries, report, path: Path, stride: int = 1,
                    max_seconds: float | None = None, heatmaps: bool = False) -> int:
    """annotated.mp4: one frame per processed frame, skeleton + knee angles + rep counter."""
    from .render import annotate, heatmap_overlay
    done = reps_done_per_frame(report, series.times)
    by_frame = {int(f): t for t, f in enumerate(series.frame_indices)}
    n = 0
    with open_video(clip, stride=stride, max_seconds=max_seconds) as video, \
            VideoWriter(path, series.fps or video.fps / stride, video.frame_size,
                        preset=ANNOTATED_PRESET) as out:
        for i, frame in video.frames():
            t = by_frame.get(i)
            if t is None:
                continue
            base = heatmap_overlay(frame, series, t) if heatmaps else frame
            knees = (report.knee_angle[t, 0], report.knee_angle[t, 1])
            out.write(annotate(base, series, t, knees, int(done[t]), series.model,
                               unreliable=not np.isfinite(report.depth[t])))
            n += 1
    return n


def run_analysis(clip: str | Path, out_dir: str | Path | None = None, model: str | None = None,
                 weights: str | None = None, smooth: bool = True, stride: int = 1,
                 max_seconds: float | None = None, device: str = "auto", keep_heatmaps: bool = False,
                 progress: Progress | None = None, predictor=None, model_note: str | None = None,
                 overlay_heatmaps: bool = False, series: PoseSeries | None = None) -> tuple[dict, PoseSeries, object]:
    """clip -> predictor -> squat analysis -> (report dict, series, SquatReport); with
    ``out_dir`` also writes keypoints.csv, report.json and annotated.mp4 there, all or nothing.

    ``predictor`` (already loaded, e.g. by the app) wins over ``model``/``weights``/``device``/
    ``smooth``; ``model_note`` is then recorded as ``report['model_note']``. With
    ``overlay_heatmaps`` the model's heatmaps are drawn under the skeleton in annotated.mp4
    (heatmap models only; MediaPipe has none). ``series``: joints already found on this clip
    with this ``stride`` and ``max_seconds`` (``engine.video.multi.predict_many``'s shared pass):
    no model runs, the analysis and the files are made from them. Raises ``VideoError`` for an
    unreadable clip (nothing written), and what ``make_predictor`` raises for an unusable model."""
    from engine.analysis import analyze_series
    from engine.fileio import write_json, write_text
    clip = Path(clip)
    with open_video(clip) as v:  # fail early, before anything is written
        info = {"file": clip.name, "fps": v.fps, "frame_size": list(v.frame_size),
                "claimed_frames": v.frame_count}
    note = model_note
    if predictor is None and series is None:
        predictor, note = choose_predictor(model, weights, device, smooth)
    def model_progress(frac: float, msg: str) -> None:  # the model's pass is the first 90%
        if progress:
            progress(0.9 * min(max(frac, 0.0), 1.0), msg)

    if series is None:
        series = predict(clip, predictor, stride, max_seconds, keep_heatmaps or overlay_heatmaps,
                         model_progress)
    if len(series) == 0:
        raise VideoError(f"{clip.name}: no frame could be decoded")
    analysis = analyze_series(series)
    report = analysis.to_json()
    from engine.lifting.predict import try_add_3d
    series.meta["joints3d"] = try_add_3d(report, series)  # each rep's 3-D figures (docs/3d.md)
    info["decoded_frames_processed"] = len(series)
    report.update({"model": series.model, "clip": info, "stride": stride,
                   "smoothed": "smoothing" in series.meta, "smoothing": series.meta.get("smoothing"),
                   "fps_processed": series.meta.get("fps_processed"),
                   "timings_s": series.meta.get("timings_s"), "frames": len(series),
                   "searches": series.meta.get("searches")})
    for key in ("runtime", "person_finder", "person_finder_note", "detector", "detector_calls",
                "detector_ms_per_call", "model_s", "shared_pass"):
        if key in series.meta:  # heatmap models: how the athlete was found
            report[key] = series.meta[key]
    if note:
        report["model_note"] = note
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            if progress:
                progress(0.9, "writing annotated video")
            n = write_annotated(clip, series, analysis, tmp / "annotated.mp4", stride, max_seconds,
                                heatmaps=overlay_heatmaps)
            report["annotated_frames"] = n
            write_text(tmp / "keypoints.csv", keypoints_csv(series))
            write_json(tmp / "report.json", report)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in ("keypoints.csv", "annotated.mp4", "report.json"):
                os.replace(tmp / name, out_dir / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress(1.0, "done")
    return report, series, analysis


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.analyze", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", nargs="?", help="video file (mp4, mov, webm, avi); never modified")
    p.add_argument("--keypoints", metavar="FILE",
                   help="analyse this joint file instead of a clip: keypoints.csv, a plain CSV "
                        "(frame, time_s, joint, x, y, confidence) or a Penn Action .mat; writes "
                        "report.json only")
    p.add_argument("--keypoints-batch", metavar="FOLDER",
                   help="analyse every .mat/.csv joint file in FOLDER; writes tracks.csv and views.md "
                        "(labelled view against the view found)")
    p.add_argument("--fps", type=float, metavar="F",
                   help="frame rate of a joint file without times (default: its time_s column, "
                        "else 30, which the report then says)")
    p.add_argument("--model", metavar="NAME",
                   help="a registered model with weights in weights/ (e.g. resnet18, dilated), or "
                        "'mediapipe' for the MediaPipe Pose reference adapter (default: the shipped "
                        "default model; MediaPipe while no weights are shipped)")
    p.add_argument("--weights", metavar="W", help="a .safetensors weights file; its JSON sidecar "
                                                  "names the model, so --model may be left out")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder for keypoints.csv, report.json and annotated.mp4 (created; "
                        "existing files of those names are replaced only once all three are ready; "
                        "with --keypoints: report.json only)")
    p.add_argument("--no-smooth", action="store_true",
                   help="turn the One Euro temporal filter of the joints off (on by default)")
    p.add_argument("--stride", type=positive_int, default=1, metavar="K",
                   help="process every K-th decoded frame (default 1: all); faster, coarser timing")
    p.add_argument("--max-seconds", type=positive_float, metavar="S",
                   help="only analyse the first S seconds of the clip (default: all of it)")
    p.add_argument("--device", type=device_name, default="auto", help="where a heatmap model runs: auto (CUDA when "
                                                     "present, else CPU), cpu or cuda (MediaPipe: CPU)")
    p.add_argument("--finder", choices=("auto", "detector", "search"), default="auto",
                   help="how a heatmap model finds the athlete: auto (the person detector, or the "
                        "detector-free search when it cannot be loaded; the default), detector, or "
                        "search (no detector); report.json says which was used")
    p.add_argument("--runtime", choices=("auto", "torch", "onnx", "onnx-int8"), default=DEFAULT_RUNTIME,
                   help="what runs a heatmap model: auto (the default: ONNX Runtime on the CPU, the "
                        "faster here, docs/onnx.md; exported from the weights on first use; PyTorch on "
                        "CUDA or when ONNX Runtime cannot be used, said once), torch, onnx (ONNX "
                        "Runtime or an error) or onnx-int8 "
                        "(the int8 file of python -m engine.export --int8); report.json says which ran")
    p.add_argument("--heatmaps", action="store_true", help="draw the model's heatmaps under the "
                                                           "skeleton in annotated.mp4 (heatmap models only)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = [x for x in (args.clip, args.keypoints, args.keypoints_batch) if x]
    if len(given) != 1:
        parser.error("give one of: a CLIP, --keypoints FILE or --keypoints-batch FOLDER")
    if args.keypoints or args.keypoints_batch:
        return keypoints_main(args)
    if args.fps is not None:
        parser.error("--fps is for --keypoints (a clip's frame rate comes from the clip)")
    if args.stride < 1:
        parser.error("--stride must be 1 or more")
    if args.max_seconds is not None and not args.max_seconds > 0:
        parser.error("--max-seconds must be more than 0")
    from tqdm import tqdm

    from engine.models.weights import WeightsError
    try:
        with open_video(args.clip):  # a clip that cannot be read stops here, before any model loads
            pass
        predictor, note = choose_predictor(args.model, args.weights, args.device, not args.no_smooth,
                                           args.finder, args.runtime)
        if args.finder == "detector" and hasattr(predictor, "person_detector"):
            predictor.person_detector()  # a clear message now when the detector cannot be loaded
    except (VideoError, WeightsError, ImportError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if note:
        print(f"note: {note}", file=sys.stderr)
    bar = tqdm(total=100, desc="analyse", unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def progress(frac: float, msg: str) -> None:
        step = round(100 * frac) - bar.n
        if step > 0:  # update() lets tqdm throttle its redraws
            bar.set_postfix_str(msg, refresh=False)
            bar.update(step)

    try:
        report, _, _ = run_analysis(args.clip, args.out, smooth=not args.no_smooth, stride=args.stride,
                                    max_seconds=args.max_seconds, progress=progress, predictor=predictor,
                                    model_note=note, overlay_heatmaps=args.heatmaps)
    except VideoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(f"{report['model']}: {report['reps']} reps, view {report['view']}, "
          f"{report['fps_processed']} frames/s")
    for line in report["feedback"]:
        print(" -", line)
    print(f"wrote {args.out}/keypoints.csv, report.json, annotated.mp4")
    return 0


def keypoints_main(args) -> int:
    """The --keypoints / --keypoints-batch half of the command (exit 2 on a bad file or folder)."""
    from engine.analysis.batch import write_batch, write_report
    from engine.analysis.readers import KeypointsError
    try:
        if args.keypoints:
            report = write_report(args.keypoints, args.out, args.fps)
        else:
            rows = write_batch(args.keypoints_batch, args.out, args.fps)
    except KeypointsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.keypoints:
        if report.get("fps_note"):
            print(f"note: {report['fps_note']}", file=sys.stderr)
        print(f"{report['source']['file']}: {report['reps']} reps, view {report['view']}")
        for line in report["feedback"]:
            print(" -", line)
        print(f"wrote {args.out}/report.json")
        return 0
    failed = [r for r in rows if r["error"]]
    print(Path(args.out, "views.md").read_text(), end="")
    print(f"wrote {args.out}/tracks.csv, views.md")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
