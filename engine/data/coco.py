"""COCO person-keypoint files -> lower-body instances with completeness flags.

Loads any COCO keypoints file through pycocotools (full COCO 2017 included), takes the six
lower-body joints (``engine.joints``) of every person annotation with their ``v`` flags, and
computes the flags the Review tab filters on. Files are never modified; a filtered set is
exported as a new COCO JSON.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.fileio import write_json
from engine.joints import COCO_FLIP_INDEX, COCO_INDICES, JOINTS, NUM_JOINTS, V_OCCLUDED, V_UNLABELED, V_VISIBLE

from .schema import CocoFormatError, check_coco  # noqa: F401  (CocoFormatError: part of this API)

#: Default minimum shorter side of a person box, in image pixels, below which it is "small".
MIN_BOX_SIDE = 32.0
#: Teacher-made files: joints whose stored confidence is below this are flagged low-confidence.
LOW_CONFIDENCE = 0.5
FILTERS = ("labeled", "visible")


@dataclass(frozen=True)
class Flags:
    """Completeness flags of one person annotation (joint names from ``JOINTS``)."""

    unlabeled: tuple[str, ...]
    occluded: tuple[str, ...]
    small_box: bool
    crowd: bool
    low_confidence: tuple[str, ...] = ()

    @property
    def n_labeled(self) -> int:
        return NUM_JOINTS - len(self.unlabeled)

    @property
    def none_labeled(self) -> bool:
        return self.n_labeled == 0

    @property
    def all_labeled(self) -> bool:
        return not self.unlabeled

    @property
    def all_visible(self) -> bool:
        return not self.unlabeled and not self.occluded

    @property
    def some_missing(self) -> bool:
        return 0 < len(self.unlabeled) < NUM_JOINTS

    @property
    def incomplete(self) -> bool:
        """Flagged for review: any joint unlabelled, occluded or low-confidence, or a small box."""
        return bool(self.unlabeled or self.occluded or self.low_confidence or self.small_box)

    def as_dict(self) -> dict:
        return {"unlabeled": list(self.unlabeled), "occluded": list(self.occluded),
                "low_confidence": list(self.low_confidence), "small_box": self.small_box,
                "crowd": self.crowd, "n_labeled": self.n_labeled}


@dataclass
class Person:
    """One person annotation's lower body. Coordinates are original-image pixels."""

    ann_id: int
    image_id: int
    file_name: str
    image_size: tuple[int, int]  # (width, height)
    bbox: tuple[float, float, float, float]  # x, y, w, h
    keypoints: np.ndarray  # (6, 2)
    visibility: np.ndarray  # (6,) int: 0 unlabelled, 1 occluded, 2 visible
    iscrowd: bool = False
    scores: np.ndarray | None = None  # (6,) teacher confidences, when the file has them
    #: the annotation's COCO ``segmentation`` (polygons or RLE) when it has a usable one
    segmentation: object = None
    min_box_side: float = MIN_BOX_SIDE
    flags: Flags = field(init=False)

    def __post_init__(self) -> None:
        v = self.visibility
        low = ()
        if self.scores is not None:
            low = tuple(JOINTS[j] for j in range(NUM_JOINTS)
                        if v[j] > 0 and self.scores[j] < LOW_CONFIDENCE)
        self.flags = Flags(
            unlabeled=tuple(JOINTS[j] for j in range(NUM_JOINTS) if v[j] == V_UNLABELED),
            occluded=tuple(JOINTS[j] for j in range(NUM_JOINTS) if v[j] == V_OCCLUDED),
            small_box=min(self.bbox[2], self.bbox[3]) < self.min_box_side,
            crowd=self.iscrowd, low_confidence=low)

    @property
    def labeled(self) -> np.ndarray:
        """(6,) bool: joint labelled (v > 0)."""
        return self.visibility > V_UNLABELED


@dataclass
class CocoPeople:
    """A loaded COCO keypoints file: the pycocotools index and its non-crowd people."""

    path: Path
    coco: object  # pycocotools.coco.COCO
    people: list[Person]
    crowd: list[Person]
    images_dir: Path | None = None
    missing_images: list[str] = field(default_factory=list)

    def image_path(self, person: Person) -> Path:
        """The person's image, resolved; it must lie inside the image folder (a symbolic link
        out of it is refused like a ``../`` name)."""
        if self.images_dir is None:
            raise CocoFormatError(f"{self.path}: no image folder was given")
        root = self.images_dir.resolve()
        p = (root / person.file_name).resolve()
        if root not in p.parents:
            raise CocoFormatError(f"{self.path.name}: image {person.file_name!r} of annotation "
                                  f"{person.ann_id} lies outside the image folder (refused)")
        return p

    @property
    def dataset(self) -> dict:
        return self.coco.dataset


def _fail(path, msg) -> CocoFormatError:
    return CocoFormatError(f"{path}: {msg}")


def person_category_ids(data: dict) -> set[int]:
    """Ids of categories named 'person' that carry keypoints (COCO: {1})."""
    return {c["id"] for c in data.get("categories", [])
            if isinstance(c, dict) and c.get("name") == "person"}


def read_json(path: str | Path) -> dict:
    """Read a COCO keypoints file and check it (``engine.data.schema.check_coco``: types,
    finite numbers, visibility, unique ids, sizes, file names); CocoFormatError in words."""
    return _read(path, False)[0]


def read_json_setting_aside(path: str | Path) -> tuple[dict, list[str]]:
    """``read_json``, except that an annotation with a value out of range (an id past
    2**63 - 1, a keypoint or box far outside its image) is left out of the data returned
    instead of failing the file: (data, one message per record set aside, naming its id).
    The Review tab reads files this way; the CLIs (training above all) stay strict."""
    return _read(path, True)


def _read(path: str | Path, set_aside: bool) -> tuple[dict, list[str]]:
    path = Path(path)
    if not path.is_file():
        raise CocoFormatError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, "not a text file (is it really a COCO .json?)") from None
    except json.JSONDecodeError as e:
        raise _fail(path, f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise _fail(path, "JSON nested too deeply to be a COCO file") from None
    aside = check_coco(data, path, set_aside=set_aside)
    if aside:
        drop = {i for i, _ in aside}
        data = {**data, "annotations": [a for i, a in enumerate(data["annotations"]) if i not in drop]}
    return data, [msg for _, msg in aside]


def load(path: str | Path, images_dir: str | Path | None = None, *,
         min_box_side: float = MIN_BOX_SIDE, check_images: bool = True,
         data: dict | None = None) -> CocoPeople:
    """Load a COCO person-keypoints file.

    With ``images_dir`` and ``check_images``, every image that has a person annotation must
    exist there; otherwise CocoFormatError lists the missing files (never silently skipped).
    """
    from pycocotools.coco import COCO

    path = Path(path)
    if data is None:
        data = read_json(path)
    else:
        check_coco(data, path)
    person_ids = person_category_ids(data)
    if not person_ids:
        raise _fail(path, "no 'person' category: not a COCO person-keypoints file")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    people, crowd = [], []
    for a in data["annotations"]:
        if a["category_id"] not in person_ids:
            continue
        kps = a.get("keypoints")
        if not isinstance(kps, list) or len(kps) != 51:
            raise _fail(path, f"annotation {a['id']} needs 'keypoints' as 17 x (x, y, v) = 51 numbers")
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise _fail(path, f"annotation {a['id']} needs 'bbox' as [x, y, w, h]")
        k = np.asarray(kps, dtype=np.float64).reshape(17, 3)[list(COCO_INDICES)]
        im = coco.imgs[a["image_id"]]
        scores = a.get("keypoint_scores")
        if isinstance(scores, list) and len(scores) == 17:
            scores = np.asarray(scores, dtype=np.float64)[list(COCO_INDICES)]
        elif isinstance(scores, list) and len(scores) == NUM_JOINTS:
            scores = np.asarray(scores, dtype=np.float64)
        else:
            scores = None
        p = Person(ann_id=int(a["id"]), image_id=int(a["image_id"]), file_name=im["file_name"],
                   image_size=(int(im.get("width", 0)), int(im.get("height", 0))),
                   bbox=tuple(float(v) for v in bbox), keypoints=k[:, :2].copy(),
                   visibility=k[:, 2].astype(np.int64), iscrowd=bool(a.get("iscrowd", 0)),
                   scores=scores, segmentation=a.get("segmentation") or None,
                   min_box_side=min_box_side)
        (crowd if p.iscrowd else people).append(p)
    result = CocoPeople(path=path, coco=coco, people=people, crowd=crowd,
                        images_dir=Path(images_dir) if images_dir is not None else None)
    if images_dir is not None:
        d = Path(images_dir)
        if not d.is_dir():
            raise CocoFormatError(f"{d}: image folder not found")
        needed = sorted({p.file_name for p in people})
        result.missing_images = [f for f in needed if not (d / f).is_file()]
        if check_images and result.missing_images:
            shown = ", ".join(result.missing_images[:10])
            more = len(result.missing_images) - 10
            raise CocoFormatError(
                f"{d}: {len(result.missing_images)} image(s) named in {path.name} are missing: "
                f"{shown}{f' and {more} more' if more > 0 else ''}")
    return result


def segmentation_mask(segmentation, size: tuple[int, int]) -> np.ndarray | None:
    """A COCO ``segmentation`` (polygons, RLE or compressed RLE) as a uint8 mask (H, W) of
    an image of ``size`` = (width, height); None when it holds no usable region."""
    from pycocotools import mask as mask_utils

    w, h = (int(v) for v in size)
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list) and len(p) >= 6]
        if not polygons:
            return None
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
    elif isinstance(segmentation, dict) and "counts" in segmentation:
        if list(segmentation.get("size", [])) != [h, w]:
            return None
        rle = mask_utils.frPyObjects(segmentation, h, w) if isinstance(segmentation["counts"], list) \
            else segmentation
    else:
        return None
    m = mask_utils.decode(rle)
    return m if m.any() else None


def summarize(people: list[Person], crowd: int = 0) -> dict:
    """Flag counts: the figures ``engine.flags --json`` and the Review tab report."""
    per_missing = {name: 0 for name in JOINTS}
    per_occluded = {name: 0 for name in JOINTS}
    hist = [0] * (NUM_JOINTS + 1)
    out = {"person_annotations": len(people), "crowd": crowd, "none_labeled": 0,
           "some_missing": 0, "all_labeled": 0, "all_visible": 0, "any_occluded": 0,
           "small_box": 0, "low_confidence": 0, "flagged": 0}
    for p in people:
        f = p.flags
        hist[f.n_labeled] += 1
        out["none_labeled"] += f.none_labeled
        out["some_missing"] += f.some_missing
        out["all_labeled"] += f.all_labeled
        out["all_visible"] += f.all_visible
        out["any_occluded"] += bool(f.occluded)
        out["small_box"] += f.small_box
        out["low_confidence"] += bool(f.low_confidence)
        out["flagged"] += f.incomplete
        for n in f.unlabeled:
            per_missing[n] += 1
        for n in f.occluded:
            per_occluded[n] += 1
    out["labeled_count_histogram"] = hist
    out["missing_per_joint"] = per_missing
    out["occluded_per_joint"] = per_occluded
    return out


def select(people: list[Person], filter: str | None = None, subset: int | None = None,
           seed: int = 0, min_labeled: int = 1) -> list[Person]:
    """The study's training sets.

    ``filter=None``: every person with at least ``min_labeled`` of the six labelled
    (unlabelled joints weigh zero in the loss); ``"labeled"``: all six labelled;
    ``"visible"``: all six visible. ``subset=N`` keeps the people of a seeded random N images.
    """
    if filter not in (None, *FILTERS):
        raise ValueError(f"unknown filter {filter!r}; choose from {FILTERS}")
    if filter == "labeled":
        out = [p for p in people if p.flags.all_labeled]
    elif filter == "visible":
        out = [p for p in people if p.flags.all_visible]
    else:
        out = [p for p in people if p.flags.n_labeled >= min_labeled]
    if subset is not None:
        images = sorted({p.image_id for p in out})
        keep = set(random.Random(seed).sample(images, min(subset, len(images))))
        out = [p for p in out if p.image_id in keep]
    return out


def swap_left_right(keypoints: list) -> list:
    """COCO's 17 x (x, y, v) keypoints (51 numbers) with every left/right pair exchanged
    (``engine.joints.COCO_FLIP_INDEX``): the fix for a labeller who took the image's left for
    the person's. A new list; positions and flags move with their names."""
    k = [keypoints[3 * i: 3 * i + 3] for i in range(17)]
    return [c for i in COCO_FLIP_INDEX for c in k[i]]


def swap_annotation(ann: dict) -> None:
    """Exchange every left/right pair of one COCO annotation in place: its ``keypoints``
    (``swap_left_right``) and its 17 ``keypoint_scores`` when it has them. Call it on a copy."""
    ann["keypoints"] = swap_left_right(ann["keypoints"])
    sc = ann.get("keypoint_scores")
    if isinstance(sc, list) and len(sc) == 17:
        ann["keypoint_scores"] = [sc[i] for i in COCO_FLIP_INDEX]


def export(data: dict, keep_ann_ids, out_path: str | Path,
           fixes: dict[int, dict] | None = None, description: str | None = None,
           swaps=(), extra: dict[int, dict] | None = None) -> Path:
    """Write a new COCO JSON holding only the annotations ``keep_ann_ids`` (and their images).

    ``swaps``: annotation ids whose left/right keypoint pairs are exchanged
    (``swap_annotation``: keypoints, and 17 ``keypoint_scores`` when it has them). ``fixes``
    maps annotation id -> {joint name: (x, y, v)}, applied after the swap (a fix is where that
    joint ends up). ``extra`` maps annotation id -> fields set on its copy (e.g. an ``audit``
    recording a review fix). All of it goes to the copy, never to ``data``; ``num_keypoints``
    follows. Written atomically; pycocotools loads it.
    """
    keep = set(int(i) for i in keep_ann_ids)
    fixes = fixes or {}
    swaps = {int(i) for i in swaps}
    extra = extra or {}
    anns = []
    for a in data["annotations"]:
        if int(a["id"]) not in keep:
            continue
        a = copy.deepcopy(a)
        if int(a["id"]) in swaps:
            swap_annotation(a)
        for name, (x, y, v) in fixes.get(int(a["id"]), {}).items():
            ci = COCO_INDICES[JOINTS.index(name)]
            a["keypoints"][3 * ci: 3 * ci + 3] = [float(x), float(y), int(v)]
        a["num_keypoints"] = sum(1 for i in range(17) if a["keypoints"][3 * i + 2] > 0)
        a.update(copy.deepcopy(extra.get(int(a["id"]), {})))
        anns.append(a)
    image_ids = {a["image_id"] for a in anns}
    out = {k: copy.deepcopy(v) for k, v in data.items() if k not in ("images", "annotations")}
    out["images"] = [copy.deepcopy(im) for im in data["images"] if im["id"] in image_ids]
    out["annotations"] = anns
    if description:
        info = dict(out.get("info") or {})
        info["description"] = description
        out["info"] = info
    return write_json(out_path, out, indent=None, allow_nan=False)  # standard JSON: no NaN
