"""How close the Compare tab's time estimate comes to the time an analysis then takes.

    python scripts/estimate_check.py [--clip CLIP] [--models dilated,mediapipe] [--strides 1,3,1]
                                     [--out bench/estimate-check.json]

For each stride in turn: the estimate the tab would show (``demo.estimate``: the real pipeline
timed on the clip's first frames per model, corrected by the earlier runs of this process as
the app corrects it by its own), then the analysis itself (``demo.compare.run_models``, as
the Analyse button runs it), timed. Both on this machine as loaded at the time, in one
process, as in the app. Writes the figures to ``--out`` (JSON) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    from demo import compare, estimate
    from engine.fileio import write_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "data" / "clips" / "side-wall.mp4")
    ap.add_argument("--models", default="dilated,mediapipe", help="comma-separated model names")
    ap.add_argument("--strides", default="1,3,1", help="comma-separated strides, run in this order")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "estimate-check.json")
    args = ap.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    info = compare.check_clip(args.clip)
    estimate.time_models(args.clip, names)  # loads each model once, as the app has (not timed)
    estimate._COSTS.clear()
    t0 = time.perf_counter()
    costs = estimate.time_models(args.clip, names)
    probe_s = time.perf_counter() - t0
    rows = []
    for k in (int(s) for s in args.strides.split(",")):
        est, line = estimate.describe(info["frames"], info["fps"], names, k, costs)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            compare.run_models(str(args.clip), names, tmp, stride=k)
            took = time.perf_counter() - t0
        raw = estimate.seconds(costs, info["frames"], k)
        estimate.learn(raw, took)  # as the app does after each analysis
        if est is None:  # the probe was unsteady: the app says no number (demo.estimate.describe)
            print(f"stride {k}: no estimate ({line}), took {took:.1f} s", flush=True)
        rows.append({"stride": k, "estimate_s": None if est is None else round(est, 1),
                     "raw_estimate_s": round(raw, 1), "took_s": round(took, 1),
                     "ratio": None if est is None else round(est / took, 2)})
        if est is not None:
            print(f"stride {k}: estimated {est:.1f} s (before correction {raw:.1f} s), took {took:.1f} s "
                  f"(x{est / took:.2f})", flush=True)
    import os
    write_json(args.out, {"clip": args.clip.name, "frames": info["frames"], "models": names,
                          "probe_s": round(probe_s, 1), "load_average": os.getloadavg()[0],
                          "costs": [c.__dict__ for c in costs], "results": rows})
    print(f"timing the probes took {probe_s:.1f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
