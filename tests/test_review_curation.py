"""Curation on the real coco-mini: filters, pictures, uploads, and the curated export as
pycocotools reads it (fixes applied, rejected dropped, interrupted export harmless)."""
from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from engine.coco import CocoFormatError
from engine.joints import COCO_INDICES, JOINTS
from review import curation
from review.store import ReviewStore
from review.uploads import UploadError, extract_zip
from tests.apphelpers import ROOT


@pytest.fixture()
def store(tmp_path):
    return ReviewStore(tmp_path / "review.sqlite")


@pytest.fixture()
def ds(coco_ann, coco_images, store):
    return curation.open_dataset(coco_ann, coco_images, store)


def load_coco(path):
    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_filters_match_the_flag_counts(ds, store):
    s = curation.summary(ds, store)
    assert (s["person_annotations"], s["none_labeled"], s["all_labeled"], s["all_visible"]) == (167, 114, 25, 21)
    count = lambda f, st="any": len(curation.filter_people(ds, f, st, store))  # noqa: E731
    assert count("none_labeled") == 114 and count("complete") == 25 and count("all") == 167
    assert count("some_missing") == s["some_missing"] == 167 - 114 - 25
    assert count("occluded") == s["any_occluded"] and count("small_box") == s["small_box"]
    assert count("flagged") == s["flagged"] == len(ds.flagged)
    assert count("low_confidence") == 0  # human COCO file: no keypoint_scores
    for j in JOINTS:
        people = curation.filter_people(ds, f"missing:{j}", store=store)
        assert len(people) == s["missing_per_joint"][j] and all(j in p.flags.unlabeled for p in people)
    first = curation.filter_people(ds, "flagged", store=store)
    assert [p.flags.n_labeled for p in first] == sorted((p.flags.n_labeled for p in first), reverse=True)
    store.decide(ds.sha, first[0].ann_id, "reject")
    assert count("flagged", "unreviewed") == s["flagged"] - 1
    assert [p.ann_id for p in curation.filter_people(ds, "flagged", "reject", store)] == [first[0].ann_id]
    assert curation.progress_line(ds, store).startswith(f"1 of {s['flagged']} flagged people reviewed")
    with pytest.raises(ValueError, match="unknown filter"):
        curation.filter_people(ds, "blurry", store=store)


def test_chart_has_the_histogram_and_missing_per_joint(ds, store):
    fig = curation.chart(curation.summary(ds, store))
    assert list(fig.data[0].y) == [114, 3, 11, 2, 6, 6, 25]
    assert list(fig.data[1].x) == list(JOINTS)


def test_pictures_tell_visible_occluded_missing_and_fixes_apart(ds, store):
    p = curation.filter_people(ds, "some_missing", store=store)[0]
    img = ds.image(p)
    crop = curation.render_crop(img, p)
    assert crop.shape == (256, 192, 3)
    plain = curation.render_detail(img, p)
    assert plain.shape == img.shape and not np.array_equal(plain, img)
    j = p.flags.unlabeled[0]
    fixed = curation.render_detail(img, p, {j: (20.0, 200.0, 2)})
    # the fix is drawn (a square around 20, 200), and the source image is left alone
    assert np.abs(fixed[195:206, 15:26].astype(int) - plain[195:206, 15:26].astype(int)).sum() > 0
    assert np.array_equal(img, ds.image(p))


def test_export_applies_fixes_drops_rejected_and_keeps_unreviewed(ds, store, tmp_path, coco_ann):
    some = curation.filter_people(ds, "some_missing", store=store)
    complete = curation.filter_people(ds, "complete", store=store)
    rescued, rejected, accepted = some[0], complete[0], some[1]
    fixes = {j: (100.0 + i, 200.0 + i, 1) for i, j in enumerate(rescued.flags.unlabeled)}
    store.decide(ds.sha, rescued.ann_id, "fix", fixes)
    store.decide(ds.sha, rejected.ann_id, "reject")
    store.decide(ds.sha, accepted.ann_id, "accept")
    before = coco_ann.read_bytes()

    out, rep = curation.export_curated(ds, tmp_path / "all.json", store=store)
    coco = load_coco(out)
    expected = {p.ann_id for p in ds.people} - {rejected.ann_id} | {p.ann_id for p in ds.coco.crowd}
    assert set(coco.anns) == expected
    kps = coco.anns[rescued.ann_id]["keypoints"]
    for j, (x, y, v) in fixes.items():
        ci = COCO_INDICES[JOINTS.index(j)]
        assert kps[3 * ci: 3 * ci + 3] == [x, y, v]
    assert coco.anns[rescued.ann_id]["num_keypoints"] == sum(1 for i in range(17) if kps[3 * i + 2] > 0)
    assert {im for im in coco.imgs} == {a["image_id"] for a in coco.anns.values()}
    assert (rep["kept"], rep["fixed"], rep["dropped"], rep["kept_unreviewed"]) == (166, 1, 1, 164)

    out2, rep2 = curation.export_curated(ds, tmp_path / "complete.json", only_complete=True, store=store)
    coco2 = load_coco(out2)
    assert set(coco2.anns) == {p.ann_id for p in complete} - {rejected.ann_id} | {rescued.ann_id}
    assert (rep2["kept"], rep2["dropped_rejected"], rep2["dropped_incomplete"]) == (25, 1, 141)
    assert coco_ann.read_bytes() == before  # the source is never written


def test_killing_an_export_midway_leaves_the_previous_export_intact(ds, store, tmp_path, coco_ann, coco_images):
    out = tmp_path / "exports" / "curated.json"
    curation.export_curated(ds, out, store=store)
    good = out.read_bytes()
    code = textwrap.dedent(f"""
        from review import curation
        from review.store import ReviewStore
        s = ReviewStore({str(store.path)!r})
        ds = curation.open_dataset({str(coco_ann)!r}, {str(coco_images)!r}, s)
        print("ready", flush=True)
        while True:
            curation.export_curated(ds, {str(out)!r}, store=s)
    """)
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.7)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert out.read_bytes() == good  # same content, whole: never a half-written file
        assert len(load_coco(out).anns) == 172


def test_bad_inputs_are_refused_with_a_clear_message(tmp_path, coco_images, coco_ann, store):
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(CocoFormatError, match="not valid JSON"):
        curation.open_dataset(bad, coco_images, store)
    with pytest.raises(CocoFormatError, match="file not found"):
        curation.open_dataset(tmp_path / "missing.json", coco_images, store)
    with pytest.raises(CocoFormatError, match="image folder not found"):
        curation.open_dataset(coco_ann, tmp_path / "nowhere", store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CocoFormatError, match="missing"):
        curation.open_dataset(coco_ann, tmp_path / "empty", store)


def test_uploaded_zip_is_extracted_safely(tmp_path, coco_ann, coco_images, store):
    good = tmp_path / "images.zip"
    data = json.loads(coco_ann.read_text())
    with zipfile.ZipFile(good, "w") as zf:
        for im in data["images"]:
            zf.write(coco_images / im["file_name"], f"train2017/{im['file_name']}")
    ds = curation.open_upload(coco_ann, good, store=store)
    assert ds.images_dir.name == "train2017" and len(ds.people) == 167

    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    with pytest.raises(UploadError, match="outside the archive"):
        extract_zip(slip, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr("/etc/evil", "x")
    with pytest.raises(UploadError, match="outside the archive"):
        extract_zip(absolute)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.jpg", b"\0" * (20 * 1024 ** 2))
    with pytest.raises(UploadError, match="zip bomb"):
        extract_zip(bomb)
    notzip = tmp_path / "notzip.zip"
    notzip.write_text("hello")
    with pytest.raises(CocoFormatError, match="not a zip archive"):
        curation.open_upload(coco_ann, notzip, store=store)
