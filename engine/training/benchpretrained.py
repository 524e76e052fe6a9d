"""Benchmark: the same model trained from ImageNet weights and from random weights.

    python -m engine.bench pretrained --ann A.json --images DIR [--model mobilenetv2]
        [--pretrained imagenet|PATH] [--train-count N] [--val-count M] [--epochs E]
        [--input-size HxW] [--batch-size B] [--seed S] [--threads T] --out DIR

A seeded split of the annotation file's images (so a person's image is never on both sides):
``--val-count`` held-out images and ``--train-count`` training images, written as two COCO
files. Then ``engine.train`` runs twice with the same data,
seed, epochs and settings, once with ``--pretrained`` and once from random weights, each
validated on the held-out people after every epoch (the split and both runs go to
``--work``, default ``runs/bench-pretrained``). Writes ``DIR/bench-pretrained.json``
(per-epoch loss, PCK@0.05 and @0.1, images/s, the init records) and a table
``DIR/bench-pretrained.md``.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from engine.fileio import write_json
from .benchenv import load_note


def split_coco(ann: str | Path, val_count: int, train_count: int, seed: int, out: Path) -> tuple[Path, Path, dict]:
    """Seeded split by image of a COCO person-keypoints file into held-out and training
    files (images with at least one person annotation only). Returns (train, val, counts)."""
    data = json.loads(Path(ann).read_text())
    with_people = sorted({a["image_id"] for a in data["annotations"] if not a.get("iscrowd")})
    if val_count + train_count > len(with_people):
        raise ValueError(f"{ann}: {len(with_people)} images with people, asked for "
                         f"{val_count} held out + {train_count} for training")
    random.Random(seed).shuffle(with_people)
    val_ids, train_ids = set(with_people[:val_count]), set(with_people[val_count:val_count + train_count])
    paths, counts = [], {}
    for name, ids in (("train", train_ids), ("val", val_ids)):
        part = {**{k: v for k, v in data.items() if k not in ("images", "annotations")},
                "images": [im for im in data["images"] if im["id"] in ids],
                "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}
        path = out / f"{name}.json"
        write_json(path, part, indent=None)
        paths.append(path)
        counts[name] = {"images": len(part["images"]), "annotations": len(part["annotations"])}
    return paths[0], paths[1], counts


def bench_pretrained(args) -> dict:
    """Run both trainings (see the module docstring); returns the report written to JSON."""
    from .train import main as train_main
    work = Path(args.work)
    train_ann, val_ann, counts = split_coco(args.ann, args.val_count, args.train_count, args.seed,
                                            work / "data")
    h, w = args.input_size[1], args.input_size[0]
    runs = []
    for init in (args.pretrained, None):
        run_dir = work / (f"{args.model}-imagenet" if init else f"{args.model}-random")
        argv = ["--model", args.model, "--train-ann", str(train_ann), "--train-images", args.images,
                "--val-ann", str(val_ann), "--val-images", args.images, "--epochs", str(args.epochs),
                "--out", str(run_dir), "--input-size", f"{h}x{w}", "--batch-size", str(args.batch_size),
                "--seed", str(args.seed), "--threads", str(args.threads), "--device", args.device]
        if init:
            argv += ["--pretrained", init]
        rc = train_main(argv)
        if rc != 0:
            raise RuntimeError(f"engine.train {' '.join(argv)} exited {rc}")
        history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        side = json.loads((run_dir / "model.json").read_text())
        runs.append({"init": "imagenet" if init else "random", "init_record": side.get("init"),
                     "history": history, "people": side["training_data"]["people"],
                     "val_pck@0.05": history[-1].get("val_pck@0.05"),
                     "val_pck@0.1": history[-1].get("val_pck@0.1"),
                     "train_seconds": round(sum(r["seconds"] for r in history), 1)})
    return {"ann": str(args.ann), "split": counts, "model": args.model, "epochs": args.epochs,
            "input_size": list(args.input_size), "batch_size": args.batch_size, "seed": args.seed,
            "runs": runs}


def pretrained_table(report: dict, env: dict) -> str:
    s = report["split"]
    lines = [f"{report['model']} from ImageNet against random weights: {Path(report['ann']).name}, "
             f"{s['train']['annotations']} people ({s['train']['images']} images) for training, "
             f"{s['val']['annotations']} held-out people ({s['val']['images']} images), seed "
             f"{report['seed']}, {report['epochs']} epochs, input {report['input_size'][0]}x"
             f"{report['input_size'][1]} (WxH), batch {report['batch_size']}, on {env['device']} "
             f"({env['threads']} threads, torch {env['torch']}, {env['date']}{load_note(env)})", "",
             "| init | " + " | ".join(f"epoch {r['epoch']}" for r in report["runs"][0]["history"])
             + " | held-out PCK@0.1 | train s |",
             "|---|" + "---|" * (len(report["runs"][0]["history"]) + 2)]
    for run in report["runs"]:
        lines.append(f"| {run['init']} | " + " | ".join(f"{r.get('val_pck@0.05', float('nan')):.3f}"
                                                         for r in run["history"])
                     + f" | {run['val_pck@0.1']:.3f} | {run['train_seconds']} |")
    lines += ["", "Cells: held-out PCK@0.05 after each epoch."]
    return "\n".join(lines)
