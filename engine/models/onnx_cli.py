"""Export the shipped pose models to ONNX for ONNX Runtime (``engine.models.onnx_runtime``).

    python -m engine.export                      # every shipped weight file in weights/
    python -m engine.export --models movenet_thunder mobilenetv2 --int8

Each file goes to the cache (``weights/.onnx/<stem>-<sha256 of the weights>-v<format>.onnx``, or the
user cache dir when weights/ is not writable; ``SQUATPOSE_ONNX_DIR`` overrides), is checked against
PyTorch before it is renamed into place, and is skipped when it is there already and current. The
app, ``engine.analyze`` and ``engine.evaluate --runtime onnx`` export on first use anyway; run
this when weights ship, so that nothing waits for an export. ``--int8`` adds the statically
quantised copy (``engine.models.onnx_quantize``), used only with ``--runtime onnx-int8``.
"""
from __future__ import annotations

import argparse
import sys
import time

from engine.argtypes import positive_int


def build_parser() -> argparse.ArgumentParser:
    from .onnx_quantize import DEFAULT_ANN, DEFAULT_IMAGES
    p = argparse.ArgumentParser(prog="python -m engine.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help="shipped models to export (default: every shipped weight file)")
    p.add_argument("--weights", nargs="+", metavar="FILE",
                   help="weight files (.safetensors with a sidecar) to export instead of shipped ones")
    p.add_argument("--force", action="store_true", help="export again even when a current file exists")
    p.add_argument("--int8", action="store_true",
                   help="also write the statically quantised int8 copy (calibrated on --calib-count "
                        "crops of --calib-ann's people); used only with --runtime onnx-int8")
    p.add_argument("--calib-ann", default=str(DEFAULT_ANN),
                   help="COCO person-keypoints file whose people calibrate int8 (default: COCO-MINI "
                        "train, ../shared/data/coco-mini)")
    p.add_argument("--calib-images", default=str(DEFAULT_IMAGES), help="the images --calib-ann names")
    p.add_argument("--calib-count", type=positive_int, default=300,
                   help="calibration crops (a seeded draw of people, none from the images the "
                        "sidecar lists as held out; default 300)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration draw (default 0)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .onnx_quantize import calibration_crops, held_out_images, quantize
    from .onnx_runtime import OnnxUnavailable, export, onnx_path
    from .weights import WeightsError, codec_for, read_sidecar, shipped_weights

    shipped = shipped_weights()
    if args.weights:
        files = list(args.weights)
    else:
        unknown = [m for m in args.models or [] if m not in shipped]
        if unknown:
            print(f"error: no shipped weights for {', '.join(unknown)} (shipped: {', '.join(shipped)})",
                  file=sys.stderr)
            return 2
        files = [shipped[m] for m in (args.models or shipped)]
    failed = 0
    for f in files:
        try:
            meta = read_sidecar(f)
            path = onnx_path(f)
            t0 = time.perf_counter()
            if args.force or not path.is_file():
                export(None, f)
                print(f"{meta['model']}: exported {path} ({time.perf_counter() - t0:.1f} s)")
            else:
                print(f"{meta['model']}: current {path}")
            if args.int8:
                t0 = time.perf_counter()
                crops = calibration_crops(codec_for(meta), args.calib_ann, args.calib_images,
                                          args.calib_count, args.seed, held_out_images(meta))
                q = quantize(f, crops)
                print(f"{meta['model']}: int8 {q} ({len(crops)} calibration crops, "
                      f"{time.perf_counter() - t0:.1f} s)")
        except (WeightsError, OnnxUnavailable, OSError, ValueError) as e:
            print(f"error: {f}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
