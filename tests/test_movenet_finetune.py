"""Fine-tuning MoveNet from the import with ``engine.train --pretrained movenet`` (issue 28): the
whole imported network is loaded, the loss falls on a few real people, a checkpoint written inside
an epoch (``--checkpoint-minutes``) is continued by ``--resume`` exactly, and the weights it
writes are decoded by the codec (the heatmap loss does not train the graph's decoding heads)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.models.weights import WEIGHTS_DIR, load_model

ROOT = Path(__file__).resolve().parents[1]


def _cmd(out: Path, ann: Path, images: Path, extra=()):
    return [sys.executable, "-m", "engine.train", "--model", "movenet_lightning", "--train-ann", str(ann),
            "--train-images", str(images), "--epochs", "2", "--out", str(out), "--filter", "visible",
            "--subset", "2", "--batch-size", "1", "--input-size", "192x192", "--no-augment",
            "--pretrained", "movenet", "--lr", "3e-5", "--backbone-lr", "1", "--frozen-backbone-steps", "1",
            "--threads", "1", "--device", "cpu", *extra]


def _history(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_fine_tuning_from_the_import_learns_and_resumes_inside_an_epoch(tmp_path, coco_ann, coco_images):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    a = tmp_path / "a"
    r = subprocess.run(_cmd(a, coco_ann, coco_images), cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "backbone from" in r.stdout and "movenet_lightning.safetensors" in r.stdout
    losses = [h["loss"] for h in _history(a)]
    assert len(losses) == 2 and losses[-1] < losses[0], losses
    meta = json.loads((a / "model.json").read_text())
    assert meta["init"]["whole_model"] and meta["init"]["batchnorm"] == "frozen"
    assert meta["init"]["sha256"] and meta["init"]["tensors_loaded"] > 300
    model, _ = load_model(a / "model.safetensors")
    assert not model.decodes_keypoints  # decoded by the codec: the graph's heads were not trained
    # the backbone was fixed for the first step only, then learnt; the decoding heads never learn
    start, end = load_file(str(WEIGHTS_DIR / "movenet_lightning.safetensors")), load_file(str(a / "model.safetensors"))
    moved = {k for k in start if start[k].is_floating_point() and not torch.equal(start[k].float(), end[k].float())}
    assert any(k.startswith("backbone.") for k in moved) and any(k.startswith("heads.kpt_heatmap") for k in moved)
    assert not any(k.startswith(model.AUXILIARY) for k in moved)

    # the same run (two people: two batches an epoch) cut after its first checkpoint inside an
    # epoch (one after every batch that does not end one), then resumed
    b = tmp_path / "b"
    proc = subprocess.Popen(_cmd(b, coco_ann, coco_images, ["--checkpoint-minutes", "1e-6"]), cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 300
    while not (b / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    st = torch.load(b / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert st["batches_done"] == 1 and st["epoch"] == -1, "cut inside the first epoch, after one batch"
    r = subprocess.run(_cmd(b, coco_ann, coco_images, ["--resume"]), cwd=ROOT, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming after epoch 0, 1 batches into epoch 1" in r.stdout
    assert [h["loss"] for h in _history(b)] == pytest.approx(losses, rel=1e-6)
    got, want = load_file(str(b / "model.safetensors")), load_file(str(a / "model.safetensors"))
    assert all(torch.allclose(got[k].float(), want[k].float(), atol=1e-6) for k in want)
