"""Joint list, crop geometry, heatmap codec, PCK and COCO flags: the engine's foundations."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.data import coco as cocolib
from engine.codec import HeatmapCodec
from engine.data.dataset import Augment, make_sample
from engine.geometry import Crop
from engine.joints import COCO_INDICES, FLIP_INDEX, JOINTS
from engine.training.metrics import pck, pck_thresholds


@pytest.mark.parametrize("sizes", [((192, 256), (48, 64)), ((96, 128), (24, 32))])
def test_heatmap_encode_decode_round_trip_within_half_pixel(sizes):
    codec = HeatmapCodec(*sizes, sigma=2.0)
    rng = np.random.default_rng(1)
    w, h = sizes[0]
    pts = np.stack([rng.uniform(8, w - 8, 200), rng.uniform(8, h - 8, 200)], axis=1)
    maps = []
    for i in range(0, 198, 6):
        t, _ = codec.encode(pts[i:i + 6], np.ones(6))
        maps.append(t)
    dec, scores = codec.decode(np.stack(maps))
    err_hm = np.abs(codec.input_to_heatmap(dec.reshape(-1, 2)) - codec.input_to_heatmap(pts[:198]))
    assert err_hm.max() <= 0.5, err_hm.max()
    assert np.all(scores > 0.8)


def test_decode_without_refinement_is_worse_than_with():
    codec = HeatmapCodec((96, 128), (24, 32))
    pts = np.array([[10.3, 20.7], [50.6, 70.2], [33.5, 99.5], [80.1, 5.9], [47.0, 64.0], [20.9, 110.4]])
    t, _ = codec.encode(pts, np.ones(6))
    fine, _ = codec.decode(t[None])
    coarse, _ = codec.decode(t[None], refine=False)
    assert np.abs(fine[0] - pts).mean() < np.abs(coarse[0] - pts).mean()


def test_encode_drops_unlabelled_and_far_outside_joints():
    codec = HeatmapCodec((96, 128), (24, 32))
    pts = np.array([[10, 10], [-500, 10], [20, 20], [30, 30], [40, 40], [50, 50]], float)
    t, w = codec.encode(pts, np.array([1, 1, 0, 1, 1, 1]))
    assert w.tolist() == [1, 0, 0, 1, 1, 1]
    assert t[1].max() == 0 and t[2].max() == 0 and t[0].max() > 0.9


@pytest.mark.parametrize("rotation,flip", [(0, False), (25, False), (-40, True), (0, True)])
def test_crop_uncrop_round_trip(rotation, flip):
    crop = Crop.from_box((100, 50, 80, 200), (96, 128), rotation=rotation, flip=flip, scale=1.1)
    pts = np.random.default_rng(0).uniform(0, 400, (50, 2))
    back = crop.to_image(crop.to_input(pts))
    assert np.abs(back - pts).max() <= 0.5


def test_crop_fits_box_centre_and_aspect():
    crop = Crop.from_box((100, 50, 80, 200), (96, 128))
    centre = crop.to_input(np.array([[140.0, 150.0]]))[0]
    assert np.allclose(centre, [47.5, 63.5])
    assert crop.size[0] / crop.size[1] == pytest.approx(96 / 128)
    assert crop.size[1] == pytest.approx(200 * 1.25)
    # the box's top edge lands 1/1.25 of the way up from the centre
    top = crop.to_input(np.array([[140.0, 50.0]]))[0]
    assert (63.5 - top[1]) == pytest.approx(128 / 2 / 1.25, abs=0.01)


def test_warp_puts_image_pixel_where_geometry_says():
    img = np.zeros((300, 400, 3), np.uint8)
    img[118:123, 198:203] = 255  # a bright dot at (200, 120)
    crop = Crop.from_box((150, 60, 100, 150), (96, 128), rotation=20)
    patch = crop.warp(img)[..., 0].astype(float)
    ys, xs = np.nonzero(patch > 128)
    expected = crop.to_input(np.array([[200.0, 120.0]]))[0]
    assert abs(xs.mean() - expected[0]) < 1.0 and abs(ys.mean() - expected[1]) < 1.0


def _person(kps, vis, box=(100, 50, 80, 200), ann_id=1, image_id=1):
    return cocolib.Person(ann_id=ann_id, image_id=image_id, file_name="x.jpg", image_size=(400, 300),
                          bbox=box, keypoints=np.asarray(kps, float), visibility=np.asarray(vis))


def test_flip_swaps_left_and_right():
    assert [JOINTS[i] for i in FLIP_INDEX] == ["right_hip", "left_hip", "right_knee", "left_knee",
                                                "right_ankle", "left_ankle"]
    codec = HeatmapCodec((96, 128), (24, 32))
    # left joints to the left of right ones (as seen in the image)
    kps = [[120, 100], [160, 100], [120, 170], [160, 170], [120, 240], [160, 240]]
    p = _person(kps, [2] * 6)
    img = np.zeros((300, 400, 3), np.uint8)
    flip = Augment(flip=1.0, scale=(1, 1), rotation=0, rotation_p=0, shift=0, color=0, gray=0, lower_body=0,
                   zoom_out=0)
    s = make_sample(img, p, codec, flip, np.random.default_rng(0))
    dec, _ = codec.decode(s["target"][None])
    # after the mirror, the joint now labelled "left_hip" is on the image's left again
    assert dec[0, 0, 0] < dec[0, 1, 0] and dec[0, 2, 0] < dec[0, 3, 0]
    plain = make_sample(img, p, codec, Augment.none(), np.random.default_rng(0))
    d0, _ = codec.decode(plain["target"][None])
    assert np.allclose(dec[0, 0, 0], 95 - d0[0, 1, 0], atol=0.5)  # mirrored right hip


def test_background_crops_keep_clear_of_every_person_and_target_nothing():
    """Background samples: an all-zero target at full weight, from a region that no person box
    of the image (grown by half) touches; the person's own samples are never background."""
    codec = HeatmapCodec((96, 128), (24, 32))
    kps = [[120, 100], [160, 100], [120, 170], [160, 170], [120, 240], [160, 240]]
    p = _person(kps, [2] * 6, box=(100, 60, 80, 200))
    other = (300, 20, 60, 150)  # a second, unlabelled person in the same image
    img = np.zeros((300, 800, 3), np.uint8)
    img[60:260, 100:180] = 255  # the people are the only bright pixels
    img[20:170, 300:360] = 255
    aug = Augment(background=1.0, color=0, gray=0)
    backgrounds = 0
    for seed in range(40):
        s = make_sample(img, p, codec, aug, np.random.default_rng(seed), avoid=[p.bbox, other])
        if s["background"]:
            backgrounds += 1
            assert s["target"].max() == 0 and (s["weight"] == 1).all()
            assert s["image"].max() == 0, "a background crop saw a person"
    assert backgrounds >= 30
    # without the image's boxes (evaluation, the overfit tests) there are no background crops
    assert not make_sample(img, p, codec, aug, np.random.default_rng(0))["background"]
    assert not make_sample(img, p, codec, Augment.none(), np.random.default_rng(0), [p.bbox])["background"]


def test_paste_keeps_the_person_and_the_targets_and_swaps_the_background(coco_ann, coco_images):
    """A real COCO-MINI person pasted by its polygons onto another real image: inside the
    mask the crop is the person's own pixels, well outside it the backdrop's; the targets are
    exactly those of the same crop unpasted."""
    import cv2
    from engine.data.dataset import PoseDataset, read_image, sample_crop

    data = cocolib.load(coco_ann, coco_images)
    person = max((p for p in data.people if p.flags.all_visible), key=lambda p: p.bbox[2] * p.bbox[3])
    image = read_image(coco_images / person.file_name)
    mask = cocolib.segmentation_mask(person.segmentation, (image.shape[1], image.shape[0]))
    assert mask is not None and mask.shape == image.shape[:2]
    assert mask[int(person.keypoints[0, 1]), int(person.keypoints[0, 0])] == 1  # hip on the person
    backdrop = np.full((300, 500, 3), (0, 200, 0), np.uint8)  # plain green, unlike any COCO photo
    codec = HeatmapCodec((96, 128), (24, 32))
    aug = Augment(color=0, gray=0, background=0)
    plain = make_sample(image, person, codec, aug, np.random.default_rng(3))
    pasted = make_sample(image, person, codec, aug, np.random.default_rng(3), backdrop=backdrop)
    assert pasted["pasted"] and not plain["pasted"]
    assert np.array_equal(plain["target"], pasted["target"]) and np.array_equal(plain["weight"], pasted["weight"])
    crop = sample_crop(person, codec, aug, np.random.default_rng(3))
    m = crop.warp(mask * 255, border_value=0)
    inner = cv2.erode((m > 250).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    outer = cv2.dilate((m > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    assert inner.sum() > 200 and outer.sum() > 200
    diff = np.abs(pasted["image"].astype(int) - plain["image"].astype(int)).max(axis=2)
    assert diff[inner].max() <= 2  # the person untouched
    green = np.abs(pasted["image"][outer].astype(int) - (0, 200, 0)).max()
    assert green <= 2  # the background replaced (the feathered edge fades within a few pixels)
    # the dataset pastes about aug.paste of its people, onto its backdrops, reproducibly;
    # without backdrops, or for a person with no segmentation, never
    ds = PoseDataset([person] * 60, coco_images, codec, Augment(paste=0.5), backdrops=[person.file_name])
    pasted = [bool(ds[i]["pasted"]) for i in range(60)]
    assert 15 <= sum(pasted) <= 45
    assert all(np.array_equal(ds[i]["image"].numpy(), ds[i]["image"].numpy()) for i in range(10))
    assert not any(PoseDataset([person] * 20, coco_images, codec, Augment(paste=1.0))[i]["pasted"] for i in range(20))
    bare = dataclasses.replace(person, segmentation=None)
    assert not PoseDataset([bare], coco_images, codec, Augment(paste=1.0), backdrops=[person.file_name])[0]["pasted"]


def test_joints_outside_a_close_up_are_trained_as_absent():
    """A close-up on one joint: the joints it leaves out get an all-zero target at full weight
    (absent_outside), or no weight at all without it; unlabelled joints never weigh."""
    codec = HeatmapCodec((96, 128), (24, 32))
    kps = [[120, 100], [160, 100], [120, 170], [160, 170], [120, 240], [160, 240]]
    p = _person(kps, [2, 2, 2, 2, 2, 0], box=(100, 60, 80, 200))
    img = np.zeros((300, 400, 3), np.uint8)
    aug = Augment(part=1.0, part_scale=(0.3, 0.3), zoom_out=0, flip=0, rotation_p=0, shift=0,
                  lower_body=0, color=0, gray=0)
    seen_absent = 0
    for seed in range(10):
        s = make_sample(img, p, codec, aug, np.random.default_rng(seed))
        empty = s["target"].reshape(6, -1).max(axis=1) == 0
        assert s["weight"][5] == 0 and (s["weight"][:5] == 1).all()
        seen_absent += int(empty[:5].sum())
        ignore = make_sample(img, p, codec, Augment(**{**aug.__dict__, "absent_outside": False}),
                             np.random.default_rng(seed))
        assert (ignore["weight"][:5] == (~empty[:5])).all()
    assert seen_absent > 0


def test_pck_exact_fraction_with_joint_on_threshold():
    box = np.array([[0, 0, 80, 160]])  # longer side 160 -> PCK@0.05 threshold 0.0625*160 = 10 px
    assert pck_thresholds(box, 0.05)[0] == pytest.approx(10.0)
    gt = np.zeros((1, 6, 2))
    pred = gt.copy()
    pred[0, 0] = [10.0, 0.0]  # exactly on the threshold: correct
    pred[0, 1] = [6.0, 8.0]  # distance 10: correct
    pred[0, 2] = [10.01, 0.0]  # just past: wrong
    pred[0, 3] = [np.nan, np.nan]  # missing prediction: wrong
    pred[0, 4] = [100, 100]  # far but unlabelled: not counted
    labeled = np.array([[True, True, True, True, False, True]])
    r = pck(pred, gt, labeled, box, 0.05)
    assert r["counted"] == 5
    assert r["pck"] == pytest.approx(3 / 5)
    assert r["per_joint"]["left_ankle"] is None and r["per_joint"]["left_knee"] == 0.0
    assert pck(pred, gt, labeled, box, 0.1)["pck"] == pytest.approx(4 / 5)


def _coco_fixture(tmp_path, with_images=True):
    def kp(vs):
        k = [0] * 51
        for j, v in zip(COCO_INDICES, vs):
            k[3 * j:3 * j + 3] = [10 + j, 20 + j, v] if v else [0, 0, 0]
        return k
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 50, 100], "keypoints": kp([2] * 6)},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 50, 100], "keypoints": kp([2, 2, 1, 2, 2, 2])},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 20, 100], "keypoints": kp([2, 2, 0, 0, 0, 0])},
        {"id": 4, "image_id": 2, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 50, 100], "keypoints": kp([0] * 6)},
        {"id": 5, "image_id": 2, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 50, 100], "keypoints": kp([2] * 6)},
    ]
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 128},
                       {"id": 2, "file_name": "b.jpg", "width": 64, "height": 128}],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}]}
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(data))
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    if with_images:
        import cv2
        for f in ("a.jpg", "b.jpg"):
            cv2.imwrite(str(img_dir / f), np.zeros((128, 64, 3), np.uint8))
    return p, img_dir


def test_flags_on_fixture(tmp_path):
    p, d = _coco_fixture(tmp_path)
    data = cocolib.load(p, d)
    s = cocolib.summarize(data.people, len(data.crowd))
    assert (s["person_annotations"], s["crowd"], s["none_labeled"], s["all_labeled"],
            s["all_visible"], s["some_missing"], s["small_box"]) == (4, 1, 1, 2, 1, 1, 1)
    assert s["missing_per_joint"]["left_knee"] == 2 and s["occluded_per_joint"]["left_knee"] == 1
    by_id = {q.ann_id: q.flags for q in data.people}
    assert by_id[3].unlabeled == ("left_knee", "right_knee", "left_ankle", "right_ankle")
    assert by_id[2].occluded == ("left_knee",) and not by_id[2].all_visible and by_id[2].all_labeled
    assert [q.ann_id for q in cocolib.select(data.people)] == [1, 2, 3]
    assert [q.ann_id for q in cocolib.select(data.people, "labeled")] == [1, 2]
    assert [q.ann_id for q in cocolib.select(data.people, "visible")] == [1]


def test_flags_cli_on_coco_mini(coco_ann, coco_images):
    r = subprocess.run([sys.executable, "-m", "engine.flags", str(coco_ann), "--json",
                        "--images", str(coco_images)], capture_output=True, text=True, check=True)
    s = json.loads(r.stdout)
    assert (s["person_annotations"], s["none_labeled"], s["all_labeled"], s["all_visible"]) == (167, 114, 25, 21)
    assert set(s["missing_per_joint"]) == set(JOINTS)


def test_bad_annotation_files_give_clear_messages(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(cocolib.CocoFormatError, match="bad.json: not valid JSON"):
        cocolib.load(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(cocolib.CocoFormatError, match="missing the 'annotations' list"):
        cocolib.load(bad)
    p, d = _coco_fixture(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, with_images=False)
    with pytest.raises(cocolib.CocoFormatError, match=r"2 image\(s\).*missing: a.jpg, b.jpg"):
        cocolib.load(p, d)
    r = subprocess.run([sys.executable, "-m", "engine.flags", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "bad.json" in r.stderr


def test_export_filtered_set_loads_in_pycocotools(tmp_path, coco_ann, coco_images):
    from pycocotools.coco import COCO
    out = tmp_path / "labeled.json"
    before = coco_ann.read_bytes()
    subprocess.run([sys.executable, "-m", "engine.flags", str(coco_ann), "--filter", "labeled",
                    "--export", str(out)], check=True, capture_output=True)
    assert coco_ann.read_bytes() == before  # input untouched
    c = COCO(str(out))
    assert len(c.getAnnIds()) == 25
    again = cocolib.load(out, coco_images)
    assert all(p.flags.all_labeled for p in again.people)
