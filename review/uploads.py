"""Uploaded image archives, extracted safely: no path escapes, no links, bounded sizes."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from engine.fileio import sha256_file

#: Limits for an uploaded zip of images.
MAX_ZIP_MEMBERS = 50_000
MAX_MEMBER_BYTES = 50 * 1024 ** 2  # 50 MiB per file
MAX_TOTAL_BYTES = 4 * 1024 ** 3  # 4 GiB uncompressed in all
MAX_RATIO = 200  # compressed -> uncompressed ratio above which a member looks like a zip bomb


class UploadError(ValueError):
    """An upload that cannot be used; the message says why in plain words."""


def _safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None for a directory entry; UploadError when unsafe."""
    if "\\" in name or "\x00" in name:
        raise UploadError(f"zip entry {name!r} has an unsafe name")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise UploadError(f"zip entry {name!r} points outside the archive (refused)")
    if name.endswith("/"):
        return None
    return p


def extract_zip(zip_path: str | os.PathLike, dest: str | os.PathLike | None = None) -> Path:
    """Extract a zip of images into ``dest`` (a new temp folder when None) and return it.

    Refuses entries with absolute paths or ``..`` (zip-slip), symlinks, more than
    ``MAX_ZIP_MEMBERS`` files, files over ``MAX_MEMBER_BYTES``, more than ``MAX_TOTAL_BYTES``
    in all and suspicious compression ratios; nothing is left behind on refusal.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise UploadError(f"{zip_path.name}: file not found")
    if not zipfile.is_zipfile(zip_path):
        raise UploadError(f"{zip_path.name}: not a zip archive")
    made = dest is None
    dest = Path(tempfile.mkdtemp(prefix="squatpose-images-")) if dest is None else Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise UploadError(f"{zip_path.name}: {len(infos)} entries (limit {MAX_ZIP_MEMBERS})")
            total = 0
            plan = []
            for info in infos:
                rel = _safe_name(info.filename)
                if rel is None:
                    continue
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UploadError(f"zip entry {info.filename!r} is a symbolic link (refused)")
                if info.file_size > MAX_MEMBER_BYTES:
                    raise UploadError(f"zip entry {info.filename!r} is {info.file_size / 1e6:.0f} MB "
                                      f"(limit {MAX_MEMBER_BYTES / 1e6:.0f} MB per file)")
                if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                    raise UploadError(f"zip entry {info.filename!r} expands suspiciously (zip bomb?)")
                total += info.file_size
                if total > MAX_TOTAL_BYTES:
                    raise UploadError(f"{zip_path.name}: more than {MAX_TOTAL_BYTES / 1e9:.0f} GB "
                                      "uncompressed (limit)")
                target = (root / Path(*rel.parts)).resolve()
                if root not in target.parents:
                    raise UploadError(f"zip entry {info.filename!r} points outside the archive (refused)")
                plan.append((info, target))
            for info, target in plan:
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "wb") as out:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        written += len(chunk)
                        if written > info.file_size or written > MAX_MEMBER_BYTES:
                            raise UploadError(f"zip entry {info.filename!r} is larger than it says")
                        out.write(chunk)
    except zipfile.BadZipFile as e:
        if made:
            shutil.rmtree(dest, ignore_errors=True)
        raise UploadError(f"{zip_path.name}: a damaged zip archive (it could not be read); "
                          "make it again and upload it") from None
    except BaseException:
        if made:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def extract_zip_cached(zip_path: str | os.PathLike, cache_dir: str | os.PathLike) -> Path:
    """Extract (safely, as ``extract_zip``) into ``cache_dir/<zip sha256[:16]>`` once: loading
    the same archive again reuses that folder instead of filling the disk with copies. The
    folder appears whole or not at all (extracted beside it, then renamed into place)."""
    zip_path, cache_dir = Path(zip_path), Path(cache_dir)
    if not zip_path.is_file():
        raise UploadError(f"{zip_path.name}: file not found")
    final = cache_dir / sha256_file(zip_path)[:16]
    if final.is_dir():
        os.utime(final)  # used again: its age (for the data dir's clean-up) starts afresh
        return final
    from engine import storage
    try:
        with zipfile.ZipFile(zip_path) as zf:
            expanded = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile:
        expanded = 0  # extract_zip says what is wrong with it
    try:
        storage.make_room(expanded, f"{zip_path.name} (unpacked)")
    except storage.DiskBudgetError as e:
        raise UploadError(str(e)) from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
    try:
        extract_zip(zip_path, tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another request extracted the same archive first
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def find_images_root(folder: Path, file_names: list[str]) -> Path:
    """The folder under ``folder`` where the annotation's ``file_name``s are (the folder itself
    or the one sub-folder that holds most of them, e.g. ``train2017/`` inside a zip)."""
    if not file_names:
        return folder
    probe = file_names[: min(50, len(file_names))]
    best, best_hits = folder, sum((folder / f).is_file() for f in probe)
    for sub in sorted(p for p in folder.rglob("*") if p.is_dir()):
        hits = sum((sub / f).is_file() for f in probe)
        if hits > best_hits:
            best, best_hits = sub, hits
    return best
