"""``python -m engine.interpolate``: the weight-space ensemble of zero-shot and fine-tuned
weights of one model (WiSE-FT), written as a weights file with its sidecar.

    python -m engine.interpolate START.safetensors END.safetensors --alpha 0.5 --out W.safetensors
                                 [--half] [--as NAME]

alpha 0 gives START (e.g. the imported MoveNet), 1 gives END (the same network fine-tuned).
Interpolating keeps much of the zero-shot model's robustness on data unlike the fine-tuning
set while keeping most of the fine-tuned gain (Wortsman et al., CVPR 2022); choose alpha on
people neither model trained on and not on the held-out sets."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.argtypes import run_cli


def main(argv=None) -> int:
    from engine.models import weights

    p = argparse.ArgumentParser(prog="python -m engine.interpolate", description=__doc__.split("\n\n")[0])
    p.add_argument("start", type=Path, help="weights at alpha 0 (the zero-shot model)")
    p.add_argument("end", type=Path, help="weights at alpha 1 (the same model fine-tuned)")
    p.add_argument("--alpha", type=float, required=True, help="0..1: how far from START towards END")
    p.add_argument("--out", type=Path, required=True, help="the weights file to write (and its .json sidecar)")
    p.add_argument("--half", action="store_true", help="store float16 tensors, as the shipped files are")
    p.add_argument("--as", dest="as_model", metavar="NAME",
                   help="the registered model name to write it as (the same network, e.g. movenet_thunder_ft)")
    args = p.parse_args(argv)
    if args.out.resolve() in (args.start.resolve(), args.end.resolve()):
        p.error("--out must not be one of the inputs (they are never modified)")
    model, meta = weights.interpolate(args.start, args.end, args.alpha, args.as_model)
    weights.save(model, args.out, meta, half=args.half)
    print(f"wrote {args.out} (alpha {args.alpha}: {1 - args.alpha:g} x {args.start.name} + "
          f"{args.alpha:g} x {args.end.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
