"""Issue 28: choose a WiSE-FT mix of zero-shot and fine-tuned MoveNet on unseen people, then
measure the chosen one once on the held-out sets.

    python scripts/wise_ft.py START.safetensors END.safetensors UNSEEN_PREFIX WORK OUT.json \
        [--alphas 0 0.25 0.5 0.75 1] [--heldout data/recipe]

1. For each alpha, ``python -m engine.interpolate START END --alpha A`` (WORK/a{A}.safetensors).
2. Each is evaluated (``python -m engine.evaluate``) on UNSEEN_PREFIX-{lsp,coco,clips}.json:
   the training file's people the fine-tuning run never saw (``scripts/unseen_people.py``).
3. The rule, fixed before any held-out figure was looked at: the alpha with the highest mean of
   the three unseen PCK@0.05 figures (Leeds Sports Pose, COCO-MINI, clip frames; each set
   counts once, as the three kinds of people the product meets). Ties go to the smaller alpha.
4. Only the chosen alpha (and alpha 0 and 1, for the comparison) is evaluated on the held-out
   sets HELDOUT/val-lsp.json and val-coco.json. Everything goes to OUT.json.
Reports already in WORK are reused, so a cut run continues where it stopped.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere, as the other scripts

from engine.fileio import write_json  # noqa: E402

SETS = ("lsp", "coco", "clips")


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")


def evaluate(weights: Path, ann: Path, images: Path, report: Path) -> dict:
    if not report.is_file():
        run([sys.executable, "-m", "engine.evaluate", "--weights", str(weights), "--ann", str(ann),
             "--images", str(images), "--out", str(report)])
    r = json.loads(report.read_text())
    return {"pck@0.05": round(r["pck@0.05"], 4), "pck@0.1": round(r["pck@0.1"], 4),
            "joints": r["joints_counted"], "per_joint": {k: round(v, 4) for k, v in r["per_joint"].items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("start", type=Path)
    p.add_argument("end", type=Path)
    p.add_argument("unseen", help="prefix of scripts/unseen_people.py's files")
    p.add_argument("work", type=Path, help="folder for the mixed weights and the reports")
    p.add_argument("out", type=Path)
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--heldout", type=Path, default=ROOT / "data" / "recipe",
                   help="the recipe's folder: val-lsp.json, val-coco.json and the images")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    images = args.heldout  # the unseen files name their images under the recipe's folder, as train.json does
    rows = {}
    for a in args.alphas:
        w = args.work / f"a{a:g}.safetensors"
        if not w.is_file():
            run([sys.executable, "-m", "engine.interpolate", str(args.start), str(args.end),
                 "--alpha", str(a), "--out", str(w)])
        rows[a] = {s: evaluate(w, Path(f"{args.unseen}-{s}.json"), images, args.work / f"a{a:g}-unseen-{s}.json")
                   for s in SETS}
        rows[a]["mean"] = round(sum(rows[a][s]["pck@0.05"] for s in SETS) / len(SETS), 4)
        print(f"alpha {a:g}: " + ", ".join(f"{s} {rows[a][s]['pck@0.05']:.3f}" for s in SETS)
              + f", mean {rows[a]['mean']:.4f}", flush=True)
    chosen = max(args.alphas, key=lambda a: (rows[a]["mean"], -a))
    print(f"chosen alpha {chosen:g}")
    held = {}
    for a in sorted({min(args.alphas), chosen, max(args.alphas)}):
        w = args.work / f"a{a:g}.safetensors"
        held[f"{a:g}"] = {s: evaluate(w, args.heldout / f"val-{s}.json", args.heldout,
                                      args.work / f"a{a:g}-heldout-{s}.json") for s in ("lsp", "coco")}
        print(f"held-out, alpha {a:g}: LSP {held[f'{a:g}']['lsp']['pck@0.05']:.3f}, "
              f"COCO-MINI {held[f'{a:g}']['coco']['pck@0.05']:.3f}", flush=True)
    write_json(args.out, {
        "what": "WiSE-FT (engine.interpolate): alpha chosen on unseen training people, held-out measured once",
        "command": "python scripts/wise_ft.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "start": str(args.start), "end": str(args.end), "unseen": str(args.unseen),
        "rule": "highest mean of the unseen LSP, COCO-MINI and clip-frame PCK@0.05; ties to the smaller alpha",
        "unseen_pck": {f"{a:g}": rows[a] for a in args.alphas}, "chosen_alpha": chosen,
        "heldout_pck": held})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
