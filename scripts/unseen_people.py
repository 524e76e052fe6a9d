"""Issue 28: the training file's people that a ``--subset N`` run never saw, as validation sets.

    python scripts/unseen_people.py data/recipe/train.json 4800 data/wise/unseen [LSP_MAX [SEED]]

``engine.train --subset N --seed S`` trains on the people of a seeded random N images
(``engine.data.coco.select``). The rest of the training file was never shown to that run, and
the held-out sets (val-*.json) must not be used to choose between models. This writes the rest,
by source, as COCO files: PREFIX-lsp.json (Leeds Sports Pose), PREFIX-coco.json (COCO-MINI)
and PREFIX-clips.json (teacher-labelled clip frames), for choosing a setting (e.g. the WiSE-FT
alpha, ``engine.interpolate``) on people neither model trained on. LSP_MAX (default 1000) keeps
a seeded random sample of that many Leeds Sports Pose images, to keep evaluations short.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, as the other scripts

from engine.data import coco as cocolib  # noqa: E402
from engine.fileio import write_json  # noqa: E402
from engine.training.train import build_parser, load_people  # noqa: E402

SOURCES = {"lsp": "lsp-images/", "coco": "coco-mini/", "clips": "pseudo-clips/"}


def main(src: str, subset: str, prefix: str, lsp_max: str = "1000", seed: str = "0") -> int:
    data = cocolib.read_json(src)
    images_dir = Path(src).parent
    # the people engine.train --subset N --seed S trains on, chosen by its own code and defaults
    args = build_parser().parse_args(["--model", "dilated", "--train-ann", src, "--train-images", str(images_dir),
                                      "--epochs", "1", "--out", "unused", "--subset", subset, "--seed", seed])
    chosen = {p.image_id for p in load_people(src, images_dir, args, None, args.subset)[1]}
    for name, folder in SOURCES.items():
        images = [im for im in data["images"]
                  if im["id"] not in chosen and im["file_name"].startswith(folder)]
        if name == "lsp" and len(images) > int(lsp_max):
            images = random.Random(int(seed)).sample(images, int(lsp_max))
        ids = {im["id"] for im in images}
        out = {**data, "images": images, "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}
        write_json(f"{prefix}-{name}.json", out)
        print(f"{prefix}-{name}.json: {len(images)} images, {len(out['annotations'])} people")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5, 6):
        print(__doc__.strip().split("\n\n")[1].strip(), file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(*sys.argv[1:]))
