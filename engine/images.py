"""Reading one still image safely: its pixel count is taken from the file's header (PIL reads
only the header) and refused before anything is decoded, and a file that ends before its
picture does (a truncated JPEG or PNG, which decoders fill with grey and return as if whole)
is called damaged. One home for the Review tab, the detector CLI and the readers of images.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

#: Most pixels one image may have (``SQUATPOSE_MAX_IMAGE_PIXELS``, default 50 million: a
#: 50-megapixel photo; COCO's and LSP's are under 0.5). A PNG header can claim 60000x60000
#: (3.6 billion pixels, 10 GB decoded) in a few hundred bytes.
DEFAULT_MAX_PIXELS = 50_000_000


class ImageProblem(ValueError):
    """An image that is refused or cannot be read; the message names the file and says why."""


def max_pixels() -> int:
    try:
        v = int(float(os.environ.get("SQUATPOSE_MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS)))
    except ValueError:
        return DEFAULT_MAX_PIXELS
    return v if v > 0 else DEFAULT_MAX_PIXELS


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file's header, nothing decoded; ImageProblem when the file is
    not an image or claims more than ``max_pixels()``."""
    from PIL import Image, UnidentifiedImageError
    p = Path(path)
    if not p.is_file():
        raise ImageProblem(f"{p.name}: image file not found")
    try:
        with Image.open(p) as im:  # reads the header only
            w, h = im.size
    except Image.DecompressionBombError:
        raise ImageProblem(f"{p.name}: the image claims more than {max_pixels() / 1e6:.0f} million "
                           "pixels, too large to open") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageProblem(f"{p.name}: not an image file the app can read (or it is damaged)") from None
    if w * h > max_pixels():
        raise ImageProblem(f"{p.name}: the image is {w}x{h} pixels, over the {max_pixels() / 1e6:.0f} "
                           "million pixel limit for one image")
    return w, h


def _truncated(p: Path) -> bool:
    """A JPEG without its end marker or a PNG without its IEND chunk in its last 64 KB."""
    with open(p, "rb") as f:
        head = f.read(8)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    if head[:3] == b"\xff\xd8\xff":
        return b"\xff\xd9" not in tail
    if head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in tail
    return False


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """The image as RGB uint8 (EXIF orientation applied, as OpenCV does). ImageProblem, naming
    the file, for a missing, unreadable, damaged (truncated) or too large image."""
    p = Path(path)
    image_size(p)
    if _truncated(p):
        raise ImageProblem(f"{p.name}: the image is damaged (the file ends before the picture does)")
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageProblem(f"{p.name}: not an image file the app can read (or it is damaged)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
