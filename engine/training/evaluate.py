"""Evaluate weights on a COCO keypoints file: PCK@0.05 / @0.1 (see ``engine.training.metrics``),
per-joint PCK, mean pixel error and OKS AP; or compare reports side by side.

    python -m engine.evaluate --weights W --ann A.json --images DIR [--filter labeled|visible]
                              [--flip-test] [--boxes gt|detector] [--runtime torch|onnx|onnx-int8]
                              --out report.json
    python -m engine.evaluate --compare r1.json r2.json ...

``--boxes gt`` (default) crops each person by its ground-truth box; ``--boxes detector`` is the
standard top-down protocol with the shipped person detector (``engine.video.detect``): the
model runs on every detected person's box; each ground-truth person is matched to the
detection of highest IoU with its box (at least ``MATCH_IOU``), else reported as missed (its
joints count as wrong in PCK); OKS AP scores every detection (score = detector score x mean
joint score), as COCO's keypoint evaluation does. Both reports hold the GT-box figure beside
(``gt_boxes``), so the two protocols are read side by side.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.argtypes import device_name, positive_int
from engine.data import coco as cocolib
from engine.codec import HeatmapCodec
from engine.data.dataset import Augment, PoseDataset
from engine.fileio import write_json
from engine.joints import JOINTS
from engine.models.common import predict_keypoints
from .metrics import mean_pixel_error, oks_ap, pck


def to_model_input(images: torch.Tensor, device) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB crops -> normalised float (N, 3, H, W) on ``device``."""
    from engine.models import preprocess
    return preprocess(images.to(device, non_blocking=True))


def predict_people(model, dataset: PoseDataset, device, flip_test=False, batch_size=32,
                   progress=True) -> tuple[np.ndarray, np.ndarray]:
    """Predict every person of an (unaugmented) dataset: keypoints (N, 6, 2) in original-image
    pixels and scores (N, 6). ``model``: a PyTorch model, or an ``OnnxPose``
    (``engine.models.onnx_runtime``: the same crops through ONNX Runtime)."""
    from engine.data.dataset import sample_crop

    on_ort = not isinstance(model, torch.nn.Module) and hasattr(model, "predict_keypoints")
    if not on_ort:
        model.eval()
    codec: HeatmapCodec = dataset.codec
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    preds = np.zeros((len(dataset), len(JOINTS), 2))
    scores = np.zeros((len(dataset), len(JOINTS)))
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        if on_ort:
            _, xy, sc = model.predict_keypoints(batch["image"].numpy(), codec, flip_test)
        else:
            with torch.inference_mode():
                _, xy, sc = predict_keypoints(model, to_model_input(batch["image"], device), codec, flip_test)
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


#: A ground-truth person counts as found by the detector when a detection's box overlaps its
#: box by at least this IoU (COCO's detection threshold).
MATCH_IOU = 0.5


@dataclass
class Detections:
    """The person detector run once over the images of ``people`` (``detect_people``), for any
    number of pose models to be scored on its boxes: ``crops`` holds one pseudo-person per
    detection (the image's first person with the detection's box as ``bbox``, ``ann_id`` -1);
    ``owners`` (image id, detector score) per crop; ``matches[i]`` the crop matched to
    ``people[i]`` (highest IoU, at least ``MATCH_IOU``; -1: missed) and ``ious[i]`` its IoU."""

    people: list
    crops: list
    owners: list
    matches: np.ndarray
    ious: np.ndarray
    image_ids: list
    detector: str

    @property
    def found(self) -> np.ndarray:
        return self.matches >= 0

    def per_person(self, crop_values: np.ndarray) -> np.ndarray:
        """Values per crop (N_crops, ...) -> per ground-truth person (N_people, ...), NaN where
        the detector missed the person."""
        out = np.full((len(self.people),) + crop_values.shape[1:], np.nan)
        out[self.found] = crop_values[self.matches[self.found]]
        return out

    def summary(self) -> dict:
        hit = self.found
        return {"detector": self.detector, "found": int(hit.sum()), "missed": int((~hit).sum()),
                "match_iou": MATCH_IOU, "mean_iou_found": float(self.ious[hit].mean()) if hit.any() else None,
                "boxes": len(self.crops), "images": len(self.image_ids)}


def detect_people(people: list, images_dir, detector=None, progress=True) -> Detections:
    """Run the person detector (default: the shipped one, ``engine.video.detect``) once on
    every image of ``people`` and match each person to a detection (see ``Detections``)."""
    import dataclasses

    from engine.data.dataset import read_image
    from engine.video.detect import load_detector
    from engine.video.tracking import box_iou
    detector = detector or load_detector()
    by_image: dict[int, list] = {}
    for p in people:
        by_image.setdefault(p.image_id, []).append(p)
    crops, owners = [], []  # one pseudo-person per detection, cropped by the detection's box
    matches = np.full(len(people), -1)
    ious = np.zeros(len(people))
    index = {id(p): i for i, p in enumerate(people)}
    for image_id, group in tqdm(by_image.items(), desc="detect", disable=not progress, leave=False):
        found = detector.detect(read_image(Path(images_dir) / group[0].file_name))
        first = len(crops)
        for d in found:
            crops.append(dataclasses.replace(group[0], bbox=tuple(float(v) for v in d.xywh), ann_id=-1))
            owners.append((image_id, d.score))
        if not found:
            continue
        for p in group:
            x, y, w, h = p.bbox
            iou = box_iou([d.box for d in found], (x, y, x + w, y + h))
            j = int(np.argmax(iou))
            if iou[j] >= MATCH_IOU:
                matches[index[id(p)]], ious[index[id(p)]] = first + j, iou[j]
    return Detections(list(people), crops, owners, matches, ious, sorted(by_image), detector.name)


def evaluate_with_detector(model, people: list, images_dir, codec: HeatmapCodec, dataset_dict: dict,
                           device="cpu", flip_test=False, batch_size=32, progress=True,
                           detector=None, detections: Detections | None = None) -> dict:
    """The evaluation report with the person detector's boxes instead of the ground truth's
    (see the module's docstring): PCK against the GT joints with the GT box's threshold, a
    missed person's joints wrong; OKS AP over every detection; ``detection`` says how many GT
    people were found (``found``/``missed``, mean IoU of the matches) and how many boxes the
    detector gave. ``detections``: the detector's output for these ``people`` made before
    (``detect_people``), so that several models share one detector run."""
    t0 = time.perf_counter()
    det = detections if detections is not None else detect_people(people, images_dir, detector, progress)
    crops = det.crops
    if crops:
        ds = PoseDataset(crops, images_dir, codec, Augment.none())
        det_pred, det_sc = predict_people(model, ds, device, flip_test, batch_size, progress)
    else:
        det_pred, det_sc = np.zeros((0, len(JOINTS), 2)), np.zeros((0, len(JOINTS)))
    pred = det.per_person(det_pred)
    hit = det.found
    gt = np.stack([p.keypoints for p in people]) if people else np.zeros((0, 6, 2))
    lab = np.stack([p.labeled for p in people]) if people else np.zeros((0, 6), bool)
    boxes = np.array([p.bbox for p in people]).reshape(-1, 4)
    p05, p10 = pck(pred, gt, lab, boxes, 0.05), pck(pred, gt, lab, boxes, 0.1)
    results = [{"image_id": det.owners[k][0], "keypoints": det_pred[k], "scores": det_sc[k],
                "score": float(det.owners[k][1] * det_sc[k].mean())} for k in range(len(crops))]
    # every image counts, also one where the detector found nobody (all its people missed)
    oks = oks_ap(dataset_dict, results, image_ids=det.image_ids)
    return {"pck@0.05": p05["pck"], "pck@0.1": p10["pck"], "per_joint": p05["per_joint"],
            "per_joint@0.1": p10["per_joint"], "mean_pixel_error": mean_pixel_error(pred[hit], gt[hit], lab[hit]),
            "oks_ap": oks["ap"], "oks": oks, "instances": len(people), "joints_counted": p05["counted"],
            "flip_test": flip_test, "boxes": "detector",
            "detection": det.summary(),
            "pck_definition": "distance <= alpha x 1.25 x longer side of the GT box (image px); "
                              "labelled GT joints only; a person the detector missed counts as wrong",
            "mean_pixel_error_definition": "over the people the detector found",
            "seconds": round(time.perf_counter() - t0, 2)}


def compare_table(reports: list[tuple[str, dict]]) -> str:
    """Markdown table of reports side by side."""
    cols = ["model", "data", "boxes", "instances", "PCK@0.05", "PCK@0.1", "OKS AP", "mean px err"]
    cols += [f"{j} @0.05" for j in JOINTS]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    f = lambda v: "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    for name, r in reports:
        boxes = r.get("boxes", "gt")
        if "detection" in r:
            boxes += f" ({r['detection']['found']} found, {r['detection']['missed']} missed)"
        row = [r.get("model", name), r.get("data", ""), boxes, r.get("instances"), r.get("pck@0.05"),
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
    p.add_argument("--boxes", choices=("gt", "detector"), default="gt",
                   help="crop each person by its ground-truth box (default), or run the person "
                        "detector and crop by its boxes (the standard top-down protocol; each GT "
                        "person matched to the detection of highest IoU >= 0.5, else missed); the "
                        "report then holds the GT-box figures beside, under gt_boxes")
    p.add_argument("--device", type=device_name, default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=positive_int, default=32, help="crops per forward pass")
    p.add_argument("--runtime", choices=("torch", "onnx", "onnx-int8"), default="torch",
                   help="what runs the model: torch (PyTorch, the default), onnx (ONNX Runtime on the "
                        "CPU, exported from the weights on first use) or onnx-int8 (the int8 file of "
                        "python -m engine.export --int8); compare reports to check that the "
                        "held-out PCK does not change with the runtime")
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
    from engine.models.onnx_runtime import OnnxUnavailable, onnx_pose
    try:
        model, meta = load_model(args.weights, device)
        data = cocolib.load(args.ann, args.images)
        runtime = "torch"
        if args.runtime != "torch":
            model = onnx_pose(args.weights, model, int8=args.runtime == "onnx-int8")
            runtime = model.runtime
    except (WeightsError, cocolib.CocoFormatError, OnnxUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    people = cocolib.select(data.people, args.filter)
    report = evaluate_people(model, people, args.images, codec_for(meta), data.dataset, device,
                             args.flip_test, args.batch_size)
    report["boxes"] = "gt"
    if args.boxes == "detector":
        from engine.video.detect import DetectorError
        try:
            det = evaluate_with_detector(model, people, args.images, codec_for(meta), data.dataset,
                                         device, args.flip_test, args.batch_size)
        except DetectorError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        det["gt_boxes"] = {k: report[k] for k in ("pck@0.05", "pck@0.1", "oks_ap", "mean_pixel_error")}
        report = det
    report.update({"model": meta["model"], "weights": str(args.weights), "data": str(args.ann),
                   "filter": args.filter, "runtime": runtime})
    text = json.dumps({k: v for k, v in report.items()}, indent=2)
    if args.out:
        write_json(args.out, report)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
