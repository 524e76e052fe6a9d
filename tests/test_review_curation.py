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

from engine.data.coco import CocoFormatError
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


def test_uploaded_zip_is_extracted_safely(tmp_path, coco_ann, coco_images, store, monkeypatch):
    monkeypatch.setenv("SQUATPOSE_DATA_DIR", str(tmp_path / "appdata"))
    good = tmp_path / "images.zip"
    data = json.loads(coco_ann.read_text())
    with zipfile.ZipFile(good, "w") as zf:
        for im in data["images"]:
            zf.write(coco_images / im["file_name"], f"train2017/{im['file_name']}")
    ds = curation.open_upload(coco_ann, good, store=store)
    assert ds.images_dir.name == "train2017" and len(ds.people) == 167
    assert curation.upload_dir() in ds.images_dir.parents
    again = curation.open_upload(coco_ann, good, store=store)  # same archive: extracted once
    assert again.images_dir == ds.images_dir and len(list(curation.upload_dir().iterdir())) == 1
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("[]")
    with pytest.raises(CocoFormatError, match="top level must be a JSON object"):
        curation.open_upload(bad_json, good, store=store)

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
    assert len(list(curation.upload_dir().iterdir())) == 1  # nothing left of refused archives


def test_zoomed_detail_maps_clicks_back_to_image_pixels(ds, store):
    small = [p for p in curation.filter_people(ds, "small_box", store=store) if p.flags.n_labeled >= 2][0]
    img = ds.image(small)
    whole, view = curation.detail(ds, small, zoom=False)
    assert whole.shape == img.shape and view.scale == 1.0 and view.to_image(10, 20) == (10, 20)
    zoomed, view = curation.detail(ds, small, zoom=True)
    assert view.scale > 2  # a small person is magnified
    assert zoomed.shape[:2] == (round(view.height * view.scale), round(view.width * view.scale))
    for j in range(6):
        if small.visibility[j] == 0:
            continue
        xy = small.keypoints[j]
        px, py = view.to_picture(xy)
        assert np.allclose(view.to_image(px, py), xy)  # a click on the drawn joint is the joint
        assert 0 <= px < zoomed.shape[1] and 0 <= py < zoomed.shape[0]
    # a fix placed from the zoomed picture lands in the right image pixel and is drawn there
    j = small.flags.unlabeled[0] if small.flags.unlabeled else JOINTS[0]
    x, y = view.to_image(zoomed.shape[1] * 0.5, zoomed.shape[0] * 0.5)
    with_fix, _ = curation.detail(ds, small, {j: (x, y, 2)}, zoom=True)
    cy, cx = zoomed.shape[0] // 2, zoomed.shape[1] // 2
    assert np.abs(with_fix[cy - 3: cy + 4, cx - 3: cx + 4].astype(int)
                  - zoomed[cy - 3: cy + 4, cx - 3: cx + 4].astype(int)).sum() > 0


def test_fixes_are_checked_against_the_image(ds):
    p = ds.people[0]
    w, h = p.image_size
    assert curation.check_fixes(p, {"left_knee": [w - 1, h - 1, 1]}) == {"left_knee": (w - 1.0, h - 1.0, 1)}
    assert curation.check_fixes(p, {"left_knee": [5, 6, 0]}) == {"left_knee": (0.0, 0.0, 0)}
    with pytest.raises(ValueError, match="outside image"):
        curation.check_fixes(p, {"left_knee": [w + 50, 10, 2]})
    with pytest.raises(ValueError, match="outside image"):
        curation.check_fixes(p, {"right_ankle": [10, -3, 1]})


def test_decide_by_path_checks_the_person_and_undoes(coco_ann, store):
    sha, people = curation.people_index(coco_ann)
    aid = next(iter(people))
    assert curation.decide(coco_ann, aid, "reject", note="blurry", store=store)["decision"] == "reject"
    d = curation.decide(coco_ann, str(aid), "accept", store=store)  # ids may come as text
    assert d["decision"] == "accept" and d["note"] == "blurry"  # no note given: the old one stays
    assert curation.decide(coco_ann, aid, "undo", store=store)["decision"] == "reject"
    with pytest.raises(ValueError, match="no person annotation with id 999999999"):
        curation.decide(coco_ann, 999999999, "accept", store=store)
    with pytest.raises(ValueError, match="outside image"):
        curation.decide(coco_ann, aid, "fix", '{"left_hip": [100000, 5, 2]}', store=store)
    assert store.get(sha, aid).decision == "reject"


def test_teacher_made_file_flags_low_confidence_and_export_keeps_scores(tmp_path, coco_ann, coco_images, store):
    """A file like engine.pseudolabel writes: ``keypoint_scores`` beside the keypoints."""
    data = json.loads(coco_ann.read_text())
    low = []
    for a in data["annotations"]:
        scores = [0.9] * 17
        v = a["keypoints"][2::3]
        if sum(v[11:17]) and len(low) < 7:  # some labelled lower-body joint made unsure
            j = next(i for i in range(11, 17) if v[i] > 0)
            scores[j] = 0.2
            low.append(a["id"])
        a["keypoint_scores"] = scores
    teacher = tmp_path / "teacher.json"
    teacher.write_text(json.dumps(data))
    ds = curation.open_dataset(teacher, coco_images, store)
    flagged = curation.filter_people(ds, "low_confidence", store=store)
    assert {p.ann_id for p in flagged} == set(low) - {a["id"] for a in data["annotations"] if a.get("iscrowd")}
    assert curation.summary(ds, store)["low_confidence"] == len(flagged)
    store.decide(ds.sha, flagged[0].ann_id, "reject")
    out, rep = curation.export_curated(ds, tmp_path / "curated.json", store=store)
    coco = load_coco(out)
    assert flagged[0].ann_id not in coco.anns and rep["dropped_rejected"] == 1
    assert all(len(a["keypoint_scores"]) == 17 for a in coco.anns.values())


def test_curated_export_trains_with_engine_train_unchanged(ds, store, tmp_path):
    """The export is a plain COCO file: ``python -m engine.train`` runs on it as it is, and
    sees exactly the people the curation kept (complete ones, a rescued one, a rejected gone)."""
    some = curation.filter_people(ds, "some_missing", store=store)
    complete = curation.filter_people(ds, "complete", store=store)
    rescued = some[0]
    w, h = rescued.image_size
    store.decide(ds.sha, rescued.ann_id, "fix",
                 {j: (w / 2 + i, h / 2 + i, 2) for i, j in enumerate(rescued.flags.unlabeled)})
    store.decide(ds.sha, complete[0].ann_id, "reject")
    ann, rep = curation.export_curated(ds, tmp_path / "curated.json", only_complete=True, store=store)
    assert rep["kept"] == len(complete)  # 25 - 1 rejected + 1 rescued
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "engine.train", "--model", "dilated", "--train-ann", str(ann),
                        "--train-images", str(ds.images_dir), "--epochs", "1", "--out", str(out),
                        "--filter", "labeled", "--batch-size", "8", "--input-size", "128x96",
                        "--threads", "1", "--device", "cpu", "--no-augment"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    side = json.loads((out / "model.json").read_text())
    assert side["training_data"]["people"] == len(complete)


def test_zoomed_picture_shows_each_image_pixel_where_the_view_says():
    """One bright image pixel, magnified: its blob's centre in the picture is view.to_picture."""
    from engine.data.coco import Person
    from review.drawing import render_detail, zoom_view
    img = np.zeros((480, 640, 3), np.uint8)
    star = (301.0, 207.0)
    img[int(star[1]), int(star[0]), 2] = 255
    person = Person(ann_id=1, image_id=1, file_name="x.jpg", image_size=(640, 480),
                    bbox=(280.0, 180.0, 40.0, 60.0), keypoints=np.zeros((6, 2)),
                    visibility=np.zeros(6, np.int64))
    view = zoom_view(person, (640, 480))
    assert view.scale > 4
    pic = render_detail(img, person, view=view)
    ex, ey = view.to_picture(star)
    r = int(view.scale * 2)
    y0, x0 = int(ey) - r, int(ex) - r
    win = pic[y0: y0 + 2 * r + 1, x0: x0 + 2 * r + 1, 2].astype(float)
    ys, xs = np.mgrid[y0: y0 + 2 * r + 1, x0: x0 + 2 * r + 1]
    cx, cy = (win * xs).sum() / win.sum(), (win * ys).sum() / win.sum()
    assert abs(cx - ex) < 0.6 and abs(cy - ey) < 0.6, ((cx, cy), (ex, ey))
    assert np.allclose(view.to_image(ex, ey), star)


def test_pages_and_whom_to_show_next():
    people = list(range(130))
    chunk, page, pages = curation.page_of(people, 3, 60)
    assert (chunk, page, pages) == (list(range(120, 130)), 3, 3)
    assert curation.page_of(people, 99, 60)[1] == 3 and curation.page_of(people, "x", 60)[1] == 1
    assert curation.page_of([], 2, 60) == ([], 1, 1)
    order = [5, 7, 9, 11]
    assert curation.next_person(order, 7, 1) == 9  # still listed ("any"): the next one
    assert curation.next_person([5, 9, 11], 7, 1) == 9  # left the list ("unreviewed"): its successor
    assert curation.next_person(order, 11, 3) == 5  # wraps round
    assert curation.next_person([5, 9], 11, 3) == 5
    assert curation.next_person([], 7, 0) is None
