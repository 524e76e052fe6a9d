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


# -- item 5: numbers out of range, refused at the schema boundary with the record's id ----------
def test_item5_out_of_range_ids_and_coordinates_are_refused_naming_the_record(tmp_path):
    from engine.data.coco import CocoFormatError, read_json
    data = json.loads(ANN.read_text())
    anns = data["annotations"]
    anns[0]["keypoints"][3 * 13] = 1e308                # a keypoint of 1e308
    anns[1]["id"] = 2**64 + 5                           # past SQLite's int64
    anns[2]["bbox"][0] = -1e12                          # a box far outside the image
    anns[3]["id"] = True                                # true is not an id
    path = tmp_path / "ranges.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CocoFormatError) as err:
        read_json(path)
    msg = str(err.value)
    assert "4 problems" in msg, msg
    assert f"annotation {anns[0]['id']}: keypoint 13 has x, y = 1e+308" in msg and "far outside" in msg, msg
    assert "has id 18446744073709551621 (out of range: ids run from 0 to 2**63 - 1)" in msg, msg
    assert f"annotation {anns[2]['id']} has bbox" in msg, msg
    assert "has id True (a whole number needed)" in msg, msg


def test_item5_decisions_refuse_ids_and_visibility_that_would_be_coerced(tmp_path):
    from review import curation
    from review.store import ReviewStore, validate_fixes
    store = ReviewStore(tmp_path / "r.sqlite")
    aid = json.loads(ANN.read_text())["annotations"][0]["id"]
    for bad in (True, 2**64 + 5, 1.5, "1e3", -1):
        with pytest.raises(ValueError, match="annotation id must be a whole number from 0 to 2"):
            curation.decide(ANN, bad, "accept", store=store)
    assert curation.decide(ANN, str(aid), "accept", store=store)["decision"] == "accept"
    for v in (1.5, True, "2"):
        with pytest.raises(ValueError, match="fix for left_knee"):
            validate_fixes({"left_knee": [10, 10, v]})
    assert validate_fixes({"left_knee": [10, 10, 2]}) == {"left_knee": (10.0, 10.0, 2)}


# -- item 6: audit files checked strictly ------------------------------------------------------
def good_audit() -> dict:
    return {"flags": ["far_joint"], "far_joints": ["left_knee"], "missed_joints": [], "swap_gain": 0.1,
            "teacher_keypoints": [100.0, 100.0, 2] * 17, "teacher_scores": [0.9] * 17}


@pytest.mark.parametrize("change, needle", [
    ({"extra": 1}, "unknown field(s) 'extra'"),
    ({"swap_gain": "0.1"}, "'swap_gain' must be a finite number"),
    ({"swap_gain": 1e308}, "'swap_gain' must be a finite number from"),
    ({"teacher_keypoints": [1e308, 100.0, 2] * 17}, "lie far outside the 640x480 image"),
    ({"teacher_keypoints": [100.0, 100.0, 1.5] * 17}, "flags must be exactly 0, 1 or 2"),
    ({"teacher_scores": [1.5] * 17}, "'teacher_scores' must lie between 0 and 1"),
    ({"far_joints": ["left_knee", "left_knee"]}, "'far_joints' must list joint names (each once)"),
    ({"flags": ["far_joint", 3]}, "unknown audit flag"),
    ({"review_fix": {"note": 5}}, "'review_fix' must be an object"),
    ({"fixed": [{"kind": "swapped"}]}, "'fixed' must be a list"),
])
def test_item6_an_audit_with_unknown_fields_wrong_types_or_ranges_is_refused_in_words(change, needle):
    from engine.data.coco import CocoFormatError
    from review.audits import parse_audit
    assert parse_audit(good_audit(), "a.json: annotation 7", (640, 480)).flagged
    with pytest.raises(CocoFormatError) as err:
        parse_audit({**good_audit(), **change}, "a.json: annotation 7", (640, 480))
    assert str(err.value).startswith("a.json: annotation 7: ") and needle in str(err.value), str(err.value)
    with pytest.raises(CocoFormatError, match="unknown field"):
        parse_audit({"flags": ["skipped"], "reason": "x", "teacher_scores": []}, "a.json: annotation 7")


# -- item 7: the review history and the write-ahead log are bounded, and counted ----------------
def test_item7_history_is_pruned_past_its_limit_and_every_decision_kept(tmp_path, monkeypatch):
    import sqlite3
    from review.store import ReviewStore
    monkeypatch.setenv("SQUATPOSE_REVIEW_HISTORY", "50")
    store = ReviewStore(tmp_path / "r.sqlite")
    sha = "f" * 64
    for k in range(400):  # 40 people, each decided ten times
        store.decide(sha, k % 40, ("accept", "reject")[k // 40 % 2], note=f"round {k // 40}")
    rows = sqlite3.connect(tmp_path / "r.sqlite").execute("SELECT COUNT(*) FROM history").fetchone()[0]
    assert rows == 50, rows  # was one row per change: 400
    assert len(store.all(sha)) == 40 and store.get(sha, 39).note == "round 9"
    assert store.undo(sha) == 39 and store.get(sha, 39).note == "round 8"  # recent undo still works


def test_item7_the_wal_shrinks_back_after_a_reader_held_it_and_the_database_counts_in_the_quota(
        tmp_path, monkeypatch):
    import sqlite3
    from engine import storage
    from review.store import WAL_LIMIT_BYTES, ReviewStore
    monkeypatch.setenv("SQUATPOSE_DATA_DIR", str(tmp_path))
    store = ReviewStore(tmp_path / "review.sqlite")
    reader = sqlite3.connect(tmp_path / "review.sqlite")
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM decisions").fetchone()  # holds a snapshot: the WAL grows
    for k in range(600):
        store.decide("e" * 64, k, "accept", note="w" * 1900)
    wal = tmp_path / "review.sqlite-wal"
    assert wal.stat().st_size > WAL_LIMIT_BYTES
    reader.rollback()
    reader.close()
    for k in range(400):  # the next checkpoint (every 200 writes) truncates it
        store.decide("e" * 64, k, "reject")
    assert wal.stat().st_size <= WAL_LIMIT_BYTES, wal.stat().st_size
    used = storage.usage()
    assert used >= (tmp_path / "review.sqlite").stat().st_size > 0
    storage.clean(extra_bytes=10 * 2**30)  # far over the quota: the decisions are never removed
    assert (tmp_path / "review.sqlite").is_file() and len(store.all("e" * 64)) == 600
