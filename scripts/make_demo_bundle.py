"""Build the demo bundle in ``assets/demo/``: what a Space visitor tries without data of their own.

    python scripts/make_demo_bundle.py [--out assets/demo] [--clip-from ../shared/data]

Nothing in the bundle is a copy of a file in ``../shared/data``:

- ``clips/gym-side-two-squats.mp4``: a re-encoded cut of ``clips-unlabelled/side-gym-portrait.mp4``
  (MIT, rohanx01/Squat-Analysis-Model : squat.mp4): its two squats (6.5-19.5 s), 360x640,
  15 frames/s, no sound, H.264 yuv420p with the index up front, so that browsers play it and
  the default model analyses it in seconds. ffmpeg is imageio-ffmpeg's. Remade only with
  ``--clip-from DIR`` (the shared data folder holding the source); otherwise the committed clip
  is the input of the rest.
- ``coco/``: the Review tab's sample, made from that clip alone (no ``../shared`` needed):
  ``FRAMES`` frames of it, some whole, some cut (the legs out of the picture) or scaled down
  (a far-away person), as JPEGs; their people in COCO person-keypoints format. The athlete's
  17 COCO keypoints come from the teacher (MediaPipe BlazePose full, inside the mediapipe
  wheel, on the whole frame, ``engine.data.pseudolabel``'s mapping and thresholds; joints the
  cut leaves out are unlabelled, v=0) with its confidences in ``keypoint_scores``; the person
  filming, seen in the mirror wall, is boxed by hand (``HAND_BOXES``) with no joint labelled.
  The script checks that the sample shows the Review flags ``NEEDED``.
- ``README.md``: sources, licences and how each file was made.

Needs ``requirements-mediapipe.txt``. Every file is written to a temporary name and renamed
into place; the sources are only read.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from engine.data import coco  # noqa: E402
from engine.data.pseudolabel import ABSENT, VISIBLE, coco_category, landmarks_to_annotation  # noqa: E402
from engine.fileio import atomic_path, write_json, write_text  # noqa: E402

CLIP_SOURCE = "clips-unlabelled/side-gym-portrait.mp4"
CLIP_NAME = "gym-side-two-squats.mp4"
CLIP_START_S, CLIP_END_S, CLIP_FPS, CLIP_HEIGHT, CLIP_CRF = 6.5, 19.5, 15, 640, 26
ANN_NAME = "person_keypoints_demo.json"
JPEG_QUALITY = 90
TEACHER = "mediapipe"
#: The sample's images: (clip frame, what is kept of it, why). "whole"; ("top", ROWS): only the
#: frame's first ROWS rows (the legs cut off); ("scale", F): the frame scaled by F.
FRAMES = (
    (0, "whole", "standing, bar on the back"),
    (60, "whole", "bottom of the first squat; the person filming is in the mirror wall"),
    (105, "whole", "going down into the second squat"),
    (150, "whole", "bottom of the second squat"),
    (30, ("top", 400), "cut below the hips: knees and ankles out of the picture"),
    (120, ("top", 340), "cut above the hips: no lower-body joint in the picture"),
    (180, ("scale", 0.2), "scaled to a fifth: a far-away person"),
)
#: People boxed by hand, no joint labelled: clip frame -> [x, y, w, h] boxes in frame pixels
#: (read off the frame drawn with a 10-pixel grid). Frame 60: the visible part of the person
#: filming, seen in the mirror wall behind the athlete; the legs are hidden behind the athlete.
HAND_BOXES = {60: ([144, 264, 29, 78],)}
#: The flags the sample must show. Not crowd (the clip has none) nor all visible: in this side
#: view the teacher is never sure of the far knee (v=1), so nobody has all six visible.
NEEDED = ("none_labeled", "some_missing", "all_labeled", "any_occluded", "low_confidence", "small_box")

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


def image_name(frame: int, keep) -> str:
    tail = "" if keep == "whole" else f"-{keep[0]}"
    return f"gym-side-f{frame:03d}{tail}.jpg"


def cut(frame_rgb: np.ndarray, xy: np.ndarray, keep) -> tuple[np.ndarray, np.ndarray]:
    """The kept picture of a frame and the landmark positions ``xy`` (N, 2) moved onto it."""
    if keep == "whole":
        return frame_rgb, xy
    kind, value = keep
    if kind == "top":
        return frame_rgb[:value], xy
    if kind == "scale":
        h, w = frame_rgb.shape[:2]
        size = (round(w * value), round(h * value))
        return cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA), xy * value
    raise ValueError(f"unknown cut {keep!r}")


def read_frames(clip: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    from engine.video.reader import open_video
    got = {}
    with open_video(clip) as video:
        for i, frame in video.frames():
            if i in wanted:
                got[i] = frame
            if len(got) == len(wanted):
                break
    missing = sorted(wanted - set(got))
    if missing:
        raise SystemExit(f"{clip}: frames {missing} are not in the clip")
    return got


def make_coco(clip: Path, out: Path) -> tuple[dict, dict]:
    """Write ``out/images/*.jpg`` and ``out/annotations/ANN_NAME``; (the file's data, flag summary)."""
    from engine.video.blazepose_models import teacher_complexity, teacher_description
    from engine.video.mediapipe_pose import MediaPipePose

    frames = read_frames(clip, {f for f, _, _ in FRAMES})
    images, anns = [], []
    with MediaPipePose.for_teacher(TEACHER, static_image_mode=True) as teacher:
        for frame_index, keep, why in FRAMES:
            frame = frames[frame_index]
            lm = teacher.landmarks(frame)
            if lm is None:
                raise SystemExit(f"the teacher found nobody in frame {frame_index}")
            picture, xy = cut(frame, lm[:, :2], keep)
            h, w = picture.shape[:2]
            image_id = len(images) + 1
            name = image_name(frame_index, keep)
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            with atomic_path(out / "images" / name) as tmp:
                tmp.write_bytes(buf.tobytes())
            images.append({"id": image_id, "file_name": name, "width": w, "height": h, "license": 1,
                           "video": CLIP_NAME, "frame": frame_index,
                           "cut": keep if keep == "whole" else list(keep), "note": why})
            ann = landmarks_to_annotation(xy, lm[:, 2], (w, h))
            if ann is None:
                raise SystemExit(f"frame {frame_index}: the teacher's person cannot be boxed")
            anns.append({"id": len(anns) + 1, "image_id": image_id, **ann, "made_by": "teacher"})
            for box in HAND_BOXES.get(frame_index, ()):
                anns.append({"id": len(anns) + 1, "image_id": image_id, "bbox": list(box),
                             "area": float(box[2] * box[3]), "iscrowd": 0, "category_id": 1,
                             "keypoints": [0] * 51, "num_keypoints": 0, "made_by": "hand"})
    data = {"info": {"description": "SquatPose demo sample: frames of the demo clip "
                                    f"{CLIP_NAME} with their people",
                     "made_by": "scripts/make_demo_bundle.py",
                     "teacher": f"{TEACHER}: {teacher_description(teacher_complexity(TEACHER))}",
                     "thresholds": {"visible": VISIBLE, "absent": ABSENT}},
            "licenses": [{"id": 1, "name": "MIT License (the clip's; Copyright (c) 2024 Rohan Kumar)",
                          "url": "https://github.com/rohanx01/Squat-Analysis-Model"}],
            "images": images, "annotations": anns, "categories": [coco_category()]}
    write_json(out / "annotations" / ANN_NAME, data, indent=1)
    people = coco.load(out / "annotations" / ANN_NAME, out / "images")
    summary = coco.summarize(people.people, len(people.crowd))
    lacking = [k for k in NEEDED if not summary[k]]
    if lacking:
        raise SystemExit(f"the sample shows no {', '.join(lacking)}")
    return data, summary


def readme(data: dict, summary: dict) -> str:
    made = {}
    for a in data["annotations"]:
        made.setdefault(a["image_id"], []).append(a["made_by"])
    rows = "\n".join(
        f"| `{im['file_name']}` | {im['frame']} | "
        f"{'whole' if im['cut'] == 'whole' else ('first %d rows' % im['cut'][1] if im['cut'][0] == 'top' else 'scaled by %g' % im['cut'][1])} "
        f"({im['width']}x{im['height']}) | {im['note']} | {', '.join(made.get(im['id'], []))} |"
        for im in data["images"])
    return f"""# Demo bundle: what a Space visitor can try with nothing of their own

Made by `python scripts/make_demo_bundle.py` (the script says how; do not edit these files by
hand). Nothing here is a copy of a file in `../shared/data`, and no COCO image or annotation
is in it. The app falls back to it when nothing else is configured: the Compare tab offers
`clips/` as examples unless `SQUATPOSE_EXAMPLES` names a folder of clips, and the Review tab
opens `coco/` unless `SQUATPOSE_COCO_ANN` / `SQUATPOSE_COCO_IMAGES` are set (or
`../shared/data/coco-mini` is there).

## clips/{CLIP_NAME}

Two barbell back squats filmed from the side in a gym (portrait). Cut from `squat.mp4` of
the GitHub repository [rohanx01/Squat-Analysis-Model](https://github.com/rohanx01/Squat-Analysis-Model)
(seconds {CLIP_START_S}-{CLIP_END_S}, re-encoded to {CLIP_HEIGHT} px high, {CLIP_FPS} frames/s, no sound;
`python scripts/make_demo_bundle.py --clip-from ../shared/data` remakes it),
which is published under the MIT licence; its notice is in `clips/LICENSE`:
Copyright (c) 2024 Rohan Kumar.

## coco/

`images/`: {len(data['images'])} frames of `clips/{CLIP_NAME}` (decoded from the committed clip,
JPEG quality {JPEG_QUALITY}), some cut or scaled down so that the Review tab has incomplete
people to show. They are frames of the MIT-licensed clip above, under the same licence and
notice (`clips/LICENSE`, Copyright (c) 2024 Rohan Kumar).

`annotations/{ANN_NAME}`: their people in COCO person-keypoints format, made by this project:

- `made_by: teacher`: the athlete's 17 COCO keypoints as MediaPipe BlazePose full (the
  `mediapipe` wheel's model, static-image mode) places them on the whole frame, mapped and
  thresholded as `python -m engine.pseudolabel` does (v=2 at a confidence of at least
  {VISIBLE}, v=1 at least {ABSENT}, else v=0; a joint outside the kept picture is v=0), with
  the confidences in `keypoint_scores`. Nobody checked them joint by joint: they are a
  model's guesses, which is what the Review tab is for.
- `made_by: hand`: the person filming, seen in the mirror wall of frame 60, boxed by hand
  (the visible part; the legs are hidden behind the athlete); no joint labelled.

{summary['person_annotations']} people: {summary['none_labeled']} with none of the six lower-body
joints labelled, {summary['some_missing']} with some missing, {summary['all_labeled']} complete
({summary['all_visible']} all visible), {summary['any_occluded']} with an occluded joint,
{summary['low_confidence']} with a low-confidence joint, {summary['small_box']} small boxes, no crowd region.
In this side view the teacher is never sure of the far knee (v=1), so nobody has all six visible.

| image | clip frame | kept | what it shows | people |
|---|---|---|---|---|
{rows}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "demo", help="bundle folder")
    ap.add_argument("--clip-from", type=Path, metavar="SHARED_DATA",
                    help=f"remake the clip from SHARED_DATA/{CLIP_SOURCE} (default: keep the "
                         "committed clip and build the rest from it)")
    a = ap.parse_args(argv)
    clip = a.out / "clips" / CLIP_NAME
    if a.clip_from is not None:
        src = a.clip_from / CLIP_SOURCE
        if not src.is_file():
            raise SystemExit(f"{src}: not found (pass --clip-from DIR)")
        make_clip(src, clip)
    elif not clip.is_file():  # a fresh --out: start from the committed clip
        committed = ROOT / "assets" / "demo" / "clips" / CLIP_NAME
        with atomic_path(clip) as tmp:
            shutil.copyfile(committed, tmp)
    write_text(a.out / "clips" / "LICENSE", CLIP_LICENSE)
    data, summary = make_coco(clip, a.out / "coco")
    write_text(a.out / "README.md", readme(data, summary))
    size = sum(p.stat().st_size for p in a.out.rglob("*") if p.is_file())
    print(f"wrote {a.out}: {size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
