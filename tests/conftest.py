"""Shared test fixtures: paths to the real data in ../shared/data (skipped when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SQUATPOSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
COCO_MINI = SHARED_DATA / "coco-mini"
COCO_ANN = COCO_MINI / "annotations" / "person_keypoints_train2017.json"
COCO_IMAGES = COCO_MINI / "train2017"
CLIPS = SHARED_DATA / "clips"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set SQUATPOSE_SHARED_DATA or place "
                    "../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def coco_ann() -> Path:
    return _need(COCO_ANN)


@pytest.fixture(scope="session")
def coco_images() -> Path:
    return _need(COCO_IMAGES)


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    return _need(CLIPS / "clips.json").parent


@pytest.fixture(scope="session")
def clips_manifest(clips_dir) -> dict:
    import json
    return json.loads((clips_dir / "clips.json").read_text())


def has_module(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None


needs_mediapipe = pytest.mark.skipif(not has_module("mediapipe"),
                                     reason="mediapipe is not installed (optional extra: "
                                            "pip install -r requirements-mediapipe.txt)")


def heavy_teacher_missing() -> str | None:
    """Why the heavy BlazePose teacher cannot run here (None when it can)."""
    if not has_module("mediapipe"):
        return "mediapipe is not installed (optional extra: pip install -r requirements-mediapipe.txt)"
    from engine.video.blazepose_models import ModelMissing, check_model
    try:
        check_model(2)
    except ModelMissing as e:
        return f"the heavy BlazePose model is not installed ({e})"
    return None


needs_heavy_teacher = pytest.mark.skipif(heavy_teacher_missing() is not None,
                                         reason=str(heavy_teacher_missing()))


def _squatting(person):
    """The same person with both legs redrawn in a deep squat: each knee 40 px above its
    ankle, each hip 40 px behind its knee (a 90-degree knee)."""
    import dataclasses

    kp = person.keypoints.copy()
    for h, k, a in ((0, 2, 4), (1, 3, 5)):
        kp[k] = kp[a] + [0.0, -40.0]
        kp[h] = kp[k] + [-40.0, 0.0]
    return dataclasses.replace(person, keypoints=kp)


@pytest.fixture(scope="session")
def squatting():
    """``squatting(person)``: that person redrawn in a deep squat (knees at 90 degrees)."""
    return _squatting
