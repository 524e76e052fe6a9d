"""MoveNet Thunder as a teacher (``engine.data.movenet_teacher``): on real frames of a squat clip
its joints land on the person (and where BlazePose heavy puts them), the pseudo-label file is
valid COCO that records its teacher, a fine-tuned weights file is decoded its own way, a bad
weights file is refused before anything is written, and the label audit runs with it on real
LSP people."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.joints import COCO_INDICES
from tests.conftest import CLIPS, SHARED_DATA, _need, needs_heavy_teacher

ROOT = Path(__file__).resolve().parents[1]
#: deep squats against a plain wall, side view, 960x544: its first second, every 8th frame
CLIP = "side-wall.mp4"
STRIDE, SECONDS = 8, 1.0
LSP = SHARED_DATA / "lsp-extended"
#: LSP people with all six leg joints labelled on whom MoveNet is sure of all six: im00010 (a
#: split jump, front), im00004, im00012 (of the first 24 images; on im00002, im00003 and im00014,
#: in odd poses, it is unsure of the knees and ankles, as BlazePose heavy is of many LSP people)
LSP_PEOPLE = (10, 4, 12)
HIP, KNEE, ANKLE = (11, 12), (13, 14), (15, 16)


@pytest.fixture(scope="module")
def frames() -> list[tuple[int, np.ndarray]]:
    from engine.video.reader import open_video
    with open_video(_need(CLIPS / CLIP), stride=STRIDE, max_seconds=SECONDS) as v:
        return list(v.frames())


@pytest.fixture(scope="module")
def teacher():
    from engine.data.movenet_teacher import MoveNetTeacher
    return MoveNetTeacher()


@pytest.fixture(scope="module")
def movenet_joints(teacher, frames) -> list[np.ndarray]:
    """The teacher's (17, 3) per frame, following the athlete through the clip."""
    with teacher.clip() as pose:
        out = [pose.landmarks(f) for _, f in frames]
    assert all(k is not None for k in out)
    return out


def test_joints_on_the_person(teacher, frames, movenet_joints):
    """Hips above knees above ankles, all inside the detected athlete's box, confident."""
    assert len(frames) == 4
    for (_, frame), k in zip(frames, movenet_joints):
        box = np.asarray(teacher.find_athlete(frame).box)
        x0, y0, x1, y1 = box
        six = k[list(COCO_INDICES)]
        assert (six[:, 2] >= 0.5).sum() >= 4
        margin = 0.05 * (y1 - y0)
        assert ((six[:, 0] > x0 - margin) & (six[:, 0] < x1 + margin)
                & (six[:, 1] > y0 - margin) & (six[:, 1] < y1 + margin)).all()
        y = k[:, 1]
        assert y[list(HIP)].max() < y[list(KNEE)].min() and y[list(KNEE)].max() < y[list(ANKLE)].min()
        assert y[0] < y[list(HIP)].min()  # the nose above the hips: the person stands upright


@needs_heavy_teacher
def test_agrees_with_blazepose_heavy(frames, movenet_joints):
    """On the same frames, MoveNet's six leg joints lie where BlazePose heavy's do: each within
    0.1 of the person's height (measured: at most 0.07, the far-side ankle; heavy is unsure of
    the far knee and hip in this side view, so all six are compared, not only confident ones)."""
    from engine.data.pseudolabel import BLAZEPOSE_TO_COCO
    from engine.video.mediapipe_pose import MediaPipePose

    with MediaPipePose.for_teacher("mediapipe-heavy", static_image_mode=True) as mp:
        heavy = [mp.landmarks(f) for _, f in frames]
    six = list(COCO_INDICES)
    for mn, hv in zip(movenet_joints, heavy):
        assert hv is not None
        hv = hv[list(BLAZEPOSE_TO_COCO)]
        height = np.ptp(hv[[0, *six], 1])  # nose to the lowest ankle, pixels
        d = np.linalg.norm(mn[six, :2] - hv[six, :2], axis=1) / height
        assert d.max() < 0.1, d


def test_fine_tuned_weights_decoded_by_the_codec(tmp_path, frames, movenet_joints):
    """A fine-tuned MoveNet file (``graph_decode`` 0: the six leg joints by the heatmap codec)
    is taken with --teacher-weights; on the shipped weights stored that way its leg joints
    stay where the graph's decoding puts them, its other eleven are the graph's."""
    from engine.data.movenet_teacher import MoveNetTeacher, shipped_weights_path
    from engine.models.weights import load_model, save

    model, meta = load_model(shipped_weights_path())
    model.graph_decode.fill_(0)
    path = tmp_path / "fine-tuned.safetensors"
    save(model, path, {k: v for k, v in meta.items() if k not in ("format", "dtype", "date")})
    ft = MoveNetTeacher(path)
    assert not ft.model.decodes_keypoints and "fine-tuned" in ft.description
    with ft.clip() as pose:
        for (_, f), shipped in zip(frames[:2], movenet_joints[:2]):
            k = pose.landmarks(f)
            six, rest = list(COCO_INDICES), list(range(11))
            np.testing.assert_allclose(k[rest], shipped[rest], atol=1e-3)
            height = np.ptp(shipped[[0, *six], 1])
            sure = shipped[six, 2] >= 0.75
            assert (np.linalg.norm(k[six, :2] - shipped[six, :2], axis=1)[sure] < 0.05 * height).all()


def test_cli_writes_valid_coco_with_its_teacher(tmp_path, capsys):
    """``python -m engine.pseudolabel CLIP --teacher movenet_thunder`` (its ``main``, in this
    process to spare the interpreter's start) on the same four frames."""
    from pycocotools.coco import COCO

    from engine.data import coco as cocolib
    from engine.data.pseudolabel import main
    from engine.fileio import sha256_file
    from engine.data.movenet_teacher import shipped_weights_path

    clip = _need(CLIPS / CLIP)
    before = clip.read_bytes()
    out = tmp_path / "pl"
    rc = main([str(clip), "--teacher", "movenet_thunder", "--stride", str(STRIDE),
               "--max-seconds", str(SECONDS), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err[-2000:]
    assert clip.read_bytes() == before
    data = json.loads((out / "annotations.json").read_text())
    info = data["info"]
    assert info["teacher"] == f"movenet_thunder: movenet_thunder.safetensors, sha256 {sha256_file(shipped_weights_path())[:12]}"
    assert "no person mask" in info["masks"] and info["thresholds"]["mask"] is None
    c = COCO(str(out / "annotations.json"))
    anns = c.loadAnns(c.getAnnIds())
    assert 2 <= len(anns) <= 4  # four frames read, near-duplicates skipped
    for a in anns:
        im = c.imgs[a["image_id"]]
        assert (out / "images" / im["file_name"]).is_file() and im["video"] == CLIP
        assert "segmentation" not in a
        x, y, w, h = a["bbox"]
        assert x >= 0 and y >= 0 and x + w <= im["width"] and y + h <= im["height"] and h > 200
        k = np.array(a["keypoints"]).reshape(17, 3)
        lab = k[:, 2] > 0
        assert set(k[:, 2]) <= {0, 1, 2} and a["num_keypoints"] == lab.sum()
        assert lab[list(COCO_INDICES)].all()
        assert ((k[lab, 0] >= x) & (k[lab, 0] <= x + w) & (k[lab, 1] >= y) & (k[lab, 1] <= y + h)).all()
        assert len(a["keypoint_scores"]) == 17 and all(0 <= s <= 1 for s in a["keypoint_scores"])
    people = cocolib.load(out / "annotations.json", out / "images").people
    assert len(people) == len(anns)


def test_bad_weights_refused_nothing_written(tmp_path, capsys):
    from engine.data.pseudolabel import main

    clip = str(_need(CLIPS / CLIP))
    out = tmp_path / "pl"
    assert main([clip, "--teacher", "movenet_thunder", "--teacher-weights", str(tmp_path / "none.safetensors"),
                 "--out", str(out)]) == 2
    assert "weights file not found" in capsys.readouterr().err
    # a weights file of another model: refused, saying which model it is
    assert main([clip, "--teacher", "movenet_thunder", "--teacher-weights", str(ROOT / "weights" / "resnet18.safetensors"),
                 "--out", str(out)]) == 2
    assert "names model 'resnet18'" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit) as e:  # weights for a BlazePose teacher make no sense
        main([clip, "--teacher", "mediapipe", "--teacher-weights", str(tmp_path / "x"), "--out", str(out)])
    assert e.value.code == 2 and "--teacher-weights is for --teacher movenet_thunder" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def lsp_people(tmp_path_factory) -> Path:
    """A COCO file of three LSP people as labelled (ids 1-3) and the first one again with its
    labels swapped left/right (id 4)."""
    from PIL import Image

    from engine.data import lsp
    from engine.data.coco import swap_left_right

    d = _need(LSP / "joints.mat").parent
    joints = lsp.read_joints(d / "joints.mat")
    images, anns = [], []
    for i, n in enumerate(LSP_PEOPLE, 1):
        with Image.open(d / "images" / lsp.IMAGE_NAME.format(n)) as im:
            one = lsp.to_coco(joints[n - 1: n], [im.size])
        images.append({**one["images"][0], "id": n, "file_name": lsp.IMAGE_NAME.format(n)})
        anns.append({**one["annotations"][0], "id": i, "image_id": n})
    anns.append({**anns[0], "id": 4, "keypoints": swap_left_right(anns[0]["keypoints"])})
    path = tmp_path_factory.mktemp("audit") / "lsp4.json"
    path.write_text(json.dumps({**one, "images": images, "annotations": anns}))
    return path


def test_audit_with_movenet_on_real_lsp_people(lsp_people, tmp_path):
    from engine.data import audit as auditlib

    out = tmp_path / "audited.json"
    s = auditlib.audit(lsp_people, LSP / "images", out, teacher="movenet_thunder", progress=False)
    assert (s["people"], s["checked"], s["skipped"]) == (4, 4, 0)
    assert s["teacher"].startswith("movenet_thunder: movenet_thunder.safetensors, sha256 ")
    data = json.loads(out.read_text())
    assert data["audit_info"]["thresholds"]["crop_size"] == 256
    *right, wrong = data["annotations"]
    assert "swapped" in wrong["audit"]["flags"]
    for a in right:
        au = a["audit"]
        assert "swapped" not in au["flags"] and au["far_joints"] == []
        tk = np.array(au["teacher_keypoints"]).reshape(17, 3)
        lab = np.array(a["keypoints"]).reshape(17, 3)
        six = list(COCO_INDICES)
        assert (tk[six, 2] == 2).all() and len(au["teacher_scores"]) == 17
        # the teacher's hips, knees and ankles land on the human's (image pixels; measured at
        # most 0.047 person sizes, PCK@0.05's radius is 0.05)
        d = np.linalg.norm(tk[six, :2] - lab[six, :2], axis=1) / auditlib.person_size(a["bbox"])
        assert d.max() < 0.1, d
