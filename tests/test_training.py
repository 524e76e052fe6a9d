"""Every registered model learns on real crops; training is seeded, resumable and runs
under torchrun (DDP, gloo on the CPU)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data import coco as cocolib
from engine.codec import HeatmapCodec
from engine.data.dataset import POSE_BIN_NAMES, Augment, PoseBalancedSampler, PoseDataset, pose_bins
from engine.training.evaluate import evaluate_people
from engine.models import build_model, list_models
from engine.training.train import train_step

ROOT = Path(__file__).resolve().parents[1]
INPUT = (96, 128)  # width, height: small, so that CPU tests stay quick


@pytest.fixture(scope="module")
def few_people(coco_ann, coco_images):
    data = cocolib.load(coco_ann, coco_images)
    people = [p for p in cocolib.select(data.people, "visible") if not p.flags.small_box][:4]
    assert len(people) == 4
    return data, people


# MoveNet is a network trained on people, imported, not trained from random weights: its
# training from the import is tested in tests/test_movenet.py (a random-init run here is 10x slower)
@pytest.mark.parametrize("name", [m for m in list_models() if not m.startswith("movenet")])
def test_every_model_overfits_a_handful_of_real_crops(name, few_people, coco_images):
    """Within the budget, training-set PCK@0.05 (engine's definition) reaches 0.9."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    data, people = few_people
    codec = HeatmapCodec(INPUT, (INPUT[0] // 4, INPUT[1] // 4), sigma=2.0)
    ds = PoseDataset(people, coco_images, codec, Augment.none(), cache_images=True)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    model = build_model(name)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    best, steps = 0.0, 0
    for steps in range(1, 601):
        model.train()
        train_step(model, batch, opt, scaler, torch.device("cpu"))
        if steps % 50 == 0:
            r = evaluate_people(model, people, coco_images, codec, data.dataset, progress=False)
            best = max(best, r["pck@0.05"])
            if best >= 0.9:
                break
    assert best >= 0.9, f"{name}: training-set PCK@0.05 only {best:.2f} after {steps} steps"


def _train_cmd(out: Path, ann: Path, images: Path, epochs: int, extra=()):
    return ["-m", "engine.train", "--model", "dilated", "--train-ann", str(ann),
            "--train-images", str(images), "--epochs", str(epochs), "--out", str(out),
            "--filter", "labeled", "--batch-size", "4", "--input-size", "128x96",
            "--threads", "1", "--device", "cpu", *extra]


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_training_is_seeded_and_resume_reproduces_the_loss(tmp_path, coco_ann, coco_images):
    """With people pasted onto other images too (COCO-MINI's polygons) and pose-balanced
    sampling: the backdrops and the draws come from the seed, so the runs still repeat exactly."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    paste = ["--paste", "0.5", "--balance-pose"]
    a = tmp_path / "a"
    subprocess.run([sys.executable, *_train_cmd(a, coco_ann, coco_images, 3, paste)], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    b = tmp_path / "b"
    subprocess.run([sys.executable, *_train_cmd(b, coco_ann, coco_images, 3, paste)], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    assert _losses(a) == _losses(b), "same command twice must give the same loss curve on the CPU"
    # interrupted run: killed as soon as the first checkpoint lands, then resumed
    c = tmp_path / "c"
    proc = subprocess.Popen([sys.executable, *_train_cmd(c, coco_ann, coco_images, 3, paste)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (c / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done_before = len(_losses(c))
    assert 1 <= done_before < 3, "the run must be interrupted part-way for this test to mean anything"
    r = subprocess.run([sys.executable, *_train_cmd(c, coco_ann, coco_images, 3, [*paste, "--resume"])],
                       cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert f"resuming after epoch {done_before}" in r.stdout
    assert _losses(c) == pytest.approx(_losses(a), rel=1e-6)
    assert (c / "model.safetensors").is_file() and (c / "metrics.html").is_file()
    meta = json.loads((c / "model.json").read_text())
    assert meta["augment"]["paste"] == 0.5 and meta["sampling"] == "pose-balanced"


def test_pose_balanced_sampler_evens_out_knee_bends(coco_ann, coco_images, squatting):
    import dataclasses
    data = cocolib.load(coco_ann, coco_images)
    people = data.people
    stand = next(p for p in people if p.labeled.all())
    deep = squatting(stand)  # the same person made to squat deep
    legless = dataclasses.replace(stand, visibility=np.array([2, 2, 0, 0, 0, 0]))
    assert [POSE_BIN_NAMES[b] for b in pose_bins([stand, deep, legless])][1:] == ["deep", "no full leg"]
    bins = pose_bins(people)
    counts = np.bincount(bins, minlength=len(POSE_BIN_NAMES))
    assert counts.max() >= 3 * counts[counts > 0].min(), "the real people must be unevenly spread for this test"
    n = len(people)
    sampler = PoseBalancedSampler(people, seed=3)
    draws = []
    for epoch in range(40):
        sampler.set_epoch(epoch)
        idx = np.array(list(sampler))
        assert len(idx) == len(sampler) == n
        assert len(set(idx.tolist())) == n, "a repeat must get an index of its own (its own augmentation)"
        draws.append(idx)
    sampler.set_epoch(0)
    assert list(sampler) == draws[0].tolist(), "the draw depends on (seed, epoch) alone"
    assert draws[0].tolist() != draws[1].tolist()
    share = np.bincount(bins[np.concatenate(draws) % n], minlength=len(POSE_BIN_NAMES)) / (40 * n)
    present = counts > 0
    assert np.allclose(share[present], 1 / present.sum(), atol=0.04), (share, counts)
    # two processes take alternate indices of one and the same draw
    ranks = [PoseBalancedSampler(people, seed=3, rank=r, world=2) for r in (0, 1)]
    for r in ranks:
        r.set_epoch(5)
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == -(-n // 2)
    assert not set(a) & set(b)
    # a repeat is the same person (identical without augmentation), augmented differently
    codec = HeatmapCodec(INPUT, (INPUT[0] // 4, INPUT[1] // 4))
    i = int(np.argmax(counts[bins] == counts[counts > 0].min()))
    plain = PoseDataset(people, coco_images, codec, Augment.none())
    assert torch.equal(plain[i]["image"], plain[i + n]["image"])
    assert torch.equal(plain[i]["target"], plain[i + n]["target"])
    ds = PoseDataset(people, coco_images, codec, Augment())
    assert not torch.equal(ds[i]["image"], ds[i + n]["image"])


def test_torchrun_two_processes_gloo(tmp_path, coco_ann, coco_images):
    from engine.models.weights import load_model
    out = tmp_path / "ddp"
    with socket.socket() as sock:  # a free loopback port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={port}",
           *_train_cmd(out, coco_ann, coco_images, 1, ["--val-ann", str(coco_ann), "--val-images",
                                                       str(coco_images)])]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["world_size"] == 2 and np.isfinite(rec["loss"]) and rec["val_pck@0.05"] is not None
    model, meta = load_model(out / "model.safetensors")
    assert meta["model"] == "dilated" and meta["input_size"] == [96, 128]
    y = model(torch.zeros(1, 3, 128, 96))
    assert y.shape == (1, 6, 32, 24)


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 57])
def test_the_schedule_takes_runs_of_any_length_and_peaks_once(steps):
    """OneCycleLR divided by zero for a 10-step run (one epoch of 320 people at batch 32): the
    warm-up must be at least two steps, and very short runs keep the peak rate."""
    import torch
    from engine.training.train import make_scheduler
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = make_scheduler(opt, [1e-3] if steps % 2 else 1e-3, steps)  # a list per group, or one rate
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert 0.95e-3 <= max(lrs) <= 1e-3 * (1 + 1e-6)
    if steps >= 3:
        assert lrs[0] < 1e-3 and lrs[-1] < lrs[int(np.argmax(lrs))]


def test_resume_takes_imagenet_for_the_file_it_stands_for(tmp_path):
    """A run started with the shared .tflite's path resumes under ``--pretrained imagenet`` (the
    recipe's spelling) and the other way round; another file does not pass for it."""
    from engine.models.pretrained import SHARED_TFLITE
    from engine.training.train import _same_weights_file
    if not SHARED_TFLITE.is_file():
        pytest.skip(f"ImageNet MobileNetV2 not found at {SHARED_TFLITE}")
    assert _same_weights_file("mobilenetv2", str(SHARED_TFLITE), "imagenet")
    assert _same_weights_file("mobilenetv2", "imagenet", str(SHARED_TFLITE))
    other = tmp_path / "other.tflite"
    other.write_bytes(b"x")
    assert not _same_weights_file("mobilenetv2", str(other), "imagenet")
    assert not _same_weights_file("mobilenetv2", None, "imagenet")
