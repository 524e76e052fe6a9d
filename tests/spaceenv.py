"""The app as a Hugging Face Space sees it: a copy of the tracked files with nothing beside it,
and Python limited to what ``requirements.txt`` installs.

This machine has every requirements file installed in one interpreter, so "only
requirements.txt" is emulated, not reinstalled: :func:`write_blocker` writes a
``sitecustomize.py`` that, on ``PYTHONPATH``, hides from every import (``import``,
``importlib.util.find_spec``) the top-level modules of each installed distribution that
``requirements.txt`` does not pull in (MediaPipe, pytest, Playwright, ...), and hides those
distributions from ``importlib.metadata`` too. What it cannot emulate: a module file that two
distributions share is left as installed (``cv2`` is here opencv-contrib-python's, which
mediapipe pulls in, over opencv-python-headless's), and the versions are this machine's.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
#: Present in any Python environment a Space builds (the installer's own tools).
BASELINE = {"pip", "setuptools", "wheel"}

SITECUSTOMIZE = '''"""Written by tests/spaceenv.py: hide what requirements.txt does not install."""
import json as _json
import os as _os
import sys as _sys

with open(_os.path.join(_os.path.dirname(__file__), "hidden.json"), encoding="utf-8") as _f:
    _HIDDEN = _json.load(_f)
_MODULES = frozenset(_HIDDEN["modules"])
_DISTS = frozenset(_HIDDEN["distributions"])


def _norm(name):
    return (name or "").lower().replace("_", "-").replace(".", "-")


class _Hide:
    """Wraps one import finder: hidden top-level modules and distributions are not found."""

    def __init__(self, inner):
        self._inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _MODULES:
            return None
        find = getattr(self._inner, "find_spec", None)
        return find(name, path, target) if find else None

    def find_distributions(self, *args, **kwargs):
        find = getattr(self._inner, "find_distributions", None)
        if find is None:
            return iter(())
        return (d for d in find(*args, **kwargs)
                if d.metadata is None or _norm(d.metadata["Name"]) not in _DISTS)

    def __getattr__(self, attr):
        return getattr(self._inner, attr)


for _m in [m for m in _sys.modules if m.partition(".")[0] in _MODULES]:
    del _sys.modules[_m]
_sys.meta_path[:] = [_Hide(f) for f in _sys.meta_path]
'''


def _requirements(path: Path) -> list[Requirement]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(Requirement(line))
    return out


def requirement_closure(req_file: Path) -> set[str]:
    """Canonical names of the installed distributions ``req_file`` pulls in, transitively
    (markers evaluated for this interpreter and the extras asked for)."""
    env = default_environment()
    todo = [(r, "") for r in _requirements(req_file)]
    seen: set[str] = set()
    extras_done: set[tuple[str, str]] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        wanted = [""] + sorted(req.extras)
        if all((name, e) in extras_done for e in wanted):
            continue
        try:
            deps = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: nothing of it to hide or keep
        seen.add(name)
        for e in wanted:
            if (name, e) in extras_done:
                continue
            extras_done.add((name, e))
            for d in deps:
                try:
                    todo.append((Requirement(d), e))
                except InvalidRequirement:
                    pass
    return seen


def hidden(req_file: Path = ROOT / "requirements.txt") -> dict:
    """{'modules': top-level modules to hide, 'distributions': distributions to hide}."""
    keep = requirement_closure(req_file) | BASELINE
    by_module = metadata.packages_distributions()
    modules = sorted(m for m, dists in by_module.items()
                     if not any(canonicalize_name(d) in keep for d in dists))
    dists = sorted({canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()
                    if d.metadata is not None and d.metadata["Name"]} - keep)
    return {"modules": modules, "distributions": dists, "kept": sorted(keep)}


def write_blocker(folder: Path, req_file: Path = ROOT / "requirements.txt") -> dict:
    """Write ``sitecustomize.py`` and ``hidden.json`` into ``folder`` (put it on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    h = hidden(req_file)
    (folder / "hidden.json").write_text(json.dumps(h, indent=1))
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return h


def copy_tracked(dest: Path, root: Path = ROOT, leave_out: tuple[str, ...] = ()) -> Path:
    """Copy the files git tracks (as they are in the working tree) to ``dest``: a fresh clone
    with uncommitted edits, and nothing that is ignored (no data/, runs/, caches). Paths that
    start with one of ``leave_out`` are not copied."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = root / name
        if not src.is_file() or name.startswith(leave_out):  # deleted here, a submodule, left out
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    return dest
