"""The Review tab's side of the label audit, without a browser: an audited COCO file's findings
read and filtered, the left/right swap fix stored (undoable, in real SQLite, also in a
database made before the swap existed), drawn, and written by the curated export (all 17
COCO keypoints swapped, the fix recorded in the audit, the input untouched).

The people are real LSP people (``../shared/data/lsp-extended``); here their ``audit`` is
written by the test (the teacher's joints = the labels as the crowd-workers left them), so
these tests need no MediaPipe. ``test_review_audit_browser.py`` runs the real audit."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine.data.coco import CocoFormatError, swap_left_right
from engine.joints import COCO_INDICES, COCO_KEYPOINT_NAMES, FLIP_INDEX
from review import audits, curation, drawing
from review.store import ReviewStore
from tests.conftest import SHARED_DATA, _need

LSP = SHARED_DATA / "lsp-extended"
#: LSP people of the test file: im00003 (labelled right), im00010 (a split jump whose labels
#: the test swaps left/right: her legs stretch far to either side) and im00011.
PEOPLE = (3, 10, 11)
SWAPPED_BY_TEST = 10


def lsp_file(folder: Path) -> Path:
    """A COCO file of the LSP people ``PEOPLE`` (ids = LSP numbers), person 10's labels swapped
    left/right by the test; written to ``folder/lsp3.json``."""
    from engine.data import lsp
    d = _need(LSP / "joints.mat").parent
    joints = lsp.read_joints(d / "joints.mat")[[n - 1 for n in PEOPLE]]
    names = [lsp.IMAGE_NAME.format(n) for n in PEOPLE]
    data = lsp.to_coco(joints, lsp.image_sizes(d / "images", names))
    for n, name, im, a in zip(PEOPLE, names, data["images"], data["annotations"]):
        im.update(id=n, file_name=name)
        a.update(id=n, image_id=n)
        if n == SWAPPED_BY_TEST:
            a["keypoints"] = swap_left_right(a["keypoints"])
    path = folder / "lsp3.json"
    path.write_text(json.dumps(data))
    return path


def hand_audited(folder: Path) -> Path:
    """``lsp_file`` with an ``audit`` written by the test: the teacher's joints are the LSP
    labels as they came (so person 10 reads as swapped), 11 skipped."""
    src = lsp_file(folder)
    data = json.loads(src.read_text())
    for a in data["annotations"]:
        if a["id"] == 11:
            a["audit"] = {"flags": ["skipped"], "reason": "the teacher found nobody in the crop"}
            continue
        true = swap_left_right(a["keypoints"]) if a["id"] == SWAPPED_BY_TEST else a["keypoints"]
        a["audit"] = {"flags": ["swapped"] if a["id"] == SWAPPED_BY_TEST else [], "far_joints": [],
                      "missed_joints": [], "swap_gain": 0.4 if a["id"] == SWAPPED_BY_TEST else -0.3,
                      "teacher_keypoints": true, "teacher_scores": [0.99] * 17}
    data["audit_info"] = {"teacher": "written by the test"}
    path = folder / "lsp3-audited.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture()
def store(tmp_path):
    return ReviewStore(tmp_path / "review.sqlite")


@pytest.fixture()
def audited(tmp_path) -> Path:
    return hand_audited(tmp_path)


def test_audit_findings_are_read_filtered_and_described(audited, store):
    ds = curation.open_dataset(audited, LSP / "images", store)
    assert ds.audited and set(ds.audits) == set(PEOPLE)
    au = ds.audit(ds.person(SWAPPED_BY_TEST))
    assert au.flags == ("swapped",) and au.swap_gain == pytest.approx(0.4)
    assert au.teacher_xy.shape == (6, 2) and (au.teacher_v == 2).all()
    ids = lambda **kw: [p.ann_id for p in curation.filter_people(ds, "all", "any", store, **kw)]  # noqa: E731
    assert ids(audit="swapped") == ids(audit="any") == [SWAPPED_BY_TEST]
    assert ids(audit="skipped") == [11] and ids(audit="none") == [3] and ids(audit="not_audited") == []
    assert sorted(ids(audit="all")) == list(PEOPLE)
    # the swapped person is flagged for review although all six joints are labelled
    assert SWAPPED_BY_TEST in [p.ann_id for p in ds.flagged]
    s = curation.summary(ds, store)
    assert s["audit"]["swapped"] == 1 and s["audit"]["skipped"] == 1 and s["audit"]["none"] == 1
    text = curation.describe(ds, ds.person(SWAPPED_BY_TEST), store)
    assert "swapped" in text and "0.40 person sizes" in text
    assert "skipped" in curation.describe(ds, ds.person(11), store)
    with pytest.raises(ValueError, match="unknown audit filter"):
        curation.filter_people(ds, "all", "any", store, audit="wrong")


def test_teacher_skeleton_is_drawn_in_its_own_colours(audited, store):
    ds = curation.open_dataset(audited, LSP / "images", store)
    p = ds.person(SWAPPED_BY_TEST)
    with_teacher, _ = curation.detail(ds, p, zoom=True)
    plain = drawing.render_detail(ds.image(p), p, view=curation.zoom_view(p, p.image_size))
    magenta = lambda im: int(((im[..., 0] > 200) & (im[..., 1] < 60) & (im[..., 2] > 200)).sum())  # noqa: E731
    assert magenta(plain) == 0 and magenta(with_teacher) > 200
    legend = drawing.legend_image()
    assert magenta(legend) > 0


def test_swap_is_stored_undone_and_exported_with_every_left_right_pair(audited, store, tmp_path):
    before = audited.read_bytes()
    ds = curation.open_dataset(audited, LSP / "images", store)
    p = ds.person(SWAPPED_BY_TEST)
    d = curation.swap(ds.sha, p, store=store)
    assert (d.decision, d.swap, d.fixes) == ("fix", True, {})
    assert store.get(ds.sha, p.ann_id).swap
    with pytest.raises(ValueError, match="already swapped"):
        curation.swap(ds.sha, p, store=store)
    # the picture shows the swapped labels at once: each left joint where its right one was
    xy, v, fixed = drawing.joints_with_fixes(p, None, swap=True)
    assert np.allclose(xy, p.keypoints[list(FLIP_INDEX)]) and fixed.all()
    # placing a joint afterwards keeps the swap
    knee = (float(p.keypoints[2, 0]) + 3, float(p.keypoints[2, 1]), 2)
    store.decide(ds.sha, p.ann_id, "fix", {"left_knee": knee})
    assert store.get(ds.sha, p.ann_id).swap
    out, report = curation.export_curated(ds, tmp_path / "curated.json", store=store)
    assert report["swapped_ids"] == [SWAPPED_BY_TEST] and report["fixed_ids"] == [SWAPPED_BY_TEST]
    src = {a["id"]: a for a in json.loads(before)["annotations"]}
    got = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    k = np.array(got[SWAPPED_BY_TEST]["keypoints"]).reshape(17, 3)
    want = np.array(swap_left_right(src[SWAPPED_BY_TEST]["keypoints"])).reshape(17, 3)
    lk = COCO_KEYPOINT_NAMES.index("left_knee")
    want[lk] = knee  # the placed joint lands after the swap
    assert np.allclose(k, want)
    # arms too: the wrists change sides, the nose (no side) stays
    lw, rw = COCO_KEYPOINT_NAMES.index("left_wrist"), COCO_KEYPOINT_NAMES.index("right_wrist")
    s = np.array(src[SWAPPED_BY_TEST]["keypoints"]).reshape(17, 3)
    assert np.allclose(k[lw], s[rw]) and np.allclose(k[rw], s[lw]) and np.allclose(k[0], s[0])
    fix = got[SWAPPED_BY_TEST]["audit"]["review_fix"]
    assert fix["swapped_left_right"] is True and fix["joints_placed"] == ["left_knee"]
    assert got[SWAPPED_BY_TEST]["audit"]["flags"] == ["swapped"]  # what the audit found, kept
    assert got[3] == src[3] and "review_fix" not in got[3]["audit"]
    assert audited.read_bytes() == before
    # undo twice: the placed knee, then the swap; the export is the input again
    assert store.undo(ds.sha) == SWAPPED_BY_TEST and store.get(ds.sha, p.ann_id).fixes == {}
    assert store.undo(ds.sha) == SWAPPED_BY_TEST and store.get(ds.sha, p.ann_id) is None
    out2, report2 = curation.export_curated(ds, tmp_path / "curated2.json", store=store)
    assert report2["swapped_ids"] == [] and json.loads(out2.read_text())["annotations"] == \
        json.loads(before)["annotations"]


def test_swap_through_decide_by_path_and_accept_clears_it(audited, store):
    d = curation.decide(audited, SWAPPED_BY_TEST, "swap", store=store)
    assert d["decision"] == "fix" and d["swap"] is True
    d = curation.decide(audited, SWAPPED_BY_TEST, "accept", store=store)
    assert d["decision"] == "accept" and d["swap"] is False
    with pytest.raises(ValueError, match="no left/right swap"):
        store.decide("sha", 1, "reject", swap=True)
    with pytest.raises(ValueError, match="joint fix or a left/right swap"):
        store.decide("sha", 1, "fix")


def test_export_swaps_keypoint_scores_with_their_keypoints(tmp_path):
    """A swapped annotation's 17 ``keypoint_scores`` (a teacher's pseudo-labels carry them)
    move with their keypoints; the input is not changed."""
    from engine.data.coco import export
    kps = [c for i in range(17) for c in (10.0 + i, 20.0 + i, 2)]
    scores = [i / 100 for i in range(17)]
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50],
                             "iscrowd": 0, "keypoints": list(kps), "keypoint_scores": list(scores)}],
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES)}]}
    out = export(data, [5], tmp_path / "out.json", swaps=[5])
    a = json.loads(out.read_text())["annotations"][0]
    assert a["keypoints"] == swap_left_right(kps) != kps
    lk, rk = COCO_KEYPOINT_NAMES.index("left_knee"), COCO_KEYPOINT_NAMES.index("right_knee")
    assert (a["keypoint_scores"][lk], a["keypoint_scores"][rk]) == (scores[rk], scores[lk])
    assert a["keypoint_scores"][0] == scores[0]  # the nose has no pair
    assert data["annotations"][0]["keypoint_scores"] == scores


def test_a_database_made_before_the_swap_keeps_its_decisions(tmp_path):
    """An older review.sqlite (no swap columns) is brought up to date in place."""
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE decisions (file_sha TEXT NOT NULL, ann_id INTEGER NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'fix')),
            fixes TEXT NOT NULL DEFAULT '{}', note TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (file_sha, ann_id));
        CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, file_sha TEXT NOT NULL,
            ann_id INTEGER NOT NULL, prev_decision TEXT, prev_fixes TEXT, prev_note TEXT,
            prev_created_at REAL, prev_updated_at REAL, changed_at REAL NOT NULL);
        INSERT INTO decisions VALUES ('abc', 7, 'fix', '{"left_knee": [1.0, 2.0, 2]}', 'old', 1.0, 2.0);
        INSERT INTO history (file_sha, ann_id, changed_at) VALUES ('abc', 7, 2.0);
    """)
    con.commit()
    con.close()
    st = ReviewStore(path)
    d = st.get("abc", 7)
    assert (d.decision, d.fixes, d.note, d.swap) == ("fix", {"left_knee": (1.0, 2.0, 2)}, "old", False)
    st.decide("abc", 7, "fix", {"left_knee": (1.0, 2.0, 2)}, swap=True)
    assert st.get("abc", 7).swap
    assert st.undo("abc") == 7 and not st.get("abc", 7).swap
    assert st.undo("abc") == 7 and st.get("abc", 7) is None  # the old history row still undoes
    ReviewStore(path)  # opening it again changes nothing


def test_a_malformed_audit_is_refused_naming_the_annotation(audited, store, tmp_path):
    data = json.loads(audited.read_text())
    data["annotations"][0]["audit"]["teacher_keypoints"] = [1, 2, 3]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(CocoFormatError, match=r"annotation 3: audit 'teacher_keypoints' must be 51"):
        curation.open_dataset(bad, LSP / "images", store)
    data["annotations"][0]["audit"] = {"flags": ["wrong"]}
    bad.write_text(json.dumps(data))
    with pytest.raises(CocoFormatError, match="unknown audit flag"):
        curation.open_dataset(bad, LSP / "images", store)
    assert audits.read_audits({"categories": [], "annotations": []}, bad) == {}


def test_swap_left_right_exchanges_coco_pairs():
    k = [float(i) for i in range(51)]
    s = np.array(swap_left_right(k)).reshape(17, 3)
    orig = np.array(k).reshape(17, 3)
    for i, name in enumerate(COCO_KEYPOINT_NAMES):
        other = name.replace("left_", "R").replace("right_", "left_").replace("R", "right_", 1) \
            if "_" in name else name
        assert np.array_equal(s[i], orig[COCO_KEYPOINT_NAMES.index(other)])
    assert swap_left_right(swap_left_right(k)) == k
    assert [COCO_INDICES[FLIP_INDEX[j]] for j in range(6)] == [12, 11, 14, 13, 16, 15]
