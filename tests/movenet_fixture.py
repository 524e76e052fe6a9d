"""The MoveNet parity fixture: real person crops and what the ORIGINAL TensorFlow.js graphs
give on them (``tests/fixtures/movenet/cases.json``, made by
``python scripts/movenet_reference.py fixture``; see docs/movenet.md).

    for case, crop, skip in load_cases("thunder"):    # or "lightning"
        if skip: ...                                  # pytest.skip(skip) / pytest.param(marks=...)
        expected = np.array(case["thunder"]["output"])  # (17, 3): y, x, score; y, x in [0, 1]

The fixture stores no pixels: each case names its image (``source``: a repo-relative path for
the committed demo bundle, or ``coco-mini:<file_name>`` for ../shared/data/coco-mini/train2017),
the person box, and per model the SHA-256 of the crop's RGB bytes. ``load_cases`` rebuilds each
crop with ``engine.geometry.Crop.from_box(box_xywh, (S, S), padding).warp(image)`` and checks its
SHA-256 (ValueError on a mismatch: the crop is no longer the one the graph saw). Crops of
../shared/data are skipped, with the reason, where that folder is absent.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "movenet" / "cases.json"
SHARED_DATA = Path(os.environ.get("SQUATPOSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
COCO_MINI_IMAGES = SHARED_DATA / "coco-mini" / "train2017"
#: model -> input side in pixels
SIZES = {"thunder": 256, "lightning": 192}


def source_path(source: str) -> Path:
    """A case's ``source`` -> the image file."""
    if source.startswith("coco-mini:"):
        return COCO_MINI_IMAGES / source.split(":", 1)[1]
    return ROOT / source


def make_crop(case: dict, size: int) -> np.ndarray:
    """The case's crop, (size, size, 3) RGB uint8, from its image (FileNotFoundError if absent)."""
    from engine.data.dataset import read_image
    from engine.geometry import Crop
    crop = Crop.from_box(case["box_xywh"], (size, size), padding=case["padding"])
    return crop.warp(read_image(source_path(case["source"])))


def rgb_sha256(crop: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(crop, dtype=np.uint8).tobytes()).hexdigest()


def load_cases(model: str, path: Path = FIXTURE) -> list[tuple[dict, np.ndarray | None, str | None]]:
    """[(case, crop, None)] per case for ``model`` ("thunder" or "lightning"), the crop
    (S, S, 3) uint8 rebuilt and SHA-checked; (case, None, reason) where its image is absent."""
    size = SIZES[model]
    out = []
    for case in json.loads(Path(path).read_text())["cases"]:
        image = source_path(case["source"])
        if not image.is_file():
            out.append((case, None, f"{case['id']}: image {image} not found (../shared/data absent?)"))
            continue
        crop = make_crop(case, size)
        want = case[model]["rgb_sha256"]
        if rgb_sha256(crop) != want:
            raise ValueError(f"{case['id']}: the rebuilt {size}x{size} crop of {case['source']} has "
                             f"sha256 {rgb_sha256(crop)}, the fixture {want} (image decoding or the "
                             "crop geometry changed; regenerate: docs/movenet.md)")
        out.append((case, crop, None))
    return out
