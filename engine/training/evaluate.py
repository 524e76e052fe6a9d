"""Evaluate weights on a COCO keypoints file: PCK@0.05 / @0.1 (see ``engine.training.metrics``),
per-joint PCK, mean pixel error and OKS AP; or compare reports side by side.

    python -m engine.evaluate --weights W --ann A.json --images DIR [--filter labeled|visible]
                              [--flip-test] --out report.json
    python -m engine.evaluate --compare r1.json r2.json ...
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.argtypes import device_name, positive_int
from engine.data import coco as cocolib
from engine.codec import HeatmapCodec
from engine.data.dataset import Augment, PoseDataset
from engine.fileio import write_json
from engine.joints import FLIP_INDEX, JOINTS
from .metrics import mean_pixel_error, oks_ap, pck


def to_model_input(images: torch.Tensor, device) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB crops -> normalised float (N, 3, H, W) on ``device``."""
    from engine.models import preprocess
    return preprocess(images.to(device, non_blocking=True))


@torch.inference_mode()
def predict_heatmaps(model: torch.nn.Module, x: torch.Tensor, flip_test: bool = False) -> torch.Tensor:
    """Heatmaps for a normalised batch; with ``flip_test`` averaged with the mirrored image's
    heatmaps (mirrored back, left/right channels swapped)."""
    hm = model(x).float()
    if flip_test:
        hf = model(torch.flip(x, dims=[3])).float()
        hm = 0.5 * (hm + torch.flip(hf, dims=[3])[:, list(FLIP_INDEX)])
    return hm


def predict_people(model, dataset: PoseDataset, device, flip_test=False, batch_size=32,
                   progress=True) -> tuple[np.ndarray, np.ndarray]:
    """Predict every person of an (unaugmented) dataset: keypoints (N, 6, 2) in original-image
    pixels and scores (N, 6)."""
    from engine.data.dataset import sample_crop

    model.eval()
    codec: HeatmapCodec = dataset.codec
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    preds = np.zeros((len(dataset), len(JOINTS), 2))
    scores = np.zeros((len(dataset), len(JOINTS)))
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        hm = predict_heatmaps(model, to_model_input(batch["image"], device), flip_test)
        xy, sc = codec.decode(hm.cpu().numpy())
        for k, i in enumerate(batch["index"].tolist()):
            crop = sample_crop(dataset.people[i], codec, Augment.none(), np.random.default_rng(0))
            preds[i] = crop.to_image(xy[k])
            scores[i] = sc[k]
    return preds, scores


def evaluate_people(model, people: list, images_dir, codec: HeatmapCodec, dataset_dict: dict,
                    device="cpu", flip_test=False, batch_size=32, progress=True,
                    keep_predictions=False) -> dict:
    """The evaluation report for ``people`` (each with at least one joint labelled); with
    ``keep_predictions`` it also holds ``predictions`` ((N, 6, 2) image pixels, not JSON)."""
    t0 = time.perf_counter()
    ds = PoseDataset(people, images_dir, codec, Augment.none())
    pred, sc = predict_people(model, ds, device, flip_test, batch_size, progress)
    gt = np.stack([p.keypoints for p in people]) if people else np.zeros((0, 6, 2))
    lab = np.stack([p.labeled for p in people]) if people else np.zeros((0, 6), bool)
    boxes = np.array([p.bbox for p in people]).reshape(-1, 4)
    p05, p10 = pck(pred, gt, lab, boxes, 0.05), pck(pred, gt, lab, boxes, 0.1)
    results = [{"image_id": p.image_id, "keypoints": pred[i], "scores": sc[i],
                "score": float(sc[i].mean())} for i, p in enumerate(people)]
    oks = oks_ap(dataset_dict, results)
    report = {"pck@0.05": p05["pck"], "pck@0.1": p10["pck"], "per_joint": p05["per_joint"],
              "per_joint@0.1": p10["per_joint"], "mean_pixel_error": mean_pixel_error(pred, gt, lab),
              "oks_ap": oks["ap"], "oks": oks,
              "instances": len(people), "joints_counted": p05["counted"], "flip_test": flip_test,
              "pck_definition": "distance <= alpha x 1.25 x longer side of the GT box (image px); "
                                "labelled GT joints only", "seconds": round(time.perf_counter() - t0, 2)}
    if keep_predictions:
        report["predictions"] = pred
    return report


def compare_table(reports: list[tuple[str, dict]]) -> str:
    """Markdown table of reports side by side."""
    cols = ["model", "data", "instances", "PCK@0.05", "PCK@0.1", "OKS AP", "mean px err"]
    cols += [f"{j} @0.05" for j in JOINTS]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    f = lambda v: "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    for name, r in reports:
        row = [r.get("model", name), r.get("data", ""), r.get("instances"), r.get("pck@0.05"),
               r.get("pck@0.1"), r.get("oks_ap"), r.get("mean_pixel_error")]
        row += [r.get("per_joint", {}).get(j) for j in JOINTS]
        lines.append("| " + " | ".join(f(v) for v in row) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="a .safetensors file with its .json sidecar")
    p.add_argument("--ann", help="COCO person-keypoints JSON to evaluate on")
    p.add_argument("--images", help="folder holding the images the annotation file names")
    p.add_argument("--filter", choices=cocolib.FILTERS, default=None,
                   help="evaluate only people with all six joints labelled / visible "
                        "(default: everyone with at least one labelled)")
    p.add_argument("--flip-test", action="store_true",
                   help="average with the horizontally mirrored crop's heatmaps")
    p.add_argument("--device", type=device_name, default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=positive_int, default=32, help="crops per forward pass")
    p.add_argument("--out", help="write the report JSON here (atomically)")
    p.add_argument("--compare", nargs="+", metavar="REPORT",
                   help="print a markdown table of these report.json files side by side and exit")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.compare:
        reps = []
        for r in args.compare:
            try:
                rep = json.loads(Path(r).read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
                print(f"error: cannot read report {r}: {e}", file=sys.stderr)
                return 2
            if not (isinstance(rep, dict) and isinstance(rep.get("pck@0.05"), (int, float))
                    and isinstance(rep.get("per_joint"), dict)):
                print(f"error: {r} is not a report of python -m engine.evaluate (no 'pck@0.05' "
                      "and 'per_joint')", file=sys.stderr)
                return 2
            reps.append((Path(r).stem, rep))
        print(compare_table(reps))
        return 0
    if not (args.weights and args.ann and args.images):
        print("error: --weights, --ann and --images are required (or use --compare)", file=sys.stderr)
        return 2
    from engine.device import pick_device
    from engine.models.weights import WeightsError, codec_for, load_model
    device = pick_device(args.device)
    try:
        model, meta = load_model(args.weights, device)
        data = cocolib.load(args.ann, args.images)
    except (WeightsError, cocolib.CocoFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    people = cocolib.select(data.people, args.filter)
    report = evaluate_people(model, people, args.images, codec_for(meta), data.dataset, device,
                             args.flip_test, args.batch_size)
    report.update({"model": meta["model"], "weights": str(args.weights), "data": str(args.ann),
                   "filter": args.filter})
    text = json.dumps({k: v for k, v in report.items()}, indent=2)
    if args.out:
        write_json(args.out, report)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
