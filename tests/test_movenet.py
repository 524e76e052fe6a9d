"""MoveNet Thunder and Lightning in PyTorch (``engine.models.movenet``): the shipped weights give
what the original TensorFlow.js graphs give on real crops (``tests/fixtures/movenet``), the import
command rebuilds them byte for byte from ``../shared/pretrained/pose`` and refuses damaged or
foreign graphs with one line, and the engine decodes the joints the graph's way."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.codec import HeatmapCodec
from engine.joints import COCO_INDICES
from engine.models import preprocess
from engine.models.common import predict_keypoints
from engine.models.weights import WEIGHTS_DIR, load_model
from tests.movenet_fixture import SIZES, load_cases

ROOT = Path(__file__).resolve().parents[1]
POSE = ROOT.parent / "shared" / "pretrained" / "pose"
VARIANTS = sorted(SIZES)


def _crops(variant: str):
    cases = [(case, crop) for case, crop, skip in load_cases(variant) if skip is None]
    expected = np.array([case[variant]["output"] for case, _ in cases], dtype=np.float64)
    return np.stack([crop for _, crop in cases]), expected


@pytest.fixture(scope="module", params=VARIANTS)
def shipped(request):
    model, meta = load_model(WEIGHTS_DIR / f"movenet_{request.param}.safetensors")
    return request.param, model, meta


def _need_pose():
    if not (POSE / "movenet-thunder.json").is_file():
        pytest.skip(f"the MoveNet graphs are not at {POSE} (../shared/pretrained/pose)")


def test_shipped_weights_match_the_tfjs_graph_on_real_crops(shipped):
    """Every one of the 17 keypoints within 1 px of the input and every score within 0.02 of what
    the original graph (TensorFlow.js, in Node) gave on the same crops."""
    variant, model, meta = shipped
    crops, expected = _crops(variant)
    side = SIZES[variant]
    assert meta["input_size"] == [side, side] and model.decodes_keypoints
    with torch.inference_mode():
        got = model.keypoints(preprocess(crops)).double().numpy()
    px = np.abs(got[..., :2] - expected[..., :2]) * side
    print(f"{variant}: {len(crops)} crops, largest joint difference {px.max():.4f} px, largest "
          f"score difference {np.abs(got[..., 2] - expected[..., 2]).max():.5f}")
    assert px.max() <= 1.0
    assert np.abs(got[..., 2] - expected[..., 2]).max() <= 0.02


def test_the_engine_decodes_the_six_joints_the_graphs_way(shipped):
    """``predict_keypoints`` (what evaluation, the scorecard and the video path call) gives COCO
    keypoints 11-16 at the graph's positions in input pixels (pixel centres: v * side - 0.5) with
    the graph's scores, and the six heatmaps after the sigmoid; the plain codec's arg-max would be
    a heatmap cell (4 px) coarse."""
    variant, model, _ = shipped
    crops, expected = _crops(variant)
    side = SIZES[variant]
    codec = HeatmapCodec((side, side), (side // 4, side // 4))
    with torch.inference_mode():
        hm, xy, score = predict_keypoints(model, preprocess(crops), codec)
    want = expected[:, list(COCO_INDICES)]
    assert hm.shape == (len(crops), 6, side // 4, side // 4) and 0 <= hm.min() and hm.max() <= 1
    np.testing.assert_allclose(xy[..., 0], want[..., 1] * side - 0.5, atol=1.0)
    np.testing.assert_allclose(xy[..., 1], want[..., 0] * side - 0.5, atol=1.0)
    np.testing.assert_allclose(score, want[..., 2], atol=0.02)
    with pytest.raises(ValueError, match="flip test"):
        predict_keypoints(model, preprocess(crops[:1]), codec, flip_test=True)


def test_lightning_agrees_with_the_int8_tflite_file():
    """The scorecard's earlier MoveNet reference, the int8 TFLite Lightning of google-coral, is the
    same network quantised after training: on the fixture's crops most of the six joints land
    within 0.05 of the crop of the float graph's (its 8-bit activations move some joints to the
    other leg or the other person; ours match the float TensorFlow.js graph, above)."""
    from engine.video.movenet import MoveNet, MovenetUnavailable
    try:
        int8 = MoveNet(threads=1)
    except MovenetUnavailable as e:
        pytest.skip(str(e))
    model, _ = load_model(WEIGHTS_DIR / "movenet_lightning.safetensors")
    crops, _ = _crops("lightning")
    with torch.inference_mode():
        _, xy, score = predict_keypoints(model, preprocess(crops), HeatmapCodec((192, 192), (48, 48)))
    theirs = [int8.lower_body(c) for c in crops]
    d = np.linalg.norm(xy - np.stack([t[0] for t in theirs]), axis=-1)
    sd = np.abs(score - np.stack([t[1] for t in theirs]))
    print(f"int8 vs float Lightning on {len(crops)} crops: joints within 0.05 x 192 px "
          f"{(d <= 9.6).mean():.3f}, median {np.median(d):.2f} px, median score difference {np.median(sd):.3f}")
    assert (d <= 0.05 * 192).mean() >= 0.8
    assert np.median(d) <= 4.0 and np.median(sd) <= 0.1


def test_the_import_command_rebuilds_the_shipped_files_exactly(tmp_path):
    """``python -m engine.pretrained movenet`` from ``../shared/pretrained/pose`` gives the shipped
    tensors bit for bit (float16), the sidecars' provenance, the cards and both licences."""
    _need_pose()
    from safetensors.torch import load_file
    r = subprocess.run([sys.executable, "-m", "engine.pretrained", "movenet", "--source", str(POSE),
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for variant in VARIANTS:
        name = f"movenet_{variant}"
        new, old = load_file(str(tmp_path / f"{name}.safetensors")), load_file(str(WEIGHTS_DIR / f"{name}.safetensors"))
        assert new.keys() == old.keys()
        assert all(torch.equal(new[k], old[k]) for k in new)
        side = json.loads((tmp_path / f"{name}.json").read_text())
        assert side["imported"]["sha256"] == json.loads((WEIGHTS_DIR / f"{name}.json").read_text())["imported"]["sha256"]
        assert (tmp_path / f"{name}.md").is_file()
    for lic in ("movenet-LICENSE-Apache-2.0.txt", "movenet-LICENSE-human-models-MIT.txt"):
        assert (tmp_path / lic).read_bytes() == (WEIGHTS_DIR / lic).read_bytes()


def _copy_pose(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("movenet-thunder.json", "movenet-thunder.bin", "movenet-lightning.json",
                 "movenet-lightning.bin", "LICENSE-human-models-MIT.txt"):
        shutil.copy(POSE / name, dst / name)
    shutil.copy(POSE.parent / "LICENSE-Apache-2.0.txt", dst / "LICENSE-Apache-2.0.txt")
    return dst


def test_a_damaged_graph_is_refused_with_one_line_and_nothing_is_written(tmp_path):
    _need_pose()
    src = _copy_pose(tmp_path / "pose")
    data = bytearray((src / "movenet-lightning.bin").read_bytes())
    data[1000] ^= 0xFF
    (src / "movenet-lightning.bin").write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run([sys.executable, "-m", "engine.pretrained", "movenet", "--source", str(src),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "movenet-lightning.bin" in lines[0] and "sha256" in lines[0]
    assert list(out.iterdir()) == []  # not even the undamaged Thunder


def _edited_graph(tmp_path: Path, edit) -> Path:
    """A copy of Lightning's graph with its weights manifest changed by ``edit(specs, bin) -> bin``."""
    src = _copy_pose(tmp_path / "pose")
    doc = json.loads((src / "movenet-lightning.json").read_text())
    specs = doc["weightsManifest"][0]["weights"]
    data = edit(specs, (src / "movenet-lightning.bin").read_bytes())
    (src / "movenet-lightning.json").write_text(json.dumps(doc))
    (src / "movenet-lightning.bin").write_bytes(data)
    return src / "movenet-lightning.json"


def test_an_unmapped_weight_or_a_wrong_shape_is_named(tmp_path):
    """A graph with a weight the module has no place for, or a weight of another shape, is refused
    naming the weight (checked here without the SHA-256 check, which would refuse it first)."""
    _need_pose()
    from engine.models.movenet_import import import_movenet
    from engine.models.tfjs_import import TfjsImportError

    def extra(specs, data):
        specs.append({"name": "StatefulPartitionedCall/extra_head/kernel", "shape": [4], "dtype": "float32"})
        return data + np.zeros(4, np.float32).tobytes()
    with pytest.raises(TfjsImportError, match="extra_head/kernel.*not mapped"):
        import_movenet(_edited_graph(tmp_path / "a", extra), "lightning", strict=False)

    def reshape(specs, data):
        spec = next(s for s in specs if s["name"].endswith("model/Conv1/Conv2D_weights"))
        spec["shape"] = [3, 3, 32, 3]  # as many numbers as [3, 3, 3, 32], another layout
        return data
    with pytest.raises(TfjsImportError, match="Conv1/Conv2D_weights.*shape"):
        import_movenet(_edited_graph(tmp_path / "b", reshape), "lightning", strict=False)


def test_random_movenet_decodes_with_the_codec_and_trains_only_the_heatmap_path():
    """Built from random weights the module's centre, regression and offset heads mean nothing:
    it is decoded by the heatmap codec like the other models, and only the keypoint heatmap head
    is in ``forward`` (the graph's decoding heads are ``AUXILIARY``)."""
    from engine.models import build_model
    model = build_model("movenet_lightning")
    assert not model.decodes_keypoints
    out = model.train()(torch.randn(2, 3, 64, 64))
    out.square().mean().backward()
    for name, p in model.named_parameters():
        aux = name.startswith(model.AUXILIARY)
        assert (p.grad is None) == aux, name


def test_training_from_the_import_lowers_the_heatmap_loss(coco_ann, coco_images):
    """A few steps of the engine's training step (MSE on the six heatmaps) from the shipped Lightning
    on four real COCO-MINI people lower the loss on them at every step; the folded BatchNorms keep their
    statistics (frozen), so the imported network is not re-normalised by the batch."""
    from engine.data import coco as cocolib
    from engine.data.dataset import Augment, PoseDataset
    from engine.training.train import train_step
    torch.manual_seed(0)
    data = cocolib.load(coco_ann, coco_images)
    people = [p for p in cocolib.select(data.people, "visible") if not p.flags.small_box][:4]
    model, _ = load_model(WEIGHTS_DIR / "movenet_lightning.safetensors")
    bn = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stats = bn.running_var.clone()
    ds = PoseDataset(people, coco_images, HeatmapCodec((192, 192), (48, 48)), Augment.none(), cache_images=True)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    # measured: AdamW at 1e-3 (the engine's default for random weights) wrecks the imported network
    # in one step (loss 0.0016 -> 0.20, its sigmoid heatmaps saturate); at 1e-4 the loss wanders;
    # at 3e-5 it falls every step
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-5)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    model.train()
    losses = [train_step(model, batch, opt, scaler, torch.device("cpu")) for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0] and losses == sorted(losses, reverse=True), losses
    assert torch.equal(bn.running_var, stats) and not bn.training
