"""Issue 30 (hardening, second round) without the app: images refused from their header
(item 4), numbers at the schema boundary (5), audit files (6), the review history (7), CLI
errors (10), keypoint input limits (11) and the LSP converter (12)."""
from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "assets" / "demo" / "coco"
ANN = BUNDLE / "annotations" / "person_keypoints_demo.json"


def bomb_png(path: Path, w: int = 60000, h: int = 60000) -> Path:
    """A valid 8x8 PNG whose header (IHDR, CRC fixed) claims ``w`` x ``h``: 200 bytes on disk."""
    import cv2
    b = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    b[16:24] = struct.pack(">II", w, h)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    path.write_bytes(bytes(b))
    return path


def truncated_jpeg(path: Path) -> Path:
    """The first half of one of the bundle's frames."""
    b = next(iter(sorted((BUNDLE / "images").glob("*.jpg")))).read_bytes()
    path.write_bytes(b[: len(b) // 2])
    return path


def bundle_copy(tmp_path: Path) -> tuple[Path, Path, dict]:
    """The demo bundle's COCO file and images, copied (to be altered)."""
    images = tmp_path / "images"
    shutil.copytree(BUNDLE / "images", images)
    ann = tmp_path / "ann.json"
    shutil.copy(ANN, ann)
    return ann, images, json.loads(ANN.read_text())


# -- item 4: images refused from their header -------------------------------------------------
def test_item4_a_png_claiming_60000x60000_is_refused_from_its_header(tmp_path):
    from engine.images import ImageProblem, read_rgb
    with pytest.raises(ImageProblem, match="bomb.png: the image claims more than 50 million pixels"):
        read_rgb(bomb_png(tmp_path / "bomb.png"))
    with pytest.raises(ImageProblem, match="big.png: the image is 9000x9000 pixels, over the 50 million"):
        read_rgb(bomb_png(tmp_path / "big.png", 9000, 9000))


def test_item4_the_review_gallery_refuses_that_one_image_and_shows_the_rest(tmp_path):
    from review import curation
    from review.store import ReviewStore
    ann, images, data = bundle_copy(tmp_path)
    victim = data["images"][0]["file_name"]
    bomb_png(images / victim)  # one frame of the bundle now claims 60000x60000
    store = ReviewStore(tmp_path / "r.sqlite")
    ds = curation.open_dataset(ann, images, store)
    items = curation.gallery_items(ds, ds.people, store)
    assert len(items) == len(ds.people)
    on_victim = [p.ann_id for p in ds.people if p.file_name == victim]
    refused = [cap for _, cap in items if "image not shown" in cap]
    assert len(refused) == len(on_victim) >= 1, refused
    assert "claims more than 50 million pixels" in refused[0]
    assert all(img.shape[0] > 8 for img, _ in items)  # the others are real crops
