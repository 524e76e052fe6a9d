"""The project rule "never commit any of ../shared/data": no tracked file is a byte-for-byte
copy of a file there (sha256; only files of a size some tracked file has are hashed)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engine.fileio import sha256_file
from tests.conftest import ROOT, SHARED_DATA


def tracked_files(root: Path) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    return [root / name for name in out.decode().split("\0") if name and (root / name).is_file()]


def test_no_tracked_file_is_a_copy_of_shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data at {SHARED_DATA}: nothing to compare the tracked files with")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no tracked files")
    by_size: dict[int, list[Path]] = {}
    for p in tracked_files(ROOT):
        size = p.stat().st_size
        if size:  # empty files are all alike
            by_size.setdefault(size, []).append(p)
    tracked_sha: dict[Path, str] = {}
    copies = []
    for folder, _dirs, files in os.walk(SHARED_DATA):
        for name in files:
            q = Path(folder) / name
            same_size = by_size.get(q.stat().st_size)
            if not same_size:
                continue
            digest = sha256_file(q)
            for p in same_size:
                if p not in tracked_sha:
                    tracked_sha[p] = sha256_file(p)
                if tracked_sha[p] == digest:
                    copies.append(f"{p.relative_to(ROOT)} = {q}")
    assert not copies, "tracked files that are copies of ../shared/data:\n" + "\n".join(copies)
