"""Build the demo bundle in ``assets/demo/``: what a Space visitor tries without data of their own.

    python scripts/make_demo_bundle.py [--shared ../shared/data] [--out assets/demo]

- ``clips/gym-side-two-squats.mp4``: ``clips-unlabelled/side-gym-portrait.mp4`` (MIT,
  rohanx01/Squat-Analysis-Model : squat.mp4) cut to its two squats (6.5-19.5 s), 360x640,
  15 frames/s, no sound, H.264 yuv420p with the index up front, so that browsers play it and
  the default model analyses it in seconds. ffmpeg is imageio-ffmpeg's.
- ``coco/``: ten COCO-MINI images (copied byte for byte) with all their annotations, chosen to
  show every Review flag (complete, all visible, some joints missing, none labelled,
  occluded, small box, crowd), each under a Flickr licence that allows redistribution
  including commercial use (CC BY / BY-SA / BY-ND 2.0). The annotation file keeps COCO's
  ``info``, ``licenses`` and ``categories`` and each image's ``license``, ``flickr_url`` and
  ``coco_url``.
- ``README.md``: sources and licences, one row per image (written from the annotation file).

Every file is written to a temporary name and renamed into place; the sources are only read.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data import coco  # noqa: E402
from engine.fileio import atomic_path, write_text  # noqa: E402

CLIP_SOURCE = "clips-unlabelled/side-gym-portrait.mp4"
CLIP_NAME = "gym-side-two-squats.mp4"
CLIP_START_S, CLIP_END_S, CLIP_FPS, CLIP_HEIGHT, CLIP_CRF = 6.5, 19.5, 15, 640, 26
COCO_ANN = "coco-mini/annotations/person_keypoints_train2017.json"
COCO_IMAGES = "coco-mini/train2017"
ANN_NAME = "person_keypoints_demo.json"
#: COCO image ids: all of COCO-MINI's images with people under CC BY / BY-SA / BY-ND 2.0 but one
#: (433998: thirteen more small unlabelled people), together showing every flag.
IMAGE_IDS = (790, 125870, 129648, 174375, 231460, 234748, 252639, 256353, 442450, 466137)
#: COCO licence ids whose terms allow redistributing the unchanged image, commercially too.
REDISTRIBUTABLE = {4, 5, 6, 7, 8}

CLIP_LICENSE = """MIT License

Copyright (c) 2024 Rohan Kumar

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def make_clip(source: Path, out: Path) -> None:
    import imageio_ffmpeg
    with atomic_path(out) as tmp:
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
               "-ss", str(CLIP_START_S), "-to", str(CLIP_END_S), "-i", str(source),
               "-vf", f"fps={CLIP_FPS},scale=-2:{CLIP_HEIGHT}", "-an", "-map_metadata", "-1",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(CLIP_CRF), "-preset", "slow",
               "-threads", "1", "-fflags", "+bitexact", "-movflags", "+faststart", "-f", "mp4",
               str(tmp)]
        subprocess.run(cmd, check=True)


def make_coco(ann: Path, images: Path, out: Path) -> dict:
    data = coco.read_json(ann)
    by_id = {im["id"]: im for im in data["images"]}
    missing = [i for i in IMAGE_IDS if i not in by_id]
    if missing:
        raise SystemExit(f"{ann}: images {missing} are not in the file")
    for i in IMAGE_IDS:
        if by_id[i]["license"] not in REDISTRIBUTABLE:
            raise SystemExit(f"image {i} has licence {by_id[i]['license']}, not one that allows redistribution")
    keep = [a["id"] for a in data["annotations"] if a["image_id"] in IMAGE_IDS]
    (out / "images").mkdir(parents=True, exist_ok=True)
    for i in IMAGE_IDS:
        name = by_id[i]["file_name"]
        with atomic_path(out / "images" / name) as tmp:
            shutil.copyfile(images / name, tmp)
    coco.export(data, keep, out / "annotations" / ANN_NAME)  # keeps info, licenses, categories
    people = coco.load(out / "annotations" / ANN_NAME, out / "images")
    summary = coco.summarize(people.people, len(people.crowd))
    needed = ("none_labeled", "some_missing", "all_labeled", "all_visible", "any_occluded",
              "small_box", "crowd")
    lacking = [k for k in needed if not summary[k]]
    if lacking:
        raise SystemExit(f"the chosen images show no {', '.join(lacking)}")
    return summary


def flickr_page(flickr_url: str) -> str:
    """The photo page of a Flickr static-image address (its file name starts with the photo id)."""
    photo_id = flickr_url.rsplit("/", 1)[-1].split("_", 1)[0]
    return f"https://www.flickr.com/photo.gne?id={photo_id}"


def readme(data: dict, summary: dict) -> str:
    lic = {l["id"]: l for l in data["licenses"]}
    rows = "\n".join(
        f"| `{im['file_name']}` | [{lic[im['license']]['name']}]({lic[im['license']]['url']}) "
        f"| [photo page]({flickr_page(im['flickr_url'])}) | {im['flickr_url']} | {im['coco_url']} |"
        for im in sorted(data["images"], key=lambda im: im["file_name"]))
    return f"""# Demo bundle: what a Space visitor can try with nothing of their own

Made by `python scripts/make_demo_bundle.py` from `../shared/data` (the script says how; do not
edit these files by hand). The app falls back to it when nothing else is configured: the
Compare tab offers `clips/` as examples unless `SQUATPOSE_EXAMPLES` names a folder of clips,
and the Review tab opens `coco/` unless `SQUATPOSE_COCO_ANN` / `SQUATPOSE_COCO_IMAGES` are set.

## clips/{CLIP_NAME}

Two barbell back squats filmed from the side in a gym (portrait). Cut from `squat.mp4` of
the GitHub repository [rohanx01/Squat-Analysis-Model](https://github.com/rohanx01/Squat-Analysis-Model)
(seconds {CLIP_START_S}-{CLIP_END_S}, re-encoded to {CLIP_HEIGHT} px high, {CLIP_FPS} frames/s, no sound),
which is published under the MIT licence; its notice is in `clips/LICENSE`:
Copyright (c) 2024 Rohan Kumar.

## coco/

`annotations/{ANN_NAME}`: every annotation of {len(data['images'])} images of the COCO 2017
train set (as in COCO-MINI), unchanged, with COCO's `info`, `licenses` and `categories`.
The annotations are © COCO Consortium under
[CC BY 4.0](https://creativecommons.org/licenses/by/4.0/) (https://cocodataset.org).
{summary['person_annotations']} people ({summary['crowd']} crowd regions aside): {summary['none_labeled']} with none of
the six lower-body joints labelled, {summary['some_missing']} with some missing, {summary['all_labeled']} complete
({summary['all_visible']} all visible), {summary['any_occluded']} with an occluded joint, {summary['small_box']} small boxes.

`images/`: the images, byte for byte as COCO distributes them. Each belongs to its Flickr
author under the licence COCO lists for it (the file's `images[].license`); COCO does not
record the authors' names, the photo page (Flickr's own redirect from the photo id in the
file's `flickr_url`) names each one:

| image | licence | author | `flickr_url` | `coco_url` |
|---|---|---|---|---|
{rows}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data",
                    help="the shared data folder (default ../shared/data)")
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "demo", help="bundle folder")
    a = ap.parse_args(argv)
    src = a.shared / CLIP_SOURCE
    for p in (src, a.shared / COCO_ANN, a.shared / COCO_IMAGES):
        if not p.exists():
            raise SystemExit(f"{p}: not found (pass --shared DIR)")
    make_clip(src, a.out / "clips" / CLIP_NAME)
    write_text(a.out / "clips" / "LICENSE", CLIP_LICENSE)
    summary = make_coco(a.shared / COCO_ANN, a.shared / COCO_IMAGES, a.out / "coco")
    data = coco.read_json(a.out / "coco" / "annotations" / ANN_NAME)
    write_text(a.out / "README.md", readme(data, summary))
    size = sum(p.stat().st_size for p in a.out.rglob("*") if p.is_file())
    print(f"wrote {a.out}: {size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
