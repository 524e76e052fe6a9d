"""A Hugging Face Space refuses plain files over 10 MB: every tracked file over that size must match
a Git LFS rule of ``.gitattributes`` (the weights, ONNX models and videos)."""
from __future__ import annotations

import subprocess

from tests.apphelpers import ROOT

LIMIT = 10 * 2**20


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def lfs_misses(paths: list[str]) -> list[str]:
    """The files among ``paths`` (repository-relative) that no LFS rule of .gitattributes covers."""
    if not paths:
        return []
    out = _git("check-attr", "filter", "--", *paths)
    return [line.split(": filter: ")[0] for line in out.splitlines() if not line.endswith(": filter: lfs")]


def test_every_tracked_file_over_10_mb_is_under_an_lfs_rule():
    big = [p for p in _git("ls-files", "-z").split("\0") if p and (ROOT / p).is_file()
           and (ROOT / p).stat().st_size > LIMIT]
    assert "weights/resnet18.safetensors" in big  # the check sees the big files (30 MB)
    assert lfs_misses(big) == []


def test_a_big_file_of_another_kind_would_be_caught():
    assert lfs_misses(["weights/model.bin", "bench/big.json"]) == ["weights/model.bin", "bench/big.json"]
    assert lfs_misses(["weights/x.safetensors", "weights/detector/y.onnx", "assets/demo/clips/z.mp4"]) == []
