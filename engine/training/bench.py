"""Benchmarks that write their figures to a file (timing is never asserted in tests).

    python -m engine.bench train [--models ...] [--input-size HxW] [--batch-size B]
                                 [--steps N] [--threads T] [--device auto|cpu|cuda] --out DIR
    python -m engine.bench video CLIP [--models ...] [--stride K] [--max-seconds S]
                                 [--threads T] --out DIR
    python -m engine.bench pretrained --ann A.json --images DIR [--model mobilenetv2]
                                 [--train-count N] [--val-count M] [--epochs E] --out DIR

``train`` measures training images per second (forward + backward + step on real-size
batches) per model and device. ``video`` runs every model (and MediaPipe when installed) on
the same clip in one run and reports end-to-end frames per second, the split into decode /
preprocess / model / postprocess, and peak memory. ``pretrained`` trains one model twice on
the same seeded split, from ImageNet weights and from random ones, and reports held-out
PCK@0.05 per epoch (``engine.training.benchpretrained``). Each writes ``DIR/bench-*.json`` and a
markdown table ``DIR/bench-*.md``; medians over repeats are quoted.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from engine.argtypes import device_name, positive_float, positive_int
from engine.fileio import write_json, write_text
from .benchenv import bench_env, load_average, load_note


def bench_train(models, input_size, batch_size, steps, device, repeats=3) -> list[dict]:
    """Median training throughput (images/s) per model on random inputs of real size. The
    timed runs take the models in turn (repeat 1 of every model, then repeat 2, ...), so that
    a change of load on a shared machine falls on all of them alike."""
    from .losses import weighted_mse
    from engine.models import build_model, count_parameters
    w, h = input_size
    amp = device.type == "cuda"

    def make_step(name):
        torch.manual_seed(0)
        model = build_model(name).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        x = torch.randn(batch_size, 3, h, w, device=device)
        t = torch.rand(batch_size, 6, h // 4, w // 4, device=device)
        wt = torch.ones(batch_size, 6, device=device)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)

        def step():
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss = weighted_mse(model(x), t, wt)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        step()  # warm-up
        return model, step

    built = {name: make_step(name) for name in models}
    rates = {name: [] for name in models}
    for _ in range(repeats):
        for name in models:
            step = built[name][1]
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[name].append(steps * batch_size / (time.perf_counter() - t0))
    return [{"model": name, "parameters": count_parameters(built[name][0]),
             "images_per_s": round(statistics.median(rates[name]), 1),
             "runs": [round(r, 1) for r in rates[name]], "batch_size": batch_size,
             "input_size": [w, h]} for name in models]


def train_table(rows: list[dict], env: dict) -> str:
    lines = [f"Training throughput on {env['device']} ({env['threads']} threads, torch {env['torch']}, "
             f"{env.get('date', '?')}{load_note(env)}), median of {len(rows[0]['runs']) if rows else 0} "
             "timed runs per model, taken in turn (run 1 of each model, then run 2, ...)", "",
             "| model | params | input (WxH) | batch | images/s | runs |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {r['input_size'][0]}x"
                     f"{r['input_size'][1]} | {r['batch_size']} | {r['images_per_s']} | "
                     f"{' / '.join(str(x) for x in r['runs'])} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from engine.models import list_models
    from .train import parse_size
    p = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train", help="training images per second per model")
    t.add_argument("--models", nargs="+", default=list_models(), help="models to measure (default all)")
    t.add_argument("--input-size", type=parse_size, default=(96, 128), metavar="HxW",
                   help="model input height x width (default 128x96)")
    t.add_argument("--batch-size", type=positive_int, default=16, help="images per step")
    t.add_argument("--steps", type=positive_int, default=5, help="steps per timed run")
    t.add_argument("--repeats", type=positive_int, default=3, help="timed runs; the median is reported")
    t.add_argument("--threads", type=positive_int, default=2, help="CPU threads (torch.set_num_threads)")
    t.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    t.add_argument("--out", default="bench", help="folder for bench-train.json / .md")
    v = sub.add_parser("video", help="frames per second per model on one clip, split by stage")
    v.add_argument("clip", help="video file")
    v.add_argument("--models", nargs="+", help="models to run, NAME or NAME@RUNTIME (torch, onnx, onnx-int8; "
                   "movenet_lightning@tflite-int8 = the int8 TFLite Lightning); default: every shipped "
                   "model on torch and on onnx, mediapipe and the TFLite Lightning")
    v.add_argument("--stride", type=positive_int, default=1, help="process every K-th frame")
    v.add_argument("--max-seconds", type=positive_float, help="only the first S seconds of the clip")
    v.add_argument("--repeats", type=positive_int, default=3, help="runs per model; the median is reported")
    v.add_argument("--threads", type=positive_int, default=2, help="CPU threads for every model")
    v.add_argument("--device", type=device_name, default="cpu", help="cpu (default, as on a free Space) or cuda")
    v.add_argument("--out", default="bench", help="folder for bench-video.json / .md")
    q = sub.add_parser("pretrained", help="held-out PCK of one model from ImageNet vs random weights")
    q.add_argument("--ann", required=True, help="COCO person-keypoints JSON to split by image")
    q.add_argument("--images", required=True, help="its image folder")
    q.add_argument("--model", default="mobilenetv2", choices=list_models(), help="model (default mobilenetv2)")
    q.add_argument("--pretrained", default="imagenet", help="--pretrained of engine.train (default imagenet)")
    q.add_argument("--train-count", type=positive_int, default=600, help="training images (default 600)")
    q.add_argument("--val-count", type=positive_int, default=300, help="held-out images (default 300)")
    q.add_argument("--epochs", type=positive_int, default=4, help="epochs of each run (default 4)")
    q.add_argument("--input-size", type=parse_size, default=(96, 128), metavar="HxW",
                   help="model input height x width (default 128x96)")
    q.add_argument("--batch-size", type=positive_int, default=32, help="images per step (default 32)")
    q.add_argument("--seed", type=int, default=0, help="split, shuffling and augmentation seed")
    q.add_argument("--threads", type=positive_int, default=2, help="CPU threads (torch.set_num_threads)")
    q.add_argument("--device", type=device_name, default="cpu", help="cpu (default) or cuda")
    q.add_argument("--out", default="bench", help="folder for bench-pretrained.json / .md")
    q.add_argument("--work", default="runs/bench-pretrained",
                   help="folder for the split and the two runs (default runs/bench-pretrained)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from engine.device import pick_device
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    out = Path(args.out)
    env = bench_env(args.threads, device)
    if args.what == "pretrained":
        from .benchpretrained import bench_pretrained, pretrained_table
        try:
            report = bench_pretrained(args)
        except (ValueError, RuntimeError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        env["load_average_end"] = load_average()
        table = pretrained_table(report, env)
        write_json(out / "bench-pretrained.json", {"env": env, **report})
    elif args.what == "train":
        rows = bench_train(args.models, args.input_size, args.batch_size, args.steps, device, args.repeats)
        env["load_average_end"] = load_average()
        table = train_table(rows, env)
        write_json(out / "bench-train.json", {"env": env, "results": rows})
    else:
        from .benchvideo import bench_video, video_table
        rows = bench_video(args.clip, args.models, args.stride, args.max_seconds, args.repeats, device)
        table = video_table(rows, env, args.clip)
        write_json(out / "bench-video.json", {"env": env, "clip": str(args.clip), "results": rows})
    write_text(out / f"bench-{args.what}.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
