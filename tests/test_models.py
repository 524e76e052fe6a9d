"""The model registry: every model's output shape and stride, sizes, FLOPs, gradients,
input normalisation and inference-time BatchNorm folding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.joints import FLIP_INDEX, NUM_JOINTS
from engine.models import (MEAN, MODEL_INFO, STD, build_model, count_flops, count_parameters,
                           list_models, preprocess)
from engine.models.attention import sine_position_encoding
from engine.models.common import fuse_conv_bn, predict_heatmaps

torch.set_num_threads(1)


def test_registry_lists_the_study_models_with_descriptions():
    assert list_models() == ["resnet18", "resnet18_fpn", "dilated", "attention", "mobilenetv2",
                             "movenet_thunder", "movenet_lightning", "movenet_thunder_ft", "movenet_lightning_ft"]
    assert set(MODEL_INFO) == set(list_models())
    assert all(isinstance(v, str) and v for v in MODEL_INFO.values())
    with pytest.raises(ValueError, match="resnet18"):
        build_model("resnet50")


@pytest.mark.parametrize("name", list_models())
def test_model_maps_images_to_stride_4_heatmaps_for_two_sizes(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    assert model.stride == 4
    with torch.inference_mode():
        for h, w in [(128, 96), (256, 192)]:
            out = model(torch.randn(2, 3, h, w))
            assert out.shape == (2, NUM_JOINTS, h // 4, w // 4)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_num_joints_is_a_constructor_option(name):
    if name.startswith("movenet"):  # its heads are trained on COCO's 17 keypoints: six of them are ours
        with pytest.raises(ValueError, match="num_joints must be 6"):
            build_model(name, num_joints=3)
        return
    with torch.inference_mode():
        assert build_model(name, num_joints=3).eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 16, 16)


def test_parameter_counts_and_flops():
    params = {n: count_parameters(build_model(n)) for n in list_models()}
    print("parameters:", params)
    assert params["dilated"] < 1.5e6
    assert 14e6 < params["resnet18"] < 17e6  # SimpleBaseline-ResNet18 is about 15 M
    assert params["attention"] < params["resnet18_fpn"] < params["resnet18"]
    assert 9e6 < params["mobilenetv2"] < 10e6  # 2.2 M backbone + 1280->256 deconvolutions
    # MoveNet: the graph's 6,238,414 / 2,324,966 weights + the identity BatchNorms' scales
    assert 6.2e6 < params["movenet_thunder"] < 6.3e6 and 2.3e6 < params["movenet_lightning"] < 2.4e6
    # the fine-tuned ones are the same networks under their own names
    assert params["movenet_thunder_ft"] == params["movenet_thunder"]
    assert params["movenet_lightning_ft"] == params["movenet_lightning"]
    small, big = (count_flops(build_model("dilated"), s) for s in [(96, 128), (192, 256)])
    assert 0 < small and big == pytest.approx(4 * small, rel=0.05)  # convs scale with pixels
    # attention FLOPs are counted (quadratic in tokens, so more than 4x)
    a_small, a_big = (count_flops(build_model("attention"), s) for s in [(96, 128), (192, 256)])
    assert a_big > 4 * a_small > 0


@pytest.mark.parametrize("name", list_models())
def test_gradients_reach_the_first_layer(name):
    torch.manual_seed(0)
    model = build_model(name).train()
    out = model(torch.randn(2, 3, 64, 64))
    out.square().mean().backward()
    first = next(p for p in model.parameters() if p.ndim == 4)
    assert first.grad is not None and first.grad.abs().sum() > 0
    aux = getattr(model, "AUXILIARY", ())  # heads outside the heatmap path (MoveNet's decoding)
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith(aux))


@pytest.mark.parametrize("name", list_models())
def test_folding_batchnorm_keeps_the_output(name):
    torch.manual_seed(0)
    model = build_model(name)
    for m in model.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        before = model(x)
        fuse_conv_bn(model)
        after = model(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4 * before.abs().max().item())
    with pytest.raises(ValueError):
        fuse_conv_bn(build_model(name).train())


@pytest.mark.parametrize("name", ["dilated", "mobilenetv2"])
def test_flip_test_is_mirror_symmetric_and_averages_the_two_passes(name):
    """The flip test answers a mirrored crop with its answer to the crop, mirrored back with
    left and right exchanged (a model alone does not), and is the mean of the two passes."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(2, 3, 64, 96)
    mirror = torch.flip(x, dims=[3])
    back = list(FLIP_INDEX)
    with torch.inference_mode():
        plain, plain_m = model(x), model(mirror)
        hm, hm_m = predict_heatmaps(model, x, True), predict_heatmaps(model, mirror, True)
        torch.testing.assert_close(predict_heatmaps(model, x), plain)
    tol = 1e-4 * plain.abs().max().item()  # an untrained head's outputs are small
    torch.testing.assert_close(torch.flip(hm_m, dims=[3])[:, back], hm, rtol=1e-4, atol=tol)
    assert (torch.flip(plain_m, dims=[3])[:, back] - plain).abs().max() > 100 * tol
    torch.testing.assert_close(hm, 0.5 * (plain + torch.flip(plain_m, dims=[3])[:, back]), rtol=1e-4, atol=tol)


def test_preprocess_normalises_rgb_uint8_crops():
    crops = np.zeros((2, 8, 6, 3), np.uint8)
    crops[..., 0] = 255
    x = preprocess(crops)
    assert x.shape == (2, 3, 8, 6) and x.dtype == torch.float32
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - MEAN[0]) / STD[0])
    assert x[1, 2, 7, 5].item() == pytest.approx(-MEAN[2] / STD[2])
    assert preprocess(torch.from_numpy(crops[0])).shape == (1, 3, 8, 6)  # one crop, torch
    with pytest.raises(ValueError, match="RGB"):
        preprocess(np.zeros((2, 3, 8, 6), np.uint8))  # channels first is a mistake


def test_sine_position_encoding_any_grid():
    pe = sine_position_encoding(4, 3, 16)
    assert pe.shape == (12, 16)
    assert torch.unique(pe, dim=0).shape[0] == 12  # every position distinct
    with pytest.raises(ValueError):
        sine_position_encoding(4, 3, 10)
