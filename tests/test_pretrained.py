"""ImageNet MobileNetV2 imported from TFLite: parity with the TFLite runtime on real photos,
the classify/export CLI, and clear refusals of wrong, damaged or truncated files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import COCO_IMAGES, ROOT, has_module

PRETRAINED = Path(os.environ.get("SQUATPOSE_SHARED_PRETRAINED", ROOT.parent / "shared" / "pretrained"))
INT8 = PRETRAINED / "imagenet" / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
UINT8 = PRETRAINED / "imagenet" / "mobilenet_v2_1.0_224_quant.tflite"

needs_tflite = pytest.mark.skipif(not INT8.is_file(), reason=f"ImageNet MobileNetV2 not found at {INT8} "
                                  "(../shared/pretrained beside the project)")
needs_runtime = pytest.mark.skipif(not has_module("ai_edge_litert"),
                                   reason="the TFLite runtime is a dev dependency: "
                                          "pip install -r requirements-dev.txt")
#: scikit-image's bundled sample photos (no download) used for the parity check
SKIMAGE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
COCO_PHOTOS = 4  # the first COCO-MINI images by file name, not chosen by their result

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[str]:
    """Eight real photos: scikit-image's samples (saved as PNG) and COCO-MINI images."""
    from PIL import Image
    out = []
    if has_module("skimage"):
        import skimage.data
        d = tmp_path_factory.mktemp("photos")
        for name in SKIMAGE_PHOTOS:
            p = d / f"{name}.png"
            Image.fromarray(getattr(skimage.data, name)()).save(p)
            out.append(str(p))
    if not COCO_IMAGES.is_dir():
        pytest.skip(f"COCO-MINI images not found at {COCO_IMAGES}")
    extra = 0 if out else len(SKIMAGE_PHOTOS)  # no scikit-image: more COCO-MINI photos instead
    out += [str(p) for p in sorted(COCO_IMAGES.glob("*.jpg"))[:COCO_PHOTOS + extra]]
    return out


def run_cli(*args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.pretrained", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def in_process(capsys, *args) -> tuple[int, str, str]:
    """The CLI's own ``main`` in this process (no interpreter start-up): (rc, stdout, stderr)."""
    from engine.models.imagenet import main
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _parity(path: Path, photos: list[str], capsys=None) -> list[dict]:
    args = ("classify", "--tflite", path, *photos, "--check", "--json")
    if capsys is None:  # a real command line
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr[-2000:]
        stdout = r.stdout
    else:
        rc, stdout, err = in_process(capsys, *args)
        assert rc == 0, err
    recs = [json.loads(line) for line in stdout.splitlines()]
    assert [x["image"] for x in recs] == photos
    for x in recs:
        assert len(x["torch_top"]) == len(x["tflite_top"]) == 5
    return recs


@needs_tflite
@needs_runtime
def test_int8_file_matches_the_tflite_runtime_on_real_photos(photos):
    """The issue's parity bar for the int8 per-channel file, on the CLI (``classify --check
    --json``), over the photo set fixed by the ``photos`` fixture before any result was seen:
    scikit-image's chelsea, coffee, astronaut and rocket, and the first four COCO-MINI images
    by file name (without scikit-image, the first eight COCO-MINI images). The runtime rounds every activation to 8 bits; the converted network, run
    with that rounding simulated (``int8_simulated``: every activation the graph stores in 8
    bits rounded to its tensor's scale and zero point), must have the runtime's top-1 class on
    every photo, top-5 sets sharing at least 4 classes and logits correlating at 0.99 or more.

    The float network (no activation rounding; what training starts from) is measured on the
    same photos and its figures printed. When this test was written (27 November 2026) it had
    7/8 top-1 equal (000000000790.jpg: potter's wheel against the runtime's water jug, whose
    own two best logits are 3 output quanta apart), top-5 shared >= 4 and correlation >= 0.988
    (rocket); it is held to that: top-5 shared >= 4, correlation >= 0.985 on every photo and
    >= 0.99 on all but one, at most one top-1 flip, on a near tie of the runtime's."""
    from engine.models.imagenet import load_classifier, prepare_image, tflite_logits
    recs = _parity(INT8, photos)
    assert len(recs) >= 6
    for what, rows in (("converted network, float activations", recs),
                       ("converted network, 8-bit activations simulated", [x["int8_simulated"] for x in recs])):
        print(f"{what}: {sum(x['top1_equal'] for x in rows)}/{len(rows)} top-1 equal, top-5 shared >= "
              f"{min(x['top5_shared'] for x in rows)}, correlation >= {min(x['logit_corr'] for x in rows)}")
    # the bar, with the runtime's activation rounding simulated
    for x in recs:
        sim = x["int8_simulated"]
        assert sim["top1_equal"] and sim["top5_shared"] >= 4 and sim["logit_corr"] >= 0.99, x
    # the float network, as measured (see the docstring)
    corr = sorted(x["logit_corr"] for x in recs)
    assert all(x["top5_shared"] >= 4 for x in recs), recs
    assert corr[0] >= 0.985 and corr[1] >= 0.99, corr
    flips = [x for x in recs if not x["top1_equal"]]
    assert len(flips) <= 1, flips
    if flips:  # the runtime's own margin between its first two classes, in output quanta
        _, info = load_classifier(INT8)
        tfl = info["tflite"]
        logits = tflite_logits(INT8, prepare_image(flips[0]["image"])[None], tfl.logits_tensor)[0]
        a, b = np.sort(logits)[::-1][:2]
        assert (a - b) / tfl.activations[tfl.logits_tensor][0] <= 4.5, (flips, a - b)


@needs_tflite
@needs_runtime
def test_converted_layers_match_the_runtime_to_its_rounding(photos):
    """Layer by layer, with the runtime's 8-bit activations simulated: the first layer (a
    stride-2 convolution, where a wrong padding would show) is bit-exact for the int8 file,
    and the first layers differ from the runtime by at most one quantum almost everywhere;
    rounding differences of the integer kernels then accumulate with depth."""
    from engine.models.imagenet import compare_layers, load_classifier, prepare_image
    for path, first in ((INT8, 0.0), (UINT8, 1.0)):
        net, info = load_classifier(path)
        rows = compare_layers(net, info["tflite"], prepare_image(photos[0]))
        assert len(rows) == 52
        assert rows[0]["max_quanta"] <= first, (path.name, rows[0])
        assert all(r["share_over_1"] < 1e-3 for r in rows[:6]), (path.name, rows[:6])
        assert np.mean([r["share_over_1"] for r in rows]) < 0.1, (path.name, rows)


@needs_tflite
@needs_runtime
def test_uint8_per_tensor_file_matches_the_tflite_runtime(photos, capsys):
    recs = _parity(UINT8, photos, capsys)
    assert len(recs) >= 6
    for x in recs:
        assert x["top1_equal"] and x["top5_shared"] >= 4 and x["logit_corr"] >= 0.99, x


@needs_tflite
def test_classify_names_the_classes_and_export_gives_the_same_logits(photos, tmp_path, capsys):
    from engine.models.imagenet import load_classifier, prepare_image, torch_logits
    rc, out, err = in_process(capsys, "classify", "--tflite", INT8, photos[0], "--top", "3")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == photos[0] and lines[1].startswith("  torch : ") and lines[1].count(",") >= 2
    if "chelsea" in photos[0]:
        assert "cat" in lines[1].split(",")[0]
    dest = tmp_path / "mnv2.safetensors"
    rc, out, err = in_process(capsys, "export", "--tflite", INT8, "--out", dest)
    assert rc == 0 and dest.is_file(), err
    pixels = np.stack([prepare_image(p) for p in photos[:3]])
    a_net, a_info = load_classifier(INT8)
    b_net, b_info = load_classifier(dest)
    assert b_info["sha256"] == a_info["sha256"] == "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c"
    torch.testing.assert_close(torch_logits(b_net, b_info, pixels), torch_logits(a_net, a_info, pixels))
    # the export classifies too, without any TFLite parser
    rc, out, err = in_process(capsys, "classify", "--tflite", dest, photos[0], "--json")
    assert rc == 0 and json.loads(out)["torch_top"][0] == int(
        torch_logits(a_net, a_info, pixels[:1]).argmax()), err


@needs_tflite
def test_tf_same_padding_is_asymmetric_on_stride_2():
    """TensorFlow pads SAME stride-2 layers 0 before / 1 after on even sides: the first
    output pixel sees the image's first row and column, unlike PyTorch's padding=1."""
    from engine.models.mobilenetv2 import TFSameConv2d
    conv = TFSameConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.zeros_(conv.weight)
    conv.weight.data[0, 0, 0, 0] = 1.0  # output = the top-left pixel of each 3x3 window
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = conv(x)
    assert y.shape == (1, 1, 2, 2)
    assert y[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]  # no padding row/column before
    assert conv(torch.zeros(1, 1, 5, 5)).shape == (1, 1, 3, 3)  # odd side: 1 and 1


@needs_tflite
def test_wrong_damaged_and_truncated_files_are_refused_clearly(tmp_path, photos, capsys):
    from engine.models.tflite_import import TFLiteImportError, read_tflite
    data = INT8.read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TFLiteImportError, match="truncated"):
        read_tflite(cut)
    jpeg = tmp_path / "photo.tflite"
    jpeg.write_bytes(Path(photos[-1]).read_bytes())
    with pytest.raises(TFLiteImportError, match="not a TFLite model"):
        read_tflite(jpeg)
    damaged = tmp_path / INT8.name  # the known name with one weight byte changed
    buf = bytearray(data)
    buf[len(buf) // 2] ^= 0xFF
    damaged.write_bytes(bytes(buf))
    with pytest.raises(TFLiteImportError, match="sha256"):
        read_tflite(damaged)
    other = PRETRAINED / "pose" / "movenet_singlepose_lightning_int8_4.tflite"
    if other.is_file():  # a real .tflite of another network: refused, naming the first misfit
        from engine.models.imagenet import load_classifier
        with pytest.raises(TFLiteImportError, match="operator|convolution|MobileNetV2"):
            load_classifier(other)
    rc, _, err = in_process(capsys, "classify", "--tflite", cut, photos[0])
    assert rc == 2 and "truncated" in err
    rc, _, err = in_process(capsys, "export", "--tflite", cut, "--out", tmp_path / "x.safetensors")
    assert rc == 2 and "truncated" in err and not list(tmp_path.glob("*x.safetensors*"))
    assert cut.read_bytes() == data[: len(data) // 2]  # inputs untouched


# ------------------------------------------------------------------ --pretrained in models and training

def _torchvision_key(ours: str) -> str:
    """ResNetStages key -> torchvision ResNet18 key (stem.0 = conv1, stem.1 = bn1, layers.i = layer{i+1})."""
    import re
    ours = ours.replace("stem.0.", "conv1.", 1) if ours.startswith("stem.0.") else ours
    ours = ours.replace("stem.1.", "bn1.", 1) if ours.startswith("stem.1.") else ours
    return re.sub(r"^layers\.(\d)\.", lambda m: f"layer{int(m.group(1)) + 1}.", ours)


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory) -> tuple[Path, dict]:
    """A ResNet18 state dict as torchvision's constructor makes it (random: no download here),
    saved as torchvision's ImageNet file would be."""
    import torchvision
    torch.manual_seed(123)
    state = torchvision.models.resnet18().state_dict()
    path = tmp_path_factory.mktemp("r18") / "resnet18-imagenet.pth"
    torch.save(state, path)
    return path, state


def test_resnet18_state_dict_loads_every_backbone_tensor_strictly(resnet_file, tmp_path):
    from engine.models import build_model
    from engine.models.pretrained import PretrainedError
    path, state = resnet_file
    for name, unused in (("resnet18", ["fc"]), ("resnet18_fpn", ["fc"]), ("attention", ["fc", "layer3", "layer4"])):
        model = build_model(name, pretrained=str(path))
        own = model.backbone.state_dict()
        for key, value in own.items():
            assert torch.equal(value, state[_torchvision_key(key)]), (name, key)
        rec = model.init_record
        assert rec["tensors_loaded"] == len(own) and rec["unused"] == unused and rec["batchnorm"] == "train"
    # a mismatch names the tensors, and nothing is loaded
    bad = dict(state)
    del bad["layer4.1.bn2.running_var"]
    bad["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    bad["head.weight"] = torch.zeros(3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(PretrainedError) as err:
        build_model("resnet18", pretrained=str(tmp_path / "bad.pth"))
    for key in ("layer4.1.bn2.running_var", "layer1.0.conv1.weight", "head.weight"):
        assert key in str(err.value)
    (tmp_path / "cut.pth").write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(PretrainedError, match="not a readable state dict"):
        build_model("resnet18", pretrained=str(tmp_path / "cut.pth"))
    with pytest.raises(PretrainedError, match="ResNet18 state dict"):
        build_model("resnet18", pretrained=str(INT8))
    with pytest.raises(PretrainedError, match="no pretrained backbone"):
        build_model("dilated", pretrained=str(path))


def _train_args(out, coco_ann, coco_images, model, *extra):
    return ["--model", model, "--train-ann", str(coco_ann), "--train-images", str(coco_images),
            "--epochs", "1", "--out", str(out), "--subset", "3", "--input-size", "64x64",
            "--batch-size", "4", "--threads", "2", *extra]


def test_a_training_run_starts_from_the_resnet18_file(resnet_file, coco_ann, coco_images, tmp_path, capsys):
    from engine.models.weights import load_model, read_sidecar
    from engine.training.train import main
    path, state = resnet_file
    out = tmp_path / "run"
    assert main(_train_args(out, coco_ann, coco_images, "resnet18", "--pretrained", str(path))) == 0
    init = read_sidecar(out / "model.safetensors")["init"]
    import hashlib
    assert init["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert init["tensors_loaded"] == 120 and init["backbone_lr_factor"] == 0.1 and init["source"] == str(path)
    model, _ = load_model(out / "model.safetensors")
    for ours, theirs in (("stem.0.weight", "conv1.weight"), ("layers.3.1.conv2.weight", "layer4.1.conv2.weight")):
        a, b = model.backbone.state_dict()[ours].flatten(), state[theirs].flatten()
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.99, ours  # trained a little, from the file


def test_imagenet_without_cache_or_network_exits_2_with_a_clear_message(coco_ann, coco_images, tmp_path,
                                                                        monkeypatch, capsys):
    from engine.training.train import main
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty cache
    rc = main(_train_args(tmp_path / "run", coco_ann, coco_images, "resnet18", "--pretrained", "imagenet"))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "resnet18-f37072fd.pth" in err and "cannot be downloaded" in err and "--pretrained PATH" in err
    assert not (tmp_path / "run" / "model.safetensors").exists()


@needs_tflite
def test_mobilenetv2_backbone_from_tflite_or_export_with_frozen_batchnorm(tmp_path, capsys, coco_ann, coco_images):
    from engine.models import build_model
    from engine.models.imagenet import export, load_classifier
    from engine.models.pretrained import PretrainedError
    from engine.models.weights import read_sidecar
    from engine.training.train import main
    model = build_model("mobilenetv2", pretrained=str(INT8))
    net, _ = load_classifier(INT8)
    want = net.features.state_dict()
    got = model.backbone.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert model.init_record["checksum_checked"] and model.init_record["batchnorm"] == "frozen"
    exported = export(INT8, tmp_path / "mnv2.safetensors")
    again = build_model("mobilenetv2", pretrained=str(exported)).backbone.state_dict()
    assert all(torch.equal(again[k], want[k]) for k in want)
    # the folded BatchNorms keep their identity statistics in training; the decoder's train
    model.train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    frozen = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(frozen) == 52 and not any(m.training for m in frozen)
    assert all(m.training for m in bns if not any(m is f for f in frozen))
    model(torch.randn(2, 3, 64, 64)).mean().backward()
    assert all(torch.equal(m.running_mean, torch.zeros_like(m.running_mean)) for m in frozen)
    with pytest.raises(PretrainedError, match="folded"):
        build_model("mobilenetv2", pretrained=str(INT8), backbone_bn="train")
    # a run starts from it and records it
    out = tmp_path / "run"
    assert main(_train_args(out, coco_ann, coco_images, "mobilenetv2", "--pretrained", str(exported))) == 0
    init = read_sidecar(out / "model.safetensors")["init"]
    assert init["from_tflite_sha256"] == model.init_record["sha256"] and init["batchnorm"] == "frozen"
