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


def test_item5_the_review_tab_refuses_the_one_bad_record_and_keeps_the_rest(tmp_path):
    """The same values in the Review tab: those records are set aside, each named with its
    id, and every other person is loaded and can be decided (the CLIs stay strict, above)."""
    from review import curation
    from review.store import ReviewStore
    ann, images, data = bundle_copy(tmp_path)
    anns = data["annotations"]
    anns[0]["keypoints"][3 * 13] = 1e308
    anns[1]["id"] = 2**64 + 5
    ann.write_text(json.dumps(data))
    store = ReviewStore(tmp_path / "r.sqlite")
    ds = curation.open_dataset(ann, images, store)
    assert len(ds.people) == len(anns) - 2
    assert any(f"annotation {anns[0]['id']}: keypoint 13 has x, y = 1e+308" in m for m in ds.set_aside), ds.set_aside
    assert any("18446744073709551621 (out of range" in m for m in ds.set_aside), ds.set_aside
    assert curation.summary(ds, store)["set_aside"] == ds.set_aside
    assert curation.decide(ann, anns[2]["id"], "accept", store=store)["decision"] == "accept"
    with pytest.raises(ValueError, match="no person annotation with id"):
        curation.decide(ann, anns[0]["id"], "accept", store=store)


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


# -- item 10: every CLI answers a bad input with one line and exit code 2 ------------------------
def malformed_mats(folder: Path) -> dict[str, tuple[Path, str]]:
    """Penn-Action-like .mat files that scipy reads but that are not joint arrays."""
    import scipy.io
    cell = folder / "cell.mat"
    scipy.io.savemat(cell, {"x": np.array([["a", "b"]], dtype=object), "y": np.zeros((2, 13))})
    garbage = folder / "garbage.mat"
    garbage.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 2)
    return {"cell": (cell, "x, y and visibility must be arrays of numbers"),
            "garbage": (garbage, "cannot read it as a MATLAB file (damaged, or not a Penn Action label file)")}


def test_item10_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    from engine.argtypes import run_cli
    from engine.video.detect import main as detect_main
    from engine.video.pipeline import main as analyze_main
    for name, (path, needle) in malformed_mats(tmp_path).items():
        assert run_cli(analyze_main, ["--keypoints", str(path), "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err and "Traceback" not in err, err
    assert run_cli(detect_main, [str(bomb_png(tmp_path / "bomb.png"))]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: bomb.png: the image claims more than 50 million pixels, too large to open", err

    def broken(argv=None):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")  # an internal slip
    assert run_cli(broken, []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "operand" not in err and "\n" not in err, err


def test_item10_flags_with_an_id_past_int64_in_a_real_process(tmp_path):
    import subprocess
    import sys
    data = json.loads(ANN.read_text())
    data["annotations"][0]["id"] = 2**64 + 5
    path = tmp_path / "big-id.json"
    path.write_text(json.dumps(data))
    r = subprocess.run([sys.executable, "-m", "engine.flags", str(path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "out of range: ids run from 0 to 2**63 - 1" in r.stderr


# -- item 11: joint files within limits; a truncated image is damaged ---------------------------
def test_item11_joint_files_past_the_frame_or_size_limit_are_refused_quickly(tmp_path, monkeypatch):
    import time

    import scipy.io
    from engine.analysis.readers import KeypointsError, read_keypoints
    long_mat = tmp_path / "long.mat"  # 303,000 frames, 60 KB compressed
    scipy.io.savemat(long_mat, {"x": np.zeros((303_000, 13)), "y": np.zeros((303_000, 13))}, do_compression=True)
    t0 = time.perf_counter()
    with pytest.raises(KeypointsError, match="long.mat: 303000 frames, over the 3600-frame limit"):
        read_keypoints(long_mat)
    assert time.perf_counter() - t0 < 5  # from the header, not after unpacking 60 MB
    monkeypatch.setenv("SQUATPOSE_MAX_FRAMES", "100")
    rows = ["frame,joint,x,y"] + [f"{f},{j},{10 + f},{20 + k}" for f in range(150)
                                  for k, j in enumerate(("left_hip", "left_knee"))]
    csv_path = tmp_path / "long.csv"
    csv_path.write_text("\n".join(rows))
    with pytest.raises(KeypointsError, match="long.csv: more than 100 frames, over the 100-frame limit"):
        read_keypoints(csv_path)
    monkeypatch.setenv("SQUATPOSE_MAX_FRAMES", "3600")
    monkeypatch.setenv("SQUATPOSE_MAX_KEYPOINTS_MB", str(1000 / 2**20))  # 1000 bytes
    with pytest.raises(KeypointsError, match=r"long.csv: [\d,]+ bytes, over the 1,000-byte limit for a joint file"):
        read_keypoints(csv_path)


def test_item11_a_truncated_jpeg_is_called_damaged_not_zero_people(tmp_path, capsys):
    from engine.argtypes import run_cli
    from engine.video.detect import main as detect_main
    assert run_cli(detect_main, [str(truncated_jpeg(tmp_path / "half.jpg"))]) == 2
    err = capsys.readouterr()
    assert "half.jpg: the image is damaged" in err.err and "0 people" not in err.out, err


# -- item 12: LSP joints outside the image are not labelled --------------------------------------
def test_item12_an_lsp_joint_outside_the_image_is_written_unlabelled(tmp_path):
    """im08075 of LSP Extended: its right knee is flagged visible at x = 386 in a 241-pixel-wide
    image; converted, it is (0, 0, 0) as COCO wants, and the box is made of the joints inside."""
    import scipy.io
    from PIL import Image

    from engine.data.lsp import LSP_JOINTS, convert
    from engine.joints import COCO_KEYPOINT_NAMES
    from tests.conftest import SHARED_DATA, _need
    lsp = _need(SHARED_DATA / "lsp-extended")
    raw = scipy.io.loadmat(str(lsp / "joints.mat"))["joints"]  # 14 x 3 x N
    picks = [8075, 1]  # the record with the joint outside, and one without
    d = tmp_path / "lsp"
    (d / "images").mkdir(parents=True)
    for k, n in enumerate(picks, 1):
        shutil.copy(lsp / "images" / f"im{n:05d}.jpg", d / "images" / f"im{k:05d}.jpg")
    scipy.io.savemat(d / "joints.mat", {"joints": raw[:, :, [n - 1 for n in picks]]})
    knee = LSP_JOINTS.index("right_knee")
    x, y, vis = raw[knee, :, 8074]
    with Image.open(lsp / "images" / "im08075.jpg") as im:
        width = im.size[0]
    assert vis == 1 and x > width  # the real record: flagged visible, outside the image
    convert(d, tmp_path / "out.json")
    a = json.loads((tmp_path / "out.json").read_text())["annotations"][0]
    ci = COCO_KEYPOINT_NAMES.index("right_knee")
    assert a["keypoints"][3 * ci: 3 * ci + 3] == [0, 0, 0]
    assert a["num_keypoints"] == int((raw[:12, 2, 8074] > 0).sum()) - 1
    assert a["bbox"][0] + a["bbox"][2] <= width
