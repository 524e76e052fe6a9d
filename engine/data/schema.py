"""The one schema check for COCO person-keypoint input, used by every entry point (the CLIs
through ``engine.data.coco.read_json`` / ``load``, and the app through the same loader).

It refuses, with a message naming the file, the entry (annotation / image / category id) and
the problem: wrong types (a keypoint ``"abc"``, a ``null`` box, an id ``"abc"`` or ``true``),
ids outside 0 .. 2**63 - 1 (SQLite's integers), numbers that are not finite (NaN, Infinity),
keypoints and boxes more than an image's width / height outside their image (``MARGIN``; a
keypoint of 1e308), visibility flags outside {0, 1, 2}, duplicate ids, sizes that are not
positive or over ``MAX_SIDE`` (image width / height; box width / height must not be negative), and
``file_name``s that would leave the image folder (absolute paths, ``..``, backslashes, NUL).
Up to ``MAX_LISTED`` problems are listed, then how many more there are.

Only what the project reads is checked: images (id, file_name, width, height), categories
(id), annotations (id, image_id, category_id; for person annotations keypoints, bbox,
keypoint_scores, iscrowd). Other keys (segmentation, area, licences, ...) pass through.
"""
from __future__ import annotations

import math
import re
from pathlib import PurePosixPath

import numpy as np

#: Ids must fit SQLite's (and numpy's) signed 64-bit integers: 0 <= id < 2**63.
MAX_ID = 2**63 - 1
#: Largest image side accepted (pixels), and the bound on coordinates when a file gives no size.
MAX_SIDE = 100_000
#: Keypoints and boxes may lie at most this many image widths / heights outside the image.
MARGIN = 1.0
#: Problems listed in one message before "... and N more".
MAX_LISTED = 10
#: COCO keypoints per person (17 x (x, y, v)).
COCO_KEYPOINTS = 17
VISIBILITY = (0, 1, 2)


class CocoFormatError(ValueError):
    """A COCO file that cannot be used; the message names the file and the problem."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v) -> bool:
    """A whole number that fits a signed 64-bit integer, 0 or more (booleans are not ids)."""
    return _is_int(v) and 0 <= v <= MAX_ID


def _id_problem(v) -> str:
    if _is_int(v):
        return f"{_show(v)} (out of range: ids run from 0 to 2**63 - 1)"
    return f"{_show(v)} (a whole number needed)"


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def escapes(file_name: str) -> bool:
    """True when ``file_name`` would leave the folder it is joined to: absolute, ``..``, a
    drive or UNC prefix, backslashes or NUL characters."""
    if "\\" in file_name or "\x00" in file_name:
        return True
    p = PurePosixPath(file_name)
    return p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", file_name) is not None


class _Problems:
    def __init__(self, path, set_aside: bool = False):
        self.path, self.items, self.count = path, [], 0
        self.set_aside = set_aside
        #: (annotation index, message) of the records set aside (``set_aside``)
        self.aside: list[tuple[int, str]] = []

    def add(self, msg: str, record: int | None = None) -> None:
        """A problem; ``record`` (an annotation's index) marks one that only that record has,
        which ``set_aside`` refuses alone instead of the whole file."""
        if self.set_aside and record is not None:
            self.aside.append((record, msg))
            return
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(msg)

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.items)
        text = "; ".join(self.items) + (f"; and {more} more" if more > 0 else "")
        raise CocoFormatError(f"{self.path}: {self.count} problem{'s' if self.count > 1 else ''} "
                              f"in the COCO file: {text}")


_NUM_TYPES = {int, float}


def _keypoints_shape_ok(kps) -> bool:
    """A list of 51 plain numbers (types only; values are checked together, vectorised)."""
    return type(kps) is list and len(kps) == 3 * COCO_KEYPOINTS and set(map(type, kps)) <= _NUM_TYPES


def _check_keypoint_values(rows: list, wheres: list, sizes: list, problems: _Problems,
                           idxs: list | None = None) -> None:
    """Finite x, y within ``MARGIN`` image sizes of the image (``sizes``: its (w, h), or the
    ``MAX_SIDE`` bound when the file gives none) and v in {0, 1, 2}, for many annotations'
    keypoints at once."""
    if not rows:
        return
    a = np.asarray(rows, dtype=np.float64).reshape(len(rows), COCO_KEYPOINTS, 3)
    wh = np.asarray(sizes, dtype=np.float64).reshape(len(rows), 1, 2)
    xy = a[:, :, :2]
    with np.errstate(invalid="ignore", over="ignore"):
        bad_xy = ~np.isfinite(xy).all(axis=2)
        far = ((xy < -MARGIN * wh) | (xy > (1 + MARGIN) * wh)).any(axis=2) & ~bad_xy
    v = a[:, :, 2]
    bad_v = ~((v == 0) | (v == 1) | (v == 2))
    for r in np.flatnonzero(bad_xy.any(axis=1) | bad_v.any(axis=1) | far.any(axis=1)):
        if bad_v[r].any():
            k = int(np.flatnonzero(bad_v[r])[0])
            problems.add(f"{wheres[r]}: keypoint {k} has visibility {_show(rows[r][3 * k + 2])} "
                         "(must be 0 unlabelled, 1 occluded or 2 visible)")
        elif bad_xy[r].any():
            k = int(np.flatnonzero(bad_xy[r])[0])
            problems.add(f"{wheres[r]}: keypoint {k} has x, y = {_show(rows[r][3 * k])}, "
                         f"{_show(rows[r][3 * k + 1])} (finite numbers needed)")
        else:
            k = int(np.flatnonzero(far[r])[0])
            w, h = (int(t) for t in wh[r, 0])
            problems.add(f"{wheres[r]}: keypoint {k} has x, y = {_show(rows[r][3 * k])}, "
                         f"{_show(rows[r][3 * k + 1])}, far outside its {w}x{h} image",
                         record=idxs[r] if idxs is not None else None)


def check_coco(data, path="COCO file", set_aside: bool = False) -> list[tuple[int, str]]:
    """Check a parsed COCO keypoints file; raise ``CocoFormatError`` listing every problem
    found (the first ``MAX_LISTED`` of them). ``path`` names the file in the message.

    ``set_aside``: a value out of range in one annotation (an id past 2**63 - 1, a keypoint
    or box far outside its image) refuses that annotation alone: returned as (its index in
    ``annotations``, the message naming its id) instead of failing the file; the caller
    leaves those out (``engine.data.coco.read_json_setting_aside``). Returns [] otherwise."""
    if not isinstance(data, dict):
        raise CocoFormatError(f"{path}: not a COCO file: the top level must be a JSON object")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise CocoFormatError(f"{path}: not a COCO keypoints file: missing the '{key}' list")
        if not isinstance(data[key], list):
            raise CocoFormatError(f"{path}: '{key}' must be a list")
    problems = _Problems(path, set_aside)

    cat_ids: set = set()
    person_ids: set = set()
    for i, c in enumerate(data["categories"]):
        if not isinstance(c, dict) or not _is_id(c.get("id")):
            problems.add(f"categories[{i}] needs a whole-number 'id' from 0 to 2**63 - 1")
            continue
        if c["id"] in cat_ids:
            problems.add(f"category id {c['id']} appears twice")
        cat_ids.add(c["id"])
        if c.get("name") == "person":
            person_ids.add(c["id"])

    image_ids: set = set()
    image_size: dict = {}
    escaping = []
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict):
            problems.add(f"images[{i}] is not an object")
            continue
        iid = im.get("id")
        where = f"image {_show(iid)}" if _is_int(iid) else f"images[{i}]"
        if not _is_id(iid):
            problems.add(f"images[{i}] has id {_id_problem(iid)}")
        elif iid in image_ids:
            problems.add(f"image id {iid} appears twice")
        else:
            image_ids.add(iid)
        name = im.get("file_name")
        if not isinstance(name, str) or not name.strip():
            problems.add(f"{where} has file_name {_show(name)} (a relative file name needed)")
        elif escapes(name):
            escaping.append(f"{where} {name!r}")
        for key in ("width", "height"):
            if key in im and not (_is_int(im[key]) and 0 < im[key] <= MAX_SIDE):
                problems.add(f"{where} has {key} {_show(im[key])} (a whole number of pixels from 1 "
                             f"to {MAX_SIDE:,} needed)")
        if _is_id(iid):
            image_size[iid] = tuple(im[k] if _is_int(im.get(k)) and 0 < im[k] <= MAX_SIDE else MAX_SIDE
                                    for k in ("width", "height"))
    if escaping:
        shown = ", ".join(escaping[:MAX_LISTED])
        more = len(escaping) - MAX_LISTED
        problems.add(f"{len(escaping)} file_name(s) leave the image folder (refused): {shown}"
                     + (f" and {more} more" if more > 0 else ""))

    ann_ids: set = set()
    rows: list = []
    wheres: list = []
    sizes: list = []
    idxs: list = []
    for i, a in enumerate(data["annotations"]):
        if not isinstance(a, dict):
            problems.add(f"annotations[{i}] is not an object")
            continue
        aid = a.get("id")
        if not _is_id(aid):
            problems.add(f"annotations[{i}] has id {_id_problem(aid)}", record=i if _is_int(aid) else None)
            where = f"annotations[{i}]"
        else:
            where = f"annotation {aid}"
            if aid in ann_ids:
                problems.add(f"annotation {aid}: its id appears twice (ids must be unique: a decision "
                             "on one would apply to both)")
            ann_ids.add(aid)
        for key in ("image_id", "category_id"):
            if not _is_id(a.get(key)):
                problems.add(f"{where} has {key} {_id_problem(a.get(key))}")
        if _is_int(a.get("image_id")) and a["image_id"] not in image_ids:
            problems.add(f"{where} refers to image {a['image_id']}, which the file does not list")
        if a.get("category_id") not in person_ids:
            continue
        kps = a.get("keypoints")
        if _keypoints_shape_ok(kps):
            rows.append(kps)
            wheres.append(where)
            idxs.append(i)
            sizes.append(image_size.get(a.get("image_id"), (MAX_SIDE, MAX_SIDE)))
        elif not (isinstance(kps, list) and len(kps) == 3 * COCO_KEYPOINTS):
            problems.add(f"{where}: 'keypoints' must be a list of 17 x (x, y, v) = 51 numbers, not "
                         f"{_show(kps) if not isinstance(kps, list) else f'{len(kps)} values'}")
        else:
            bad = next(x for x in kps if type(x) not in _NUM_TYPES)
            problems.add(f"{where}: 'keypoints' holds {_show(bad)}, not a number")
        bbox = a.get("bbox")
        if not (type(bbox) is list and len(bbox) == 4 and set(map(type, bbox)) <= _NUM_TYPES
                and all(map(math.isfinite, bbox))):
            problems.add(f"{where} has bbox {_show(bbox)} (needs [x, y, w, h], finite numbers)")
        elif bbox[2] < 0 or bbox[3] < 0:
            problems.add(f"{where} has a box of negative size {bbox[2]} x {bbox[3]}")
        else:
            w, h = image_size.get(a.get("image_id"), (MAX_SIDE, MAX_SIDE))
            if not (-MARGIN * w <= bbox[0] <= (1 + MARGIN) * w and -MARGIN * h <= bbox[1] <= (1 + MARGIN) * h
                    and bbox[2] <= (1 + 2 * MARGIN) * w and bbox[3] <= (1 + 2 * MARGIN) * h):
                problems.add(f"{where} has bbox {_show(bbox)}, far outside its {w}x{h} image", record=i)
        scores = a.get("keypoint_scores")
        if scores is not None and not (isinstance(scores, list) and all(_is_num(s) for s in scores)):
            problems.add(f"{where} has keypoint_scores that are not all finite numbers")
        if "iscrowd" in a and a["iscrowd"] not in (0, 1):  # True/False compare equal to 1/0
            problems.add(f"{where} has iscrowd {_show(a['iscrowd'])} (0 or 1)")
    _check_keypoint_values(rows, wheres, sizes, problems, idxs)
    problems.raise_if_any()
    return problems.aside
