"""Ground truth from the ORIGINAL MoveNet graphs (TensorFlow.js in Node, scripts/movenet_tfjs.mjs):
the parity fixture for the PyTorch port, and the original runtime's PCK on the held-out sets.

    python scripts/movenet_reference.py fixture [--coco N] [--backend wasm|cpu]
    python scripts/movenet_reference.py pck --ann data/recipe/val-lsp.json --images data/recipe
                                            [--model thunder|lightning|both] [--filter labeled|visible]
                                            [--out bench/movenet-tfjs-pck.json]

``fixture`` writes ``tests/fixtures/movenet/cases.json``: the people of the demo bundle
(``assets/demo/coco``) and the first ``--coco`` COCO-MINI people (by annotation id) with all six
lower-body joints labelled and a box at least 150 px high, each cropped with
``engine.geometry.Crop.from_box(box, (S, S)).warp(image)`` for S = 256 (Thunder) and 192
(Lightning), and the graphs' raw outputs. No pixels are stored: sources, boxes and the crops'
SHA-256 (``tests/movenet_fixture.py`` rebuilds and checks them).

``pck`` crops every person of a COCO keypoints file exactly as ``python -m engine.evaluate``
does for a square S x S model (``PoseDataset`` with ``Augment.none()``, ``sample_crop``; the
same ``--filter``), runs the graph, maps COCO keypoints 11-16 back to image pixels (input pixel
= value x S - 0.5, as engine/video/movenet.py) and scores them with ``engine.training.metrics``
(PCK@0.05 and @0.1, OKS AP), as ``evaluate_people`` does. One row per (set, model, filter) in
``--out``, replaced when run again, written atomically.

Node (v18+) and the npm packages are needed only here (docs/movenet.md):
    npm install --prefix .node @tensorflow/tfjs@4 @tensorflow/tfjs-backend-wasm@4
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.movenet_fixture import COCO_MINI_IMAGES, FIXTURE, SIZES, SHARED_DATA, make_crop, rgb_sha256  # noqa: E402

NODE_SCRIPT = ROOT / "scripts" / "movenet_tfjs.mjs"
DEMO_ANN = ROOT / "assets" / "demo" / "coco" / "annotations" / "person_keypoints_demo.json"
DEMO_IMAGES = ROOT / "assets" / "demo" / "coco" / "images"
COCO_MINI_ANN = SHARED_DATA / "coco-mini" / "annotations" / "person_keypoints_train2017.json"
OUTPUT_FORMAT = ("17 x [y, x, score] per crop, COCO keypoint order (11-16: left/right hip, knee, "
                 "ankle); y and x in [0, 1] of the S x S input; input pixel = value x S - 0.5")


def command_line(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in ["python", "scripts/movenet_reference.py", *argv])


def run_tfjs(model: str, crops, count: int, backend: str = "wasm", node_modules: str | None = None) -> dict:
    """Run ``scripts/movenet_tfjs.mjs`` on ``count`` crops (an iterable of (S, S, 3) uint8,
    streamed to a temporary file); its JSON, with ``outputs`` as an (N, 17, 3) array."""
    size = SIZES[model]
    with tempfile.TemporaryDirectory(prefix="movenet-tfjs-") as tmp:
        crops_path, out_path = Path(tmp) / "crops.u8", Path(tmp) / "out.json"
        n = 0
        with open(crops_path, "wb") as f:
            for c in crops:
                if c.shape != (size, size, 3) or c.dtype != np.uint8:
                    raise ValueError(f"crop {n}: {c.shape} {c.dtype}, expected ({size}, {size}, 3) uint8")
                f.write(np.ascontiguousarray(c).tobytes())
                n += 1
        if n != count:
            raise ValueError(f"{n} crops written, {count} expected")
        cmd = ["node", str(NODE_SCRIPT), "--model", model, "--crops", str(crops_path),
               "--out", str(out_path), "--backend", backend]
        if node_modules:
            cmd += ["--node-modules", node_modules]
        subprocess.run(cmd, check=True)
        result = json.loads(out_path.read_text())
    result["outputs"] = np.asarray(result["outputs"], dtype=np.float64).reshape(count, 17, 3)
    return result


def node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()


# ---------------------------------------------------------------------------------------- fixture

def fixture_cases(n_coco: int) -> list[dict]:
    """Cases without outputs: every demo-bundle person, then COCO-MINI people."""
    from engine.data import coco as cocolib
    from engine.geometry import BOX_PADDING
    cases = []
    demo = cocolib.load(DEMO_ANN, DEMO_IMAGES)
    for p in sorted(demo.people, key=lambda p: p.ann_id):
        cases.append({"id": f"demo-{p.ann_id}", "source": (DEMO_IMAGES / p.file_name).relative_to(ROOT).as_posix(),
                      "ann_id": p.ann_id, "box_xywh": list(p.bbox), "padding": BOX_PADDING})
    if n_coco:
        mini = cocolib.load(COCO_MINI_ANN, COCO_MINI_IMAGES)
        people = [p for p in cocolib.select(mini.people, "labeled") if p.bbox[3] >= 150]
        for p in sorted(people, key=lambda p: p.ann_id)[:n_coco]:
            cases.append({"id": f"coco-{p.ann_id}", "source": f"coco-mini:{p.file_name}",
                          "ann_id": p.ann_id, "box_xywh": list(p.bbox), "padding": BOX_PADDING})
    return cases


def cmd_fixture(args, argv) -> int:
    cases = fixture_cases(args.coco)
    runtime = {}
    for model, size in SIZES.items():
        crops = [make_crop(c, size) for c in cases]
        res = run_tfjs(model, crops, len(crops), args.backend, args.node_modules)
        runtime[model] = {"file": f"../shared/pretrained/pose/{res['model']}.json + .bin", "size": size,
                          "sha256": res["sha256"], "backend": res["backend"], "tfjs_version": res["tfjs_version"]}
        for c, crop, out in zip(cases, crops, res["outputs"]):
            c[model] = {"size": size, "rgb_sha256": rgb_sha256(crop),
                        "output": [[float(v) for v in row] for row in out]}
    doc = {"description": "MoveNet SinglePose parity fixture: crops rebuilt from 'source' with "
                          "engine.geometry.Crop.from_box(box_xywh, (S, S), padding).warp(RGB image) "
                          "(tests/movenet_fixture.py), and the original TensorFlow.js graphs' outputs",
           "output_format": OUTPUT_FORMAT, "command": command_line(argv), "node": node_version(),
           "models": runtime, "cases": cases}
    from engine.fileio import write_json
    write_json(FIXTURE, doc, indent=1, allow_nan=False)
    print(f"{FIXTURE.relative_to(ROOT)}: {len(cases)} cases x {len(SIZES)} models "
          "(" + ", ".join(f"{m}: {r['backend']}" for m, r in runtime.items()) + ")")
    return 0


# -------------------------------------------------------------------------------------------- pck

def score_model(model: str, people: list, images: Path, dataset: dict, backend: str,
                node_modules: str | None) -> dict:
    """The original graph's figures on ``people``, with evaluate_people's crops and metrics."""
    from engine.codec import HeatmapCodec
    from engine.data.dataset import Augment, PoseDataset, sample_crop
    from engine.joints import COCO_INDICES
    from engine.training.metrics import mean_pixel_error, oks_ap, pck
    size = SIZES[model]
    codec = HeatmapCodec((size, size), (size // 4, size // 4))  # as codec_for() for an S x S model
    ds = PoseDataset(people, images, codec, Augment.none())
    t0 = time.perf_counter()
    res = run_tfjs(model, (ds[i]["image"].numpy() for i in range(len(ds))), len(ds), backend, node_modules)
    yxs = res["outputs"][:, list(COCO_INDICES)]  # (N, 6, 3)
    xy_input = np.stack([yxs[..., 1] * size - 0.5, yxs[..., 0] * size - 0.5], axis=-1)
    pred = np.zeros((len(people), len(COCO_INDICES), 2))
    for i, p in enumerate(people):  # the crop predict_people maps back with
        pred[i] = sample_crop(p, codec, Augment.none(), np.random.default_rng(0)).to_image(xy_input[i])
    scores = yxs[..., 2]
    gt = np.stack([p.keypoints for p in people])
    lab = np.stack([p.labeled for p in people])
    boxes = np.array([p.bbox for p in people]).reshape(-1, 4)
    p05, p10 = pck(pred, gt, lab, boxes, 0.05), pck(pred, gt, lab, boxes, 0.1)
    results = [{"image_id": p.image_id, "keypoints": pred[i], "scores": scores[i],
                "score": float(scores[i].mean())} for i, p in enumerate(people)]
    oks = oks_ap(dataset, results)
    return {"pck@0.05": p05["pck"], "pck@0.1": p10["pck"], "per_joint": p05["per_joint"],
            "mean_pixel_error": mean_pixel_error(pred, gt, lab), "oks_ap": oks["ap"],
            "joints_counted": p05["counted"], "input_size": size, "backend": res["backend"],
            "tfjs_version": res["tfjs_version"], "model_sha256": res["sha256"],
            "ms_per_crop": res["ms_per_crop"], "seconds": round(time.perf_counter() - t0, 1)}


def cmd_pck(args, argv) -> int:
    from engine.data import coco as cocolib
    from engine.fileio import write_json
    try:
        data = cocolib.load(args.ann, args.images)
    except cocolib.CocoFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    people = cocolib.select(data.people, args.filter)
    if not people:
        print(f"error: {args.ann}: no people to score (filter {args.filter})", file=sys.stderr)
        return 2
    set_name = args.set or Path(args.ann).stem
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc["description"] = ("PCK of the ORIGINAL MoveNet graphs (TensorFlow.js in Node) on the crops "
                          "python -m engine.evaluate makes for a square model (GT boxes x 1.25), "
                          "scored with engine.training.metrics; scripts/movenet_reference.py pck, "
                          "docs/movenet.md")
    rows = doc.get("rows", [])
    models = list(SIZES) if args.model == "both" else [args.model]
    for model in models:
        fig = score_model(model, people, Path(args.images), data.dataset, args.backend, args.node_modules)
        row = {"set": set_name, "ann": str(args.ann), "people": len(people), "filter": args.filter,
               "model": f"movenet_{model}", **fig,
               "engine_evaluate": f"python -m engine.evaluate --weights weights/movenet_{model}.safetensors "
                                  f"--ann {args.ann} --images {args.images}"
                                  + (f" --filter {args.filter}" if args.filter else ""),
               "command": command_line(argv),
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")}
        rows = [r for r in rows if (r["set"], r["model"], r["filter"]) != (set_name, row["model"], args.filter)]
        rows.append(row)
        doc["rows"] = sorted(rows, key=lambda r: (r["set"], r["model"], str(r["filter"])))
        write_json(out, doc)
        print(f"{set_name} ({len(people)} people) movenet_{model}: PCK@0.05 {fig['pck@0.05']:.3f}, "
              f"@0.1 {fig['pck@0.1']:.3f}, OKS AP {fig['oks_ap']:.3f} ({fig['backend']}, "
              f"{fig['ms_per_crop']} ms/crop) -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python scripts/movenet_reference.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=("wasm", "cpu"), default="wasm",
                        help="tfjs backend (default wasm; the script falls back to cpu, and says so, "
                             "when wasm cannot start)")
    common.add_argument("--node-modules", default=None,
                        help="npm prefix holding @tensorflow/tfjs (default: .node in the repo)")
    sub = p.add_subparsers(dest="step", required=True)
    f = sub.add_parser("fixture", parents=[common], help="write tests/fixtures/movenet/cases.json")
    f.add_argument("--coco", type=int, default=5,
                   help="COCO-MINI people to add to the demo bundle's (default 5; 0: demo only)")
    k = sub.add_parser("pck", parents=[common], help="the original graphs' PCK on a COCO keypoints file")
    k.add_argument("--ann", required=True, help="COCO person-keypoints JSON (e.g. data/recipe/val-lsp.json)")
    k.add_argument("--images", required=True, help="folder holding its images (e.g. data/recipe)")
    k.add_argument("--model", choices=(*SIZES, "both"), default="both")
    k.add_argument("--filter", choices=("labeled", "visible"), default=None,
                   help="as python -m engine.evaluate --filter (default: everyone with a joint labelled)")
    k.add_argument("--set", default=None, help="name of the set in the figures (default: the file's stem)")
    k.add_argument("--out", default=str(ROOT / "bench" / "movenet-tfjs-pck.json"),
                   help="figures JSON, one row per (set, model, filter) (default bench/movenet-tfjs-pck.json)")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return (cmd_fixture if args.step == "fixture" else cmd_pck)(args, argv)


if __name__ == "__main__":
    sys.exit(main())
