"""``python -m engine.lift3d``: lift the six lower-body joints from one camera to 3-D.

    python -m engine.lift3d train    [--data DIR] --out weights/lift3d/lifter.safetensors
    python -m engine.lift3d evaluate [--data DIR] [--weights W] --out DIR   # DIR/metrics.json
    python -m engine.lift3d predict  INPUT --out DIR [--weights W] [--model NAME]

``train`` fits a temporal-convolution lifter on virtual-camera views of the shared CMU mocap
trial (``cmu-mocap/bvh/13_29.bvh`` under the shared data folder), keeping the end of the
trial and 12 azimuths out of training; ``evaluate`` scores it there (MPJPE in mm after
aligning the hip midpoint and after Procrustes, per joint, knee-flexion error in degrees,
with exact and with noisy 2-D); ``predict`` lifts a clip (analysed first with a pose model) or
a joint file (``keypoints.csv`` from ``python -m engine.analyze``, a Penn Action ``.mat``) and
writes ``joints3d.csv`` and ``report.json`` with each rep's 3-D figures beside the 2-D ones.
See docs/3d.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.argtypes import positive_float, positive_int

ROOT = Path(__file__).resolve().parents[2]
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v")


def default_data() -> Path:
    return Path(os.environ.get("SQUATPOSE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.lift3d", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the lifter on the CMU mocap trial")
    t.add_argument("--data", type=Path, default=None, help="shared data folder holding "
                   "cmu-mocap/ (default: $SQUATPOSE_SHARED_DATA or ../shared/data)")
    t.add_argument("--out", type=Path, required=True, help="weights file to write "
                   "(.safetensors; its .json sidecar beside it, both atomically)")
    t.add_argument("--steps", type=positive_int, default=3000, help="training batches (default 3000; about 8 minutes on one busy CPU core)")
    t.add_argument("--batch", type=positive_int, default=256, help="samples per batch (default 256)")
    t.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate (cosine decay)")
    t.add_argument("--width", type=positive_int, default=96, help="channels of the convolutions")
    t.add_argument("--seed", type=int, default=0, help="random seed (cameras, noise, weights)")
    t.add_argument("--straighten", type=float, default=0.5, help="share of samples whose knees "
                   "are opened towards straight (the mocap subject stands with bent knees; "
                   "docs/3d.md), 0 to 1 (default 0.5)")
    t.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    e = sub.add_parser("evaluate", help="score a lifter on the held-out mocap frames and azimuths")
    e.add_argument("--data", type=Path, default=None, help="shared data folder (as for train)")
    e.add_argument("--weights", type=Path, default=None,
                   help="lifter weights (default: the shipped weights/lift3d/lifter.safetensors)")
    e.add_argument("--out", type=Path, required=True, help="folder for metrics.json")
    e.add_argument("--clips", type=Path, default=None, help="also run on the squat clips of "
                   "this folder (its clips.json), e.g. ../shared/data/clips, with MediaPipe's 2-D "
                   "joints: the 3-D knee angle against the 2-D one on the side views, and the 3-D "
                   "joints against MediaPipe's own 3-D (needs the MediaPipe extra)")
    e.add_argument("--no-flip", action="store_true", help="lift the input only, without "
                   "averaging in its mirror image (the test-time flip, on by default)")
    e.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    r = sub.add_parser("predict", help="lift a clip or a joint file to 3-D")
    r.add_argument("input", type=Path, help="a clip (mp4, mov, ...) or a joint file "
                   "(keypoints.csv, a CSV of frame, time_s, joint, x, y, confidence, or a Penn "
                   "Action .mat); never modified")
    r.add_argument("--out", type=Path, required=True, help="folder for joints3d.csv and report.json")
    r.add_argument("--weights", type=Path, default=None, help="lifter weights (default: shipped)")
    r.add_argument("--model", default=None, help="pose model for a clip (as engine.analyze's "
                   "--model; default the shipped default)")
    r.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate of a joint file without times (default: its times, else 30)")
    r.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    return p


def _trial(data: Path | None) -> Path:
    from .trainer import TRIAL
    path = (data or default_data()) / TRIAL
    if not path.is_file():
        raise FileNotFoundError(f"mocap trial not found at {path} (give --data, the folder that "
                                "holds cmu-mocap/)")
    return path


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from .bvh import BVHError
    from .weights import LifterWeightsError
    try:
        if args.cmd == "train":
            return _train(args)
        if args.cmd == "evaluate":
            return _evaluate(args)
        return _predict(args)
    except (FileNotFoundError, BVHError, LifterWeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _train(args) -> int:
    from .trainer import HELDOUT_AZIMUTHS, HELDOUT_FROM_S, TRIAL, evaluate_lifter, load_split, train_lifter
    from .weights import save_lifter
    if args.out.suffix != ".safetensors":
        raise ValueError(f"--out {args.out}: give a .safetensors file name")
    split = load_split(_trial(args.data))
    if not 0 <= args.straighten <= 1:
        raise ValueError(f"--straighten {args.straighten}: give a share from 0 to 1")
    model, log = train_lifter(split, args.steps, args.batch, args.lr, args.width, args.seed,
                              args.straighten)
    metrics = evaluate_lifter(model, split)
    meta = {"trained_on": f"{TRIAL} (CMU subject 13; T-pose frame dropped), frames before "
                          f"{HELDOUT_FROM_S} s, and its mirror image; virtual cameras",
            "heldout_azimuths_deg": HELDOUT_AZIMUTHS.tolist(), "heldout_from_s": HELDOUT_FROM_S,
            "training": log,
            "command": "python -m engine.lift3d train " + " ".join(
                f"--{k} {v}" for k, v in (("steps", args.steps), ("batch", args.batch),
                                          ("lr", args.lr), ("width", args.width),
                                          ("seed", args.seed), ("straighten", args.straighten)))
                       + f" --out {args.out}",
            "metrics": {k: {m: v[m] for m in ("mpjpe_mm", "pa_mpjpe_mm", "knee_flexion_error_deg")}
                        for k, v in metrics.items() if k != "heldout"}}
    save_lifter(model, args.out, meta)
    _print_metrics(metrics)
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    return 0


def _print_metrics(metrics: dict) -> None:
    for key in ("exact_2d", "noisy_2d"):
        m = metrics[key]
        print(f"{key} (held-out mocap): MPJPE {m['mpjpe_mm']} mm, after Procrustes {m['pa_mpjpe_mm']} mm, knee "
              f"flexion error median {m['knee_flexion_error_deg']['median']} deg")


def _evaluate(args) -> int:
    from engine.fileio import write_json
    from .trainer import evaluate_lifter, load_split
    from .weights import SHIPPED, load_lifter
    model, meta = load_lifter(args.weights)
    split = load_split(_trial(args.data))
    metrics = evaluate_lifter(model, split, flip=not args.no_flip)
    w = Path(args.weights or SHIPPED).resolve()
    metrics["weights"] = str(w.relative_to(ROOT) if w.is_relative_to(ROOT) else w)
    metrics["weights_date"] = meta.get("date")
    if args.clips:
        from .clips import clip_agreement
        if not (args.clips / "clips.json").is_file():
            raise FileNotFoundError(f"{args.clips}: no clips.json there")
        metrics["clips"] = clip_agreement(args.clips, model, flip=not args.no_flip)
    write_json(args.out / "metrics.json", metrics)
    _print_metrics(metrics)
    if "clips" in metrics:
        c = metrics["clips"]
        print(f"clips: side views, median |3-D - 2-D| knee angle {c['side_knee_median_abs_diff_deg']}"
              f" deg; against MediaPipe's 3-D, knee {c['world_knee_median_abs_diff_deg']} deg, "
              f"MPJPE after Procrustes {c['world_pa_mpjpe_mm']} mm")
    print(f"wrote {args.out / 'metrics.json'}")
    return 0


def _predict(args) -> int:
    import numpy as np

    from engine.fileio import write_json, write_text
    from engine.joints import JOINTS
    from .predict import add_3d
    from .weights import load_lifter
    model, meta = load_lifter(args.weights)
    if args.input.suffix.lower() in VIDEO_SUFFIXES:
        from engine.video.pipeline import run_analysis
        report, series, _ = run_analysis(args.input, model=args.model)
    else:
        from engine.analysis import analyze_series
        from engine.analysis.readers import read_keypoints
        series = read_keypoints(args.input, args.fps)
        report = analyze_series(series).to_json()
        report["model"] = series.model
    kp3 = add_3d(report, series, model, meta)
    rows = ["frame,time_s,joint,x_m,y_m,z_m"]
    for t in range(len(series)):
        for j, name in enumerate(JOINTS):
            x, y, z = (("" if not np.isfinite(v) else f"{v:.4f}") for v in kp3[t, j])
            rows.append(f"{int(series.frame_indices[t])},{series.times[t]:.4f},{name},{x},{y},{z}")
    write_text(args.out / "joints3d.csv", "\n".join(rows) + "\n")
    write_json(args.out / "report.json", report)
    for i, d in enumerate(report.get("rep_details", []), 1):
        d3 = d.get("3d", {})
        print(f"rep {i}: knee {d.get('bottom_knee_angle')} deg (2-D) / "
              f"{d3.get('bottom_knee_angle')} deg (3-D), hip below knee "
              f"{d3.get('hip_below_knee_m')} m, valgus L/R {d3.get('bottom_valgus_deg_left')} / "
              f"{d3.get('bottom_valgus_deg_right')} deg")
    print(f"wrote {args.out / 'joints3d.csv'} and {args.out / 'report.json'}")
    return 0
