"""Time the app's Compare tab on one clip: the analysis its default selection runs (the
models the tab ticks on first load, ``demo.summary.preselected``), through the same
``demo.compare.run_models`` the tab calls, on N CPU threads, and say where the time goes.

    python scripts/bench_compare.py CLIP [--seconds 10] [--threads 2] [--out bench]

The clip's first ``--seconds`` are cut into a temporary file first (the clip itself is never
modified). Each model's wall time is split into: the model's pass over the video (decode,
preprocess, model, postprocess, person detector, and the rest: the motion map and the tracker)
and the rest of the analysis (squat analysis, writing annotated.mp4, keypoints.csv,
report.json). Heatmap models that share one pass (``engine.video.multi``) count their own
time there (``model_s``); decoding, the detector and the tracking are counted once, in a row of
their own. Writes ``OUT/bench-compare.json`` and ``OUT/bench-compare.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cut(clip: Path, seconds: float, dest: Path) -> tuple[Path, int, float]:
    from engine.video.reader import VideoWriter, open_video
    n = 0
    with open_video(clip, max_seconds=seconds) as v, VideoWriter(dest, v.fps, v.frame_size) as out:
        for _, frame in v.frames():
            out.write(frame)
            n += 1
        fps = v.fps
    return dest, n, fps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip")
    p.add_argument("--seconds", type=float, default=10.0, help="cut the clip to its first S seconds (default 10)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2, a free Space's)")
    p.add_argument("--models", nargs="+", help="default: the Compare tab's default selection")
    p.add_argument("--out", default="bench", help="folder for bench-compare.json / .md")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from demo import compare, summary
    from engine.models.weights import default_model
    from engine.video.pipeline import MODEL_STAGES
    models = args.models or summary.preselected(compare.available_models(), default_model(), summary.scorecard())
    with tempfile.TemporaryDirectory() as tmp:
        clip, frames, fps = cut(Path(args.clip), args.seconds, Path(tmp) / "clip.mp4")
        t_load = time.perf_counter()
        for m in models:  # loaded once per process by the app, before a visitor's first click
            compare._predictor(m)
        load_s = time.perf_counter() - t_load
        t0 = time.perf_counter()
        runs = compare.run_models(str(clip), models, out_root=Path(tmp) / "out")
        total = time.perf_counter() - t0
        rows, tracking_s = [], 0.0
        for r in runs:
            rep = r.report
            shared = r.series.meta.get("shared_pass")
            if shared:  # its own time; the pass's decoding and tracking once, below
                tracking_s = shared["tracking_s"]
            predict_s = r.series.meta.get("model_s" if shared else "seconds") or 0.0
            stages = {k: round(v, 2) for k, v in (rep.get("timings_s") or {}).items()}
            rows.append({"model": r.name, "predict_s": round(predict_s, 2), "stages_s": stages,
                         "other_predict_s": round(predict_s - sum(v for k, v in stages.items()
                                                                  if not shared or k in MODEL_STAGES), 2),
                         "person_finder": rep.get("person_finder"), "searches": rep.get("searches"),
                         "detector_calls": rep.get("detector_calls"),
                         "detector_ms_per_call": rep.get("detector_ms_per_call"), "reps": rep.get("reps")})
    # the rest of the wall time per model: analysis and the output files (annotated.mp4 above all)
    result = {"clip": str(args.clip), "seconds": args.seconds, "frames": frames, "fps": fps,
              "threads": args.threads, "models": models, "total_s": round(total, 2),
              "models_load_s": round(load_s, 2), "rows": rows,
              "date": datetime.datetime.now().isoformat(timespec="minutes"), "torch": torch.__version__}
    result["shared_pass_tracking_s"] = round(tracking_s, 2)
    rest = total - sum(r["predict_s"] for r in rows) - tracking_s
    result["analysis_and_outputs_s"] = round(rest, 2)
    out = Path(args.out)
    from engine.fileio import write_json, write_text
    write_json(out / "bench-compare.json", result)
    lines = [f"Compare tab, default selection ({', '.join(models)}), on the first {args.seconds:g} s "
             f"of `{Path(args.clip).name}` ({frames} frames), {args.threads} threads, torch {torch.__version__} "
             f"({result['date']}): **{total:.1f} s** (models loaded beforehand: {load_s:.1f} s)", "",
             "| model | video pass s | decode | preprocess | model | postprocess | detector | other | "
             "searches / detector calls | ms per detector call |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["stages_s"]
        finder = "–" if r["searches"] is None else f"{r['searches']} / {r['detector_calls'] or 0}"
        lines.append(f"| {r['model']} | {r['predict_s']} | {s.get('decode', '–')} | {s.get('preprocess', '–')} | "
                     f"{s.get('model', '–')} | {s.get('postprocess', '–')} | {s.get('detector', '–')} | "
                     f"{r['other_predict_s'] if s else '–'} | {finder} | {r['detector_ms_per_call'] or '–'} |")
    if tracking_s:
        lines.append(f"| the shared pass's decoding, detector and tracking, once | {result['shared_pass_tracking_s']} "
                     "| | | | | | | | |")
    lines.append(f"| analysis + annotated.mp4 + files, all models | {result['analysis_and_outputs_s']} | | | | | | | | |")
    write_text(out / "bench-compare.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
