"""Train a heatmap model on COCO person keypoints (six lower-body joints).

    python -m engine.train --model NAME --train-ann A.json --train-images DIR
        [--val-ann B.json --val-images DIR2] --epochs N --out OUTDIR
        [--filter labeled|visible] [--subset N] [--device auto|cpu|cuda]
        [--batch-size B] [--input-size HxW] [--resume]
        [--pretrained PATH|imagenet] [--backbone-lr F] [--backbone-bn auto|frozen|train]

Multi-GPU / multi-node: the same command under ``torchrun --nproc_per_node=K`` (DDP; NCCL on
CUDA, gloo on the CPU). CUDA trains with mixed precision. Writes into OUTDIR a checkpoint each
epoch (``checkpoint.pt``), ``metrics.jsonl`` and ``metrics.html`` (Plotly), and the final
``model.safetensors`` with its ``model.json`` sidecar. Seeded: on the CPU the same command
twice gives the same loss curve, and ``--resume`` continues it exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from engine.argtypes import (device_name, non_negative_float, non_negative_int, positive_float,
                            positive_int, probability)
from engine.data import coco as cocolib
from engine.codec import HeatmapCodec
from engine.device import pick_device
from engine.data.dataset import Augment, PoseBalancedSampler, PoseDataset
from engine.fileio import atomic_path, write_text
from .losses import weighted_mse


def parse_size(text: str) -> tuple[int, int]:
    """'256x192' (height x width) -> (width, height); both must be multiples of 32."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size must look like 256x192 (HxW), got {text!r}")
    if h % 32 or w % 32 or h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"input size sides must be positive multiples of 32, got {text}")
    return w, h


def train_step(model, batch: dict, opt, scaler, device: torch.device, frozen: list | None = None) -> float:
    """One optimisation step on a batch from ``PoseDataset``; returns the loss. Mixed
    precision on CUDA (``scaler`` is a ``torch.amp.GradScaler``, disabled on the CPU).
    ``frozen``: parameters left as they are this step (their gradients dropped, so AdamW
    skips them and their moments stay empty)."""
    from .evaluate import to_model_input
    x = to_model_input(batch["image"], device)
    target, weight = batch["target"].to(device), batch["weight"].to(device)
    with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        loss = weighted_mse(model(x), target, weight)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    for q in frozen or ():
        q.grad = None
    scaler.step(opt)
    scaler.update()
    return loss.item()


def param_groups(model, lr: float, backbone_factor: float) -> tuple[list[dict], list[float] | float]:
    """Optimizer groups and their peak learning rates: the backbone (``model.backbone``) at
    ``backbone_factor`` x ``lr``, the rest at ``lr``; one group when the factor is 1."""
    if backbone_factor == 1.0 or not hasattr(model, "backbone"):
        return [{"params": list(model.parameters())}], lr
    ids = {id(p) for p in model.backbone.parameters()}
    backbone = [p for p in model.parameters() if id(p) in ids]
    rest = [p for p in model.parameters() if id(p) not in ids]
    return ([{"params": rest, "lr": lr}, {"params": backbone, "lr": lr * backbone_factor}],
            [lr, lr * backbone_factor])


def build_parser() -> argparse.ArgumentParser:
    from engine.models import list_models
    p = argparse.ArgumentParser(prog="python -m engine.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=list_models(), help="registered model name")
    p.add_argument("--train-ann", required=True, help="COCO person-keypoints JSON to train on")
    p.add_argument("--train-images", required=True, help="folder with the training images")
    p.add_argument("--val-ann", help="COCO JSON for validation PCK after each epoch")
    p.add_argument("--val-images", help="folder with the validation images")
    p.add_argument("--epochs", type=positive_int, required=True, help="number of passes over the data")
    p.add_argument("--out", required=True, help="output folder (checkpoints, metrics, weights)")
    p.add_argument("--filter", choices=cocolib.FILTERS, default=None,
                   help="labeled: only people with all six joints labelled; visible: all six "
                        "visible (default: everyone with at least one; unlabelled joints weigh 0)")
    p.add_argument("--subset", type=positive_int, help="train on the people of a seeded random N images")
    p.add_argument("--device", type=device_name, default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=positive_int, default=32, help="per process")
    p.add_argument("--input-size", type=parse_size, default=(192, 256), metavar="HxW",
                   help="model input, height x width, multiples of 32 (default 256x192)")
    p.add_argument("--sigma", type=positive_float, default=2.0, help="target Gaussian sigma, heatmap pixels")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak Adam learning rate (cosine decay)")
    p.add_argument("--weight-decay", type=non_negative_float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--no-augment", action="store_true", help="train on plain crops")
    p.add_argument("--paste", type=probability, default=0.0, metavar="P",
                   help="probability of pasting a person (by its segmentation) onto a backdrop "
                        "cut from a training image drawn at random (default 0: never)")
    p.add_argument("--part", type=probability, default=Augment.part, metavar="P",
                   help="probability of a close-up on part of the person, the joints it leaves "
                        f"out trained as absent (default {Augment.part})")
    p.add_argument("--balance-pose", action="store_true",
                   help="draw people in inverse proportion to how common their knee bend is "
                        "(deep, bent, slightly bent, straight, no full leg: an equal share of the "
                        "draws for each bin that holds anybody), so deep squats are seen as often "
                        "as standing")
    p.add_argument("--workers", type=non_negative_int, default=0, help="data-loading worker processes")
    p.add_argument("--seed", type=int, default=0, help="seed for shuffling, augmentation, init")
    p.add_argument("--threads", type=positive_int, help="CPU threads per process (torch.set_num_threads)")
    p.add_argument("--min-labeled", type=non_negative_int, default=1, help="without --filter: least joints labelled")
    p.add_argument("--min-box-side", type=non_negative_float, default=cocolib.MIN_BOX_SIDE,
                   help="boxes with a shorter side below this (pixels) are flagged small")
    p.add_argument("--skip-small", action="store_true", help="leave out people with small boxes")
    p.add_argument("--flip-test", action="store_true", help="validate with flip test")
    p.add_argument("--resume", action="store_true", help="continue from OUTDIR/checkpoint.pt")
    p.add_argument("--half", action="store_true", help="save the final weights as fp16")
    p.add_argument("--tag", default="", help="free text recorded in the sidecar (e.g. the recipe)")
    p.add_argument("--pretrained", metavar="PATH|imagenet|movenet",
                   help="start the backbone from ImageNet weights: for resnet18, resnet18_fpn and "
                        "attention a torchvision ResNet18 state dict file; for mobilenetv2 the "
                        "MobileNetV2 .tflite or its export (python -m engine.pretrained export); "
                        "'imagenet': torchvision's cached or downloadable ResNet18, or the shared "
                        ".tflite for mobilenetv2 (exit 2 when they cannot be had). For "
                        "movenet_thunder and movenet_lightning the whole network: 'movenet' = the "
                        "imported graph (weights/NAME.safetensors), or a weight file of the same model")
    p.add_argument("--backbone-lr", type=positive_float, default=None, metavar="F",
                   help="backbone learning rate = F x --lr, under the same one-cycle schedule "
                        "(its 10%% warm-up included); default 0.1 with --pretrained, else 1")
    p.add_argument("--frozen-backbone-steps", type=non_negative_int, default=0, metavar="N",
                   help="keep the backbone fixed for the first N optimisation steps (the new or "
                        "retargeted layers settle before the pretrained features move)")
    p.add_argument("--checkpoint-minutes", type=positive_float, default=10.0, metavar="M",
                   help="also write checkpoint.pt inside an epoch every M minutes of training, so "
                        "--resume loses at most that much (default 10)")
    p.add_argument("--backbone-bn", choices=("auto", "frozen", "train"), default="auto",
                   help="with --pretrained: frozen keeps the backbone's BatchNorm statistics (eval "
                        "mode; affine still learns), train uses batch statistics; auto: frozen for "
                        "mobilenetv2 (its BatchNorm is folded into the weights), train for ResNet18")
    return p


def setup_distributed(device_name: str):
    """(rank, world size, device) from torchrun's environment; one process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def load_people(ann, images, args, filter_=None, subset=None):
    data = cocolib.load(ann, images, min_box_side=args.min_box_side)
    people = cocolib.select(data.people, filter_, subset, args.seed, args.min_labeled)
    if args.skip_small:
        people = [p for p in people if not p.flags.small_box]
    return data, people


def person_boxes(data: cocolib.CocoPeople) -> dict[str, list]:
    """File name -> every person box in it (crowd regions and people with no lower-body joint
    labelled too): what background crops must keep clear of."""
    boxes: dict[str, list] = {}
    for p in data.people + data.crowd:
        boxes.setdefault(p.file_name, []).append(p.bbox)
    return boxes


def save_checkpoint(path: Path, **state) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def write_chart(out: Path, history: list[dict], title: str) -> None:
    """metrics.html: training loss and validation PCK per epoch (Plotly)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    ep = [h["epoch"] for h in history]
    fig.add_trace(go.Scatter(x=ep, y=[h["loss"] for h in history], name="train loss"))
    if any(h.get("val_pck@0.05") is not None for h in history):
        fig.add_trace(go.Scatter(x=ep, y=[h.get("val_pck@0.05") for h in history],
                                 name="val PCK@0.05"), secondary_y=True)
    fig.update_layout(title=title, xaxis_title="epoch")
    fig.update_yaxes(title_text="loss", secondary_y=False)
    fig.update_yaxes(title_text="PCK@0.05", range=[0, 1], secondary_y=True)
    write_text(out, fig.to_html(include_plotlyjs="cdn"))


def _same_weights_file(model: str, a: str | None, b: str | None) -> bool:
    """Whether two ``--pretrained`` values name the same file (``imagenet`` resolved to the file
    it stands for, paths compared resolved)."""
    if a is None or b is None or a == b:
        return a == b
    from engine.models.pretrained import PretrainedError, imagenet_source

    def where(v):
        try:
            return (imagenet_source(model) if v == "imagenet" else Path(v)).resolve()
        except PretrainedError:
            return v
    return where(a) == where(b)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def make_scheduler(opt, peaks, total_steps: int):
    """One-cycle cosine schedule with a 10% warm-up (at least two steps of it: OneCycleLR
    divides by zero when its warm-up rounds to none, e.g. 10 steps in all); runs of under
    three steps keep the peak rate."""
    if total_steps < 3:
        peaks = peaks if isinstance(peaks, (list, tuple)) else [peaks] * len(opt.param_groups)
        for g, peak in zip(opt.param_groups, peaks):
            g["lr"] = peak
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, peaks, total_steps=total_steps,
                                               pct_start=max(0.1, 2 / total_steps))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        rank, world, device = setup_distributed(args.device)
    except ValueError as e:  # e.g. --device cuda on a machine without CUDA
        print(f"error: {e}", file=sys.stderr)
        return 2
    main_proc = rank == 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file, not a folder", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    try:
        train_data, people = load_people(args.train_ann, args.train_images, args, args.filter, args.subset)
        val = load_people(args.val_ann, args.val_images, args) if args.val_ann else None
    except cocolib.CocoFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not people:
        print(f"error: {args.train_ann}: no person matches the filter", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)  # only now: a run refused above leaves nothing behind
    w, h = args.input_size
    codec = HeatmapCodec((w, h), (w // 4, h // 4), args.sigma)
    aug = Augment.none() if args.no_augment else Augment(paste=args.paste, part=args.part)
    ds = PoseDataset(people, args.train_images, codec, aug, seed=args.seed, boxes=person_boxes(train_data),
                     backdrops=sorted({p.file_name for p in people}))
    if args.balance_pose:
        sampler = PoseBalancedSampler(people, args.seed, rank, world)
        if main_proc:
            print(f"pose-balanced sampling, people per knee-bend bin: {sampler.counts}")
    elif world > 1:
        sampler = torch.utils.data.DistributedSampler(ds, world, rank, shuffle=True, seed=args.seed)
    else:
        sampler = None
    gen = torch.Generator()
    from engine.models import build_model, count_parameters
    from .evaluate import evaluate_people
    from engine.models import weights as weightslib

    from engine.models.pretrained import PretrainedError
    try:
        model = build_model(args.model, pretrained=args.pretrained, backbone_bn=args.backbone_bn).to(device)
    except PretrainedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    init = dict(model.init_record)
    init["backbone_lr_factor"] = args.backbone_lr if args.backbone_lr is not None else (
        0.1 if args.pretrained else 1.0)
    if main_proc and args.pretrained:
        print(f"backbone from {init['source']} ({init['tensors_loaded']} tensors, sha256 "
              f"{init['sha256'][:12]}..., BatchNorm {init['batchnorm']}, backbone lr x "
              f"{init['backbone_lr_factor']})")
    groups, peaks = param_groups(model, args.lr, init["backbone_lr_factor"])
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = max(1, -(-len(ds) // (args.batch_size * world)))
    sched = make_scheduler(opt, peaks, args.epochs * steps_per_epoch)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start, history, done_in_epoch, partial = 0, [], 0, None
    ckpt = out / "checkpoint.pt"
    if args.resume and ckpt.is_file():
        st = torch.load(ckpt, map_location="cpu", weights_only=False)
        before = {k: st.get("args", {}).get(k) for k in ("pretrained", "backbone_bn", "backbone_lr")}
        now = {k: getattr(args, k) for k in before}
        if _same_weights_file(args.model, before["pretrained"], now["pretrained"]):
            now["pretrained"] = before["pretrained"]  # "imagenet" and the path it stands for
        if before != now and "pretrained" in st.get("args", {}):
            print(f"error: {ckpt} was trained with {before}; resume with the same --pretrained, "
                  "--backbone-bn and --backbone-lr (they decide BatchNorm and learning rates)",
                  file=sys.stderr)
            return 2
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        scaler.load_state_dict(st["scaler"])
        start, history = st["epoch"] + 1, st["history"]
        # a checkpoint written inside an epoch: its batches done and the epoch's running sums
        done_in_epoch, partial = st.get("batches_done", 0), st.get("partial")
        if main_proc:
            where = f", {done_in_epoch} batches into epoch {start + 1}" if done_in_epoch else ""
            print(f"resuming after epoch {st['epoch'] + 1}{where} from {ckpt}")
    backbone = [q for q in model.backbone.parameters()] if hasattr(model, "backbone") else []
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    total_steps = args.epochs * steps_per_epoch
    run_t0, run_steps0 = time.perf_counter(), start * steps_per_epoch + done_in_epoch
    last_save = time.perf_counter()

    def save(epoch_done: int, batches_done: int, part: dict | None) -> None:
        save_checkpoint(ckpt, model=model.state_dict(), optimizer=opt.state_dict(),
                        scheduler=sched.state_dict(), scaler=scaler.state_dict(), epoch=epoch_done,
                        history=history, args=vars(args), batches_done=batches_done, partial=part)

    for epoch in range(start, args.epochs):
        torch.manual_seed(args.seed * 100003 + epoch)
        gen.manual_seed(args.seed * 100003 + epoch)
        ds.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        # the epoch's order, drawn as DataLoader(shuffle=True) draws it; a run resumed inside
        # the epoch skips the batches it had done (augmentation depends on seed, epoch, index only)
        order = list(sampler if sampler is not None else torch.utils.data.RandomSampler(ds, generator=gen))
        skip = done_in_epoch if epoch == start else 0
        loader = torch.utils.data.DataLoader(
            ds, batch_size=args.batch_size, sampler=order[skip * args.batch_size:], shuffle=False,
            num_workers=args.workers, drop_last=False, pin_memory=device.type == "cuda",
            persistent_workers=False)
        ddp.train()
        part = partial if (skip and partial) else {"loss_sum": 0.0, "count": 0, "seconds": 0.0}
        t0, total, count = time.perf_counter() - part["seconds"], part["loss_sum"], part["count"]
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not main_proc, leave=False,
                   initial=skip, total=steps_per_epoch)
        for i, batch in enumerate(bar, start=skip):
            step = epoch * steps_per_epoch + i
            loss = train_step(ddp, batch, opt, scaler, device,
                              backbone if step < args.frozen_backbone_steps else None)
            sched.step()
            total += loss * len(batch["image"])
            count += len(batch["image"])
            per_step = (time.perf_counter() - run_t0) / max(step + 1 - run_steps0, 1)
            bar.set_postfix(loss=f"{loss:.3e}", run_eta=_minutes(per_step * (total_steps - step - 1)))
            due = time.perf_counter() - last_save >= 60 * args.checkpoint_minutes and i + 1 < steps_per_epoch
            if world > 1:  # rank 0's clock decides, so every rank saves at the same step
                flag = torch.tensor([float(due)], device=device)
                dist.broadcast(flag, 0)
                due = bool(flag.item())
            if due:
                if main_proc:
                    save(epoch - 1, i + 1, {"loss_sum": total, "count": count,
                                            "seconds": time.perf_counter() - t0})
                    print(f"checkpoint: epoch {epoch + 1}/{args.epochs}, batch {i + 1}/{steps_per_epoch}, "
                          f"loss {total / max(count, 1):.3e}, {per_step:.2f} s/step, run ETA "
                          f"{_minutes(per_step * (total_steps - step - 1))}", flush=True)
                last_save = time.perf_counter()
        stats = torch.tensor([total, count], dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(stats)
        secs = time.perf_counter() - t0
        rec = {"epoch": epoch + 1, "loss": float(stats[0] / stats[1]), "lr": sched.get_last_lr()[0],
               "seconds": round(secs, 2), "images_per_s": round(float(stats[1]) / secs, 1),
               "device": str(device), "world_size": world}
        if main_proc and val is not None:
            vr = evaluate_people(model, val[1], args.val_images, codec, val[0].dataset, device,
                                 args.flip_test, progress=False)
            rec.update({"val_pck@0.05": vr["pck@0.05"], "val_pck@0.1": vr["pck@0.1"]})
        history.append(rec)
        if main_proc:
            print(json.dumps(rec), flush=True)
            with open(out / "metrics.jsonl", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in history)
            write_chart(out / "metrics.html", history, f"{args.model} on {Path(args.train_ann).name}")
            save(epoch, 0, None)
            last_save = time.perf_counter()
        if world > 1:
            dist.barrier()
    if main_proc:
        last = history[-1] if history else {}
        meta = {"model": args.model, "input_size": [w, h], "sigma": args.sigma,
                "parameters": count_parameters(model),
                "training_data": {"ann": str(args.train_ann), "images": str(args.train_images),
                                  "filter": args.filter, "subset": args.subset,
                                  "people": len(people), "val_ann": args.val_ann},
                "epochs": args.epochs, "seed": args.seed, "batch_size": args.batch_size * world,
                "augment": "none" if args.no_augment else {"paste": args.paste, "part": args.part},
                "sampling": "pose-balanced" if args.balance_pose else "uniform",
                "metrics": {k: last[k] for k in ("loss", "val_pck@0.05", "val_pck@0.1") if k in last},
                "recipe": args.tag, "init": init}
        weightslib.save(model, out / "model.safetensors", meta, half=args.half)
        print(f"wrote {out / 'model.safetensors'}")
    if world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
