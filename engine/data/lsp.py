"""Leeds Sports Pose (Extended) -> a COCO person-keypoints file.

    python -m engine.convert lsp DIR --out FILE.json

DIR holds ``joints.mat`` (MATLAB, variable ``joints`` of shape 14 x 3 x N: per image, 14
joints x (x, y, visible)) and ``images/im00001.jpg`` ... (one labelled person per image).
The output names the images by file name relative to ``DIR/images`` (give that folder as
the image folder to ``engine.flags``, ``engine.train``, the Review tab...).

- LSP's 12 limb joints become their COCO keypoints (``LSP_TO_COCO``; LSP starts with the
  right ankle). A joint flagged visible becomes ``v=2`` at its position, unchanged (LSP's
  coordinates, as in the file); a joint flagged 0 becomes unlabelled ``(0, 0, 0)``: LSP gives
  no position to trust for it. So does a joint flagged visible at a position outside the image
  (``x`` outside [0, width] or ``y`` outside [0, height]; 5 of LSP Extended's 9,000 people),
  as COCO's convention wants (COCO labels only joints in the image). COCO has no neck or head top: they are kept in the
  annotation's extra field ``lsp_extra`` (``{"neck": [x, y, v], "head_top": [x, y, v]}``).
- LSP has no person boxes: the box is the tight box of the labelled joints (all 14,
  the head top included), grown by ``BOX_MARGIN`` x its longer side on every side (room for
  the feet, hands and the back of the head) and clipped to the image.
- Image sizes are read from the files' headers (no decoding). Image and annotation ids are the
  image's LSP number (``im00042.jpg`` -> 42), so they are the same on every run, and the file
  holds no date: the same input gives the same bytes.
- A missing or broken ``joints.mat``, labels of the wrong shape, or a missing or unreadable
  image stops the conversion with a message naming it (``LspError``); nothing is written.

Cite: Johnson & Everingham, "Learning Effective Human Pose Estimation from Inaccurate
Annotation", CVPR 2011. The labels are crowd-sourced and noisy (see ``engine.audit``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.fileio import write_json
from engine.joints import COCO_KEYPOINT_NAMES, V_VISIBLE

#: LSP's 14 joints, in the order of ``joints.mat``.
LSP_JOINTS = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
              "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
              "left_wrist", "neck", "head_top")
#: (LSP index, COCO keypoint index) of every LSP joint that COCO has (neck and head top: none).
LSP_TO_COCO = tuple((i, COCO_KEYPOINT_NAMES.index(n)) for i, n in enumerate(LSP_JOINTS)
                    if n in COCO_KEYPOINT_NAMES)
#: LSP joints without a COCO keypoint, kept in ``lsp_extra``.
LSP_EXTRA = tuple((i, n) for i, n in enumerate(LSP_JOINTS) if n not in COCO_KEYPOINT_NAMES)
#: The person box: the labelled joints' tight box grown by this fraction of its longer side
#: on every side (then clipped to the image).
BOX_MARGIN = 0.1
IMAGE_NAME = "im{:05d}.jpg"
URL = "http://sam.johnson.io/research/lspet.html"
CITATION = ("Sam Johnson and Mark Everingham, Learning Effective Human Pose Estimation from "
            "Inaccurate Annotation, CVPR 2011")


class LspError(ValueError):
    """An LSP folder that cannot be converted; the message names the file and the problem."""


def read_joints(path: str | Path) -> np.ndarray:
    """``joints.mat`` -> array (N, 14, 3) of (x, y, visible in {0, 1}); LspError when broken."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise LspError(f"{path}: file not found (an LSP folder holds joints.mat and images/)")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError... on a bad file
        raise LspError(f"{path}: not a readable MATLAB file ({type(e).__name__}: {e})") from None
    if "joints" not in mat:
        names = sorted(k for k in mat if not k.startswith("__"))
        raise LspError(f"{path}: no variable 'joints' (it holds {names or 'nothing'})")
    j = np.asarray(mat["joints"])
    if j.ndim != 3 or j.shape[:2] != (14, 3) or j.shape[2] == 0:
        raise LspError(f"{path}: 'joints' has shape {j.shape}; LSP Extended's is 14 x 3 x N "
                       "(14 joints x (x, y, visible) x images)")
    try:
        j = j.astype(np.float64)
    except (TypeError, ValueError):
        raise LspError(f"{path}: 'joints' is not numeric ({j.dtype})") from None
    j = np.transpose(j, (2, 0, 1))  # (N, 14, 3)
    bad_v = ~np.isin(j[:, :, 2], (0.0, 1.0))
    if bad_v.any():
        n, k = np.argwhere(bad_v)[0]
        raise LspError(f"{path}: visibility must be 0 or 1; image {IMAGE_NAME.format(n + 1)} "
                       f"{LSP_JOINTS[k]} has {j[n, k, 2]!r}")
    bad_xy = (j[:, :, 2] > 0) & ~np.isfinite(j[:, :, :2]).all(axis=2)
    if bad_xy.any():
        n, k = np.argwhere(bad_xy)[0]
        raise LspError(f"{path}: image {IMAGE_NAME.format(n + 1)} {LSP_JOINTS[k]} is flagged "
                       "visible but has no finite position")
    return j


def image_sizes(images_dir: Path, names: list[str]) -> list[tuple[int, int]]:
    """(width, height) of each image from its header (PIL opens lazily, nothing is decoded)."""
    from PIL import Image, UnidentifiedImageError

    if not images_dir.is_dir():
        raise LspError(f"{images_dir}: image folder not found")
    missing = [n for n in names if not (images_dir / n).is_file()]
    if missing:
        more = len(missing) - 10
        raise LspError(f"{images_dir}: {len(missing)} image(s) the labels need are missing: "
                       f"{', '.join(missing[:10])}{f' and {more} more' if more > 0 else ''}")
    sizes = []
    for n in names:
        try:
            with Image.open(images_dir / n) as im:
                sizes.append(tuple(int(v) for v in im.size))
        except (UnidentifiedImageError, OSError) as e:
            raise LspError(f"{images_dir / n}: not a readable image ({e})") from None
    return sizes


def person_box(xy: np.ndarray, labelled: np.ndarray, size: tuple[int, int],
               margin: float = BOX_MARGIN) -> list[float]:
    """COCO box (x, y, w, h) of a person from its labelled joints (``BOX_MARGIN``), clipped to
    the image; the whole image when fewer than two joints are labelled."""
    w, h = size
    pts = xy[labelled]
    if len(pts) < 2:
        return [0.0, 0.0, float(w), float(h)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * max(hi[0] - lo[0], hi[1] - lo[1])
    x0, y0 = max(0.0, lo[0] - pad), max(0.0, lo[1] - pad)
    x1, y1 = min(w - 1.0, hi[0] + pad), min(h - 1.0, hi[1] + pad)
    return [round(x0, 2), round(y0, 2), round(max(x1 - x0, 1.0), 2), round(max(y1 - y0, 1.0), 2)]


def to_coco(joints: np.ndarray, sizes: list[tuple[int, int]], source: str = "") -> dict:
    """COCO person keypoints from LSP joints (N, 14, 3) and the images' (width, height)."""
    images, anns = [], []
    for n, (j, size) in enumerate(zip(joints, sizes)):
        num = n + 1
        # COCO labels only what lies in the image: a joint LSP flags visible at a position
        # outside [0, width] x [0, height] (im08075's right knee at x = 386 of 241) is unlabelled
        w, h = size
        inside = (j[:, 0] >= 0) & (j[:, 1] >= 0) & (j[:, 0] <= w) & (j[:, 1] <= h)
        labelled = (j[:, 2] > 0) & inside
        kps = [0.0] * 51
        for li, ci in LSP_TO_COCO:
            if labelled[li]:
                kps[3 * ci: 3 * ci + 3] = [round(float(j[li, 0]), 2), round(float(j[li, 1]), 2), V_VISIBLE]
        extra = {name: ([round(float(j[li, 0]), 2), round(float(j[li, 1]), 2), V_VISIBLE]
                        if labelled[li] else [0.0, 0.0, 0])
                 for li, name in LSP_EXTRA}
        box = person_box(j[:, :2], labelled, size)
        images.append({"id": num, "file_name": IMAGE_NAME.format(num), "width": size[0],
                       "height": size[1], "license": 1})
        anns.append({"id": num, "image_id": num, "category_id": 1, "iscrowd": 0, "bbox": box,
                     "area": round(box[2] * box[3], 2), "segmentation": [],
                     "keypoints": kps, "num_keypoints": sum(1 for i in range(17) if kps[3 * i + 2] > 0),
                     "lsp_extra": extra})
    return {"info": {"description": "Leeds Sports Pose Extended, converted by python -m engine.convert lsp",
                     "source": source, "url": URL, "citation": CITATION,
                     "box_margin": BOX_MARGIN,
                     "note": "crowd-sourced labels (known noise: joints off, left/right swapped); "
                             "LSP joints flagged 0, or placed outside the image, are unlabelled here"},
            "licenses": [{"id": 1, "name": "research use (Leeds Sports Pose; images from Flickr)",
                          "url": URL}],
            "images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person",
                            "keypoints": list(COCO_KEYPOINT_NAMES),
                            "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                                         [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11]]}]}


def convert(lsp_dir: str | Path, out: str | Path) -> dict:
    """Convert an LSP folder; write ``out`` atomically (only when everything checked out).
    Returns a summary."""
    d = Path(lsp_dir)
    if not d.is_dir():
        raise LspError(f"{d}: folder not found (an LSP folder holds joints.mat and images/)")
    joints = read_joints(d / "joints.mat")
    names = [IMAGE_NAME.format(n + 1) for n in range(len(joints))]
    sizes = image_sizes(d / "images", names)
    data = to_coco(joints, sizes, source=str(d))
    write_json(out, data, indent=None)
    return {"out": str(out), "images_dir": str(d / "images"), "people": len(data["annotations"]),
            "images": len(data["images"])}
