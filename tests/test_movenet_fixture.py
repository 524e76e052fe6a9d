"""The MoveNet parity fixture rebuilds: every crop it names comes back byte for byte (its SHA-256),
and its outputs have the graph's shape and range. (The PyTorch port is compared with it elsewhere.)"""
from __future__ import annotations

import numpy as np
import pytest

from tests.movenet_fixture import SIZES, load_cases


@pytest.mark.parametrize("model", sorted(SIZES))
def test_fixture_crops_rebuild_and_outputs_are_well_formed(model):
    cases = load_cases(model)  # ValueError on any crop whose SHA-256 differs
    demo = [(c, crop) for c, crop, skip in cases if c["source"].startswith("assets/")]
    assert len(demo) >= 6, "the demo bundle's people are always there"
    for case, crop, skip in cases:
        out = np.asarray(case[model]["output"])
        assert out.shape == (17, 3)
        assert np.isfinite(out).all()
        assert np.all((out[:, 2] >= 0) & (out[:, 2] <= 1))  # scores; y, x may leave [0, 1] a little
        if skip is None:
            assert crop.shape == (SIZES[model], SIZES[model], 3) and crop.dtype == np.uint8
    if any(skip for _, _, skip in cases):
        pytest.skip(next(skip for _, _, skip in cases if skip))


def test_a_changed_crop_is_refused(tmp_path):
    import json

    from tests.movenet_fixture import FIXTURE
    doc = json.loads(FIXTURE.read_text())
    doc["cases"] = doc["cases"][:1]
    doc["cases"][0]["box_xywh"][0] += 1.0  # another crop than the graph saw
    bad = tmp_path / "cases.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="sha256"):
        load_cases("thunder", bad)
