"""The app's data directory and its disk budget.

Everything the app writes lives under one folder, ``$SQUATPOSE_DATA_DIR`` (default
``~/.squatpose``)::

    review.sqlite      review decisions (never cleaned up: they are the curators' work; counted
                       in the quota with its -wal and -shm files, history pruned by review.store)
    uploads/           extracted image archives (one folder per archive content)
    analyses/          one folder per analysis (keypoints.csv, report.json, annotated.mp4)
    exports/           curated COCO files
    sessions/          a public app's visitors' own review decisions (one SQLite file each)
    gradio/            Gradio's upload / download cache (the app points GRADIO_TEMP_DIR here;
                       Gradio's own ``delete_cache`` empties it, ``cache_age_s()``)

The budget: the five folders together may hold at most ``quota_bytes()``
(``SQUATPOSE_DISK_QUOTA_MB``, default 2048); an entry (a file or a top-level folder in one
of the first three) older than ``max_age_s()`` (``SQUATPOSE_MAX_AGE_HOURS``, default 24) is
removed, and
when the total is still over the quota the oldest entries go first, never one younger than
``IN_USE_S`` (it may be in use by a request). ``make_room(n)`` does that before a new write
of about ``n`` bytes and raises ``DiskBudgetError`` when the room cannot be made. At start,
``clean_start`` also removes the hidden temporary files and folders an interrupted write
left behind (``.NAME.*.tmp``, ``.partial-*``; see ``engine.fileio``).
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: The sub-folders of the data dir that count towards the quota.
AREAS = ("uploads", "analyses", "exports", "sessions", "gradio")
#: Those this module removes entries from; Gradio's cache is left to Gradio (it keeps files it
#: still needs, such as the examples, which a clean-up by age here would break).
CLEANED = ("uploads", "analyses", "exports", "sessions")
#: An entry younger than this (seconds) is never removed to make room: a request may be using it.
IN_USE_S = 600.0


class DiskBudgetError(OSError):
    """No room for a new write within the data dir's quota; the message says so in words."""


def _env_float(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        return default
    return v if v == v and v >= 0 else default


def data_dir() -> Path:
    """The app's data directory: ``$SQUATPOSE_DATA_DIR`` or ``~/.squatpose``."""
    return Path(os.environ.get("SQUATPOSE_DATA_DIR") or Path.home() / ".squatpose").expanduser()


def area(name: str) -> Path:
    """``<data dir>/<name>`` for one of ``AREAS`` (created)."""
    if name not in AREAS:
        raise ValueError(f"unknown data area {name!r}")
    p = data_dir() / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def quota_bytes() -> int:
    return int(_env_float("SQUATPOSE_DISK_QUOTA_MB", 2048) * 2**20)


def max_upload_mb() -> float:
    """The largest upload the app takes, MB (``SQUATPOSE_MAX_UPLOAD_MB``, default 100): a clip,
    a COCO file or an image archive; Gradio's upload route is held to it too (``app.py``)."""
    return _env_float("SQUATPOSE_MAX_UPLOAD_MB", 100) or 100


def max_age_s() -> float:
    return _env_float("SQUATPOSE_MAX_AGE_HOURS", 24) * 3600


def cache_age_s() -> float:
    """Age after which Gradio deletes a file it cached (``SQUATPOSE_CACHE_HOURS``, default 2):
    uploads and results are kept for a visit, not for ever."""
    return _env_float("SQUATPOSE_CACHE_HOURS", 2) * 3600


def path_size(p: Path) -> int:
    """Bytes of a file, or of every file under a folder (links counted as themselves, not
    followed; what cannot be read counts 0)."""
    try:
        if p.is_symlink() or p.is_file():
            return p.lstat().st_size
        total = 0
        for root, _dirs, files in os.walk(p):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        return total
    except OSError:
        return 0


def _mtime(p: Path) -> float:
    """Newest modification time of the entry (a folder: of anything inside it)."""
    try:
        t = p.lstat().st_mtime
        if p.is_dir() and not p.is_symlink():
            for root, dirs, files in os.walk(p):
                for f in files + dirs:
                    try:
                        t = max(t, os.lstat(os.path.join(root, f)).st_mtime)
                    except OSError:
                        pass
        return t
    except OSError:
        return 0.0


@dataclass
class Entry:
    path: Path
    size: int
    mtime: float


#: Files at the top of the data dir that count towards the quota but are never removed: the
#: review decisions (the curators' work) with SQLite's write-ahead log and index.
KEPT_FILES = ("review.sqlite", "review.sqlite-wal", "review.sqlite-shm")


def entries() -> list[Entry]:
    """Every top-level entry of the areas, and the review database's files, oldest first."""
    out = []
    root = data_dir()
    for name in KEPT_FILES:
        p = root / name
        if p.is_file():
            out.append(Entry(p, path_size(p), _mtime(p)))
    for name in AREAS:
        d = root / name
        if not d.is_dir():
            continue
        for p in d.iterdir():
            out.append(Entry(p, path_size(p), _mtime(p)))
    return sorted(out, key=lambda e: e.mtime)


def usage() -> int:
    """Bytes held by the cleanable areas."""
    return sum(e.size for e in entries())


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


_LOCK = threading.Lock()


def clean(now: float | None = None, extra_bytes: int = 0) -> dict:
    """Remove expired entries, then the oldest ones not in use while the total plus
    ``extra_bytes`` is over the quota. Returns {'removed', 'freed', 'used', 'quota'}."""
    now = time.time() if now is None else now
    age, quota = max_age_s(), quota_bytes()
    removed = freed = 0
    with _LOCK:
        es = entries()
        used = sum(e.size for e in es)
        for e in es:
            if e.path.parent == data_dir() or e.path.parent.name not in CLEANED:  # KEPT_FILES
                continue
            expired = now - e.mtime > age
            over = used + extra_bytes > quota and now - e.mtime > IN_USE_S
            if expired or over:
                _remove(e.path)
                removed += 1
                freed += e.size
                used -= e.size
    return {"removed": removed, "freed": freed, "used": used, "quota": quota}


def make_room(nbytes: int, what: str = "this upload") -> None:
    """Clean up so that ``nbytes`` more fit within the quota; DiskBudgetError when they cannot."""
    state = clean(extra_bytes=int(nbytes))
    if state["used"] + nbytes > state["quota"]:
        raise DiskBudgetError(
            f"The server's storage for uploads and results is full ({state['used'] / 2**20:.0f} MB of "
            f"{state['quota'] / 2**20:.0f} MB in use; {what} needs {nbytes / 2**20:.0f} MB more). "
            "Older files are cleared as they age: try again later, or with a smaller file.")


def _stale(p: Path) -> bool:
    """A leftover of an interrupted write: ``engine.fileio.atomic_path``'s hidden ``.NAME.*.tmp``
    (or ``.tmp.mp4``) files, ``.partial-*`` extraction folders, hidden analysis work folders."""
    n = p.name
    if not n.startswith("."):
        return False
    return (n.endswith(".tmp") or ".tmp." in n or n.startswith(".partial-")
            or (p.is_dir() and "analyses" in p.parts[len(data_dir().parts):]))


def clean_start() -> dict:
    """At app start (nothing of this app is writing yet): remove the leftovers of interrupted
    writes anywhere in the data dir, then ``clean()``. Returns clean()'s dict plus
    'stale_removed'."""
    root = data_dir()
    stale = [p for p in root.rglob(".*") if _stale(p)] if root.is_dir() else []
    for p in sorted(stale, key=lambda q: len(q.parts)):
        _remove(p)
    out = clean()
    out["stale_removed"] = len(stale)
    return out
