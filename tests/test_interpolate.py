"""WiSE-FT weight-space ensembles (engine.models.weights.interpolate, python -m engine.interpolate)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.models import build_model
from engine.models import weights as weightslib

ROOT = Path(__file__).resolve().parents[1]


def _two(tmp_path, name="dilated"):
    torch.manual_seed(0)
    a = weightslib.save(build_model(name), tmp_path / "a.safetensors", {"model": name, "input_size": [96, 128]})
    torch.manual_seed(1)
    b = weightslib.save(build_model(name), tmp_path / "b.safetensors",
                        {"model": name, "input_size": [96, 128], "metrics": {"val_pck@0.05": 0.9}, "epochs": 3})
    return a, b


def test_interpolate_mixes_every_float_tensor_and_records_both_files(tmp_path):
    a, b = _two(tmp_path)
    sa = weightslib.load_model(a)[0].state_dict()
    sb = weightslib.load_model(b)[0].state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if sa[k].is_floating_point())
    for alpha in (0.0, 0.3, 1.0):
        model, meta = weightslib.interpolate(a, b, alpha)
        s = model.state_dict()
        for k, v in s.items():
            if v.is_floating_point():
                torch.testing.assert_close(v, (1 - alpha) * sa[k] + alpha * sb[k], rtol=1e-6, atol=1e-6)
            else:
                assert torch.equal(v, sb[k])
        assert meta["interpolated"]["alpha"] == alpha
        assert meta["interpolated"]["start"]["file"] == "a.safetensors"
        assert len(meta["interpolated"]["end"]["sha256"]) == 64
        assert "metrics" not in meta and meta["epochs"] == 3  # the end's record, not its figures


def test_interpolate_refuses_two_different_models_and_a_bad_alpha(tmp_path):
    a, _ = _two(tmp_path)
    c = weightslib.save(build_model("resnet18_fpn"), tmp_path / "c.safetensors",
                        {"model": "resnet18_fpn", "input_size": [96, 128]})
    with pytest.raises(weightslib.WeightsError, match="only weights of one model"):
        weightslib.interpolate(a, c, 0.5)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        weightslib.interpolate(a, a, 1.5)


def test_cli_writes_a_loadable_file_and_never_overwrites_an_input(tmp_path):
    a, b = _two(tmp_path)
    before = b.read_bytes()
    cmd = [sys.executable, "-m", "engine.interpolate", str(a), str(b), "--alpha", "0.5"]
    bad = subprocess.run(cmd + ["--out", str(b)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "must not be one of the inputs" in bad.stderr
    assert b.read_bytes() == before
    out = tmp_path / "mix.safetensors"
    ok = subprocess.run(cmd + ["--out", str(out), "--half"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["dtype"] == "float16" and side["interpolated"]["alpha"] == 0.5
    model, meta = weightslib.load_model(out)
    assert meta["model"] == "dilated"
    missing = subprocess.run([sys.executable, "-m", "engine.interpolate", str(tmp_path / "none.safetensors"),
                              str(b), "--alpha", "0.5", "--out", str(tmp_path / "x.safetensors")],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "weights file not found" in missing.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_a_movenet_mix_is_written_as_the_fine_tuned_name_with_the_imports_record(tmp_path):
    """The shipped Lightning import and a changed copy of it (a stand-in for its fine-tuned
    self, as engine.train writes one: decoded by the codec) mixed as ``movenet_lightning_ft``:
    the import's provenance and confidence scale are kept, the decoding is the end's."""
    start = weightslib.WEIGHTS_DIR / "movenet_lightning.safetensors"
    model, meta = weightslib.load_model(start)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.graph_decode.fill_(0)
    end = weightslib.save(model, tmp_path / "ft.safetensors",
                          {"model": "movenet_lightning", "input_size": meta["input_size"],
                           "init": {"decode": "codec (arg-max + DARK on the six heatmaps)"}})
    out = tmp_path / "movenet_lightning_ft.safetensors"
    done = subprocess.run([sys.executable, "-m", "engine.interpolate", str(start), str(end), "--alpha", "0.25",
                           "--out", str(out), "--half", "--as", "movenet_lightning_ft"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mixed, side = weightslib.load_model(out)
    assert side["model"] == "movenet_lightning_ft" and type(mixed).__name__ == "MoveNetPose"
    assert side["imported"] == meta["imported"] and side["confidence_scale"] == meta["confidence_scale"]
    assert side["decode"].startswith("codec") and int(mixed.graph_decode) == 0
    bad = subprocess.run([sys.executable, "-m", "engine.interpolate", str(start), str(end), "--alpha", "0.25",
                          "--out", str(tmp_path / "x.safetensors"), "--as", "movenet_thunder_ft"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "do not fit model 'movenet_thunder_ft'" in bad.stderr
