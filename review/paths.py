"""Which server paths the Review side may open when a visitor types them (or sends them to the
``review_*`` API): only files inside the *review roots*.

The roots are the app's data dir (uploads and Gradio's upload cache live there), the folders
of the configured COCO default (``SQUATPOSE_COCO_ANN`` / ``SQUATPOSE_COCO_IMAGES``, else the
shared coco-mini), Gradio's upload folder when it lies elsewhere, and any folder listed in
``SQUATPOSE_REVIEW_ROOTS`` (``os.pathsep``-separated; a local user who wants to open their
own data sets puts its folder there). A path is resolved first (``..`` and symbolic links
followed), so nothing reaches outside a root by a detour. A path outside every root gets the
same message whether it exists or not, so the message reveals nothing about other files.
"""
from __future__ import annotations

import os
from pathlib import Path

from engine.data.coco import CocoFormatError


class PathRefused(CocoFormatError):
    """A typed path outside the review roots (the message does not say whether it exists)."""


def _configured_default() -> list[Path]:
    from .ui import default_paths  # the one place that says what the default is
    ann, imgs = default_paths()
    out = []
    if ann:
        out.append(Path(ann).expanduser().parent)
    if imgs:
        out.append(Path(imgs).expanduser())
    return out


def review_roots(extra: list[str | os.PathLike] | None = None) -> list[Path]:
    """The folders typed paths may point into (resolved)."""
    from .store import data_dir
    roots = [data_dir(), *_configured_default(), *(Path(e) for e in (extra or []))]
    for part in os.environ.get("SQUATPOSE_REVIEW_ROOTS", "").split(os.pathsep):
        if part.strip():
            roots.append(Path(part.strip()).expanduser())
    out = []
    for r in roots:
        try:
            out.append(r.resolve())
        except OSError:
            continue
    return out


def confine(path: str | os.PathLike, what: str, extra: list | None = None) -> Path:
    """``path`` resolved, when it lies inside a review root; else ``PathRefused``."""
    text = str(path or "").strip()
    p = Path(text).expanduser()
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError):
        resolved = None
    if resolved is not None:
        for root in review_roots(extra):
            if resolved == root or root in resolved.parents:
                return resolved
    raise PathRefused(f"{Path(text).name or text!r}: this app opens {what} only from its own data "
                      "folder and the configured data set; upload the file instead (or, running "
                      "the app yourself, add its folder to SQUATPOSE_REVIEW_ROOTS)")
