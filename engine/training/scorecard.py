"""The shipped models' report card, measured side by side with MediaPipe in one run.

    python -m engine.scorecard [--models ...] [--work data/recipe] [--clips ../shared/data/clips]
                               [--finders auto|detector|search ...] --out weights/scorecard.json

For each model (and MediaPipe, the teacher):
- ``clip_pck@0.05``: agreement with the teacher on the held-out clips (``engine.recipe``'s
  leave-clip-out split): the full video path (search, tracking, smoothing) against MediaPipe's
  joints wherever the teacher is confident, a joint counting as correct within 0.05 x the
  frame's longer side;
- ``clip_box_pck@0.05``: the model alone on the same held-out clip frames, each cropped by
  the teacher's box (no search, no tracking), PCK@0.05 with the engine's definition against
  the teacher's confident joints: what the model can do when the crop is right, so that the
  two figures together tell a model's errors from the tracker's;
- ``coco_pck@0.05``: PCK@0.05 with the engine's definition (``engine.training.metrics``) on the
  held-out human-labelled COCO-MINI people; MediaPipe runs on the same evaluation crops (the
  GT box enlarged 1.25x), and a person it misses counts as wrong;
- ``reps``: the repetition count on every clip of ``clips.json`` beside the person's count;
- ``reps_in_time``: how many of MediaPipe's repetitions (right on every clip) a model's
  coincide with in time (``matched_reps``): a count can be right by chance, with one rep split
  in two and another missed;
- ``searches`` / ``detector_calls``: per clip, how often the video path searched the frame with
  the model (no detector) or ran the person detector.
With several ``--finders`` each model is scored once per way of finding the athlete (named
"MODEL (FINDER)"): the before/after of the person detector with the same weights, in one run.
Writes JSON and a markdown table (same name, ``.md``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.argtypes import positive_int
from engine.data import coco as cocolib
from engine.video.pipeline import MEDIAPIPE, make_predictor, mediapipe_available, predict
from engine.video.predict import FINDERS
from engine.fileio import write_json, write_text
from engine.geometry import BOX_PADDING, Crop
from .metrics import pck
from engine.data.pseudolabel import VISIBLE
from .recipe import HELD_OUT_CLIPS, ROOT, fmt3

CROP_SIDE = 384  # MediaPipe sees each COCO person at this longer side


def clip_agreement(series, teacher) -> dict:
    """PCK@0.05 of a series against the teacher's series (same frames), frame-size threshold."""
    thr = 0.05 * max(teacher.frame_size)
    n = min(len(series), len(teacher))
    ok = teacher.confidence[:n] >= VISIBLE
    d = np.linalg.norm(series.keypoints[:n] - teacher.keypoints[:n], axis=-1)
    good = np.where(np.isfinite(d), d <= thr, False) & ok
    return {"correct": int(good.sum()), "counted": int(ok.sum())}


#: A model's repetition coincides with the teacher's when their intervals overlap by at least
#: this intersection over union.
REP_IOU = 0.5


def matched_reps(ours: list, theirs: list, min_iou: float = REP_IOU) -> int:
    """How many of the intervals ``theirs`` ([start_s, end_s] each) one of ``ours`` matches,
    one to one, with an intersection over union of at least ``min_iou`` (greedy, best first)."""
    pairs = []
    for i, (a0, a1) in enumerate(ours):
        for j, (b0, b1) in enumerate(theirs):
            inter = max(0.0, min(a1, b1) - max(a0, b0))
            union = max(a1, b1) - min(a0, b0)
            if union > 0 and inter / union >= min_iou:
                pairs.append((inter / union, i, j))
    used_i, used_j = set(), set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
    return len(used_j)


def pck_by_knee(pred: np.ndarray, people: list) -> dict:
    """PCK@0.05 (engine definition) of predictions (N, 6, 2) split by the people's knee bend
    (``engine.data.dataset.pose_bins``: the labels' smaller knee angle): "deep" (under 100 deg)
    and "not deep" (100 deg or more), with how many people each holds."""
    from engine.data.dataset import POSE_BIN_NAMES, pose_bins
    bins = pose_bins(people)
    gt = np.stack([q.keypoints for q in people])
    lab = np.stack([q.labeled for q in people])
    boxes = np.array([q.bbox for q in people])
    deep = bins == POSE_BIN_NAMES.index("deep")
    legs = bins != POSE_BIN_NAMES.index("no full leg")
    out = {}
    for name, m in (("deep", deep), ("not deep", legs & ~deep)):
        out[name] = {"pck": pck(pred[m], gt[m], lab[m], boxes[m], 0.05)["pck"] if m.any() else None,
                     "people": int(m.sum())}
    return out


def mediapipe_on_people(people, images_dir) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe (still-image mode) on each person's evaluation crop -> (N, 6, 2) image px."""
    import mediapipe as mp
    from engine.data.dataset import read_image
    from engine.video.mediapipe_pose import BLAZEPOSE_LOWER_BODY
    preds = np.full((len(people), 6, 2), np.nan)
    found = np.zeros(len(people), bool)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for i, p in enumerate(people):
            w, h = p.bbox[2] * BOX_PADDING, p.bbox[3] * BOX_PADDING
            k = CROP_SIDE / max(w, h)
            size = (max(32, int(round(w * k))), max(32, int(round(h * k))))
            crop = Crop.from_box(p.bbox, size)
            patch = crop.warp(read_image(Path(images_dir) / p.file_name))
            res = pose.process(patch)
            if res.pose_landmarks is None:
                continue
            lm = res.pose_landmarks.landmark
            xy = np.array([[lm[j].x * size[0], lm[j].y * size[1]] for j in BLAZEPOSE_LOWER_BODY])
            preds[i] = crop.to_image(xy)
            found[i] = True
    return preds, found


def main(argv=None) -> int:
    from engine.models.weights import shipped_weights
    p = argparse.ArgumentParser(prog="python -m engine.scorecard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", help="models to score (default: every shipped model)")
    p.add_argument("--work", default="data/recipe", help="the recipe's working folder (held-out sets)")
    p.add_argument("--clips", default=str(ROOT.parent / "shared" / "data" / "clips"), help="clips folder with clips.json")
    p.add_argument("--threads", type=positive_int, default=2, help="CPU threads")
    p.add_argument("--finders", nargs="+", choices=FINDERS, default=["auto"],
                   help="how the heatmap models find the athlete: auto (the person detector when "
                        "available, else the search), detector, search (no detector); several: "
                        "each model is scored with each, side by side (default: auto)")
    p.add_argument("--out", default="weights/scorecard.json", help="JSON output (and .md beside it)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    finders = list(dict.fromkeys(args.finders))
    models = [(m, f) for m in (args.models or list(shipped_weights())) for f in finders]
    if mediapipe_available():
        models = models + [(MEDIAPIPE, None)]
    clips = Path(args.clips)
    manifest = json.loads((clips / "clips.json").read_text())["clips"]
    work = Path(args.work)
    val = cocolib.load(work / "val-coco.json", work)
    people = [q for q in val.people if q.flags.n_labeled > 0]
    gt = np.stack([q.keypoints for q in people])
    lab = np.stack([q.labeled for q in people])
    boxes = np.array([q.bbox for q in people])
    clip_val = cocolib.load(work / "val-clips.json", work)
    # only the teacher's confident joints (v=2) count, as in clip_pck@0.05
    clip_people = [dataclasses.replace(q, visibility=np.where(q.visibility >= 2, 2, 0))
                   for q in clip_val.people if (q.visibility >= 2).any()]
    teacher = {}
    card = {"held_out_clips": list(HELD_OUT_CLIPS), "coco_people": len(people), "models": {}}
    for name, finder in models:
        pred = make_predictor(name, device="cpu", finder=finder or "auto")
        row = {"reps": {}, "rep_times": {}, "fps": {}, "searches": {}, "detector_calls": {}}
        agree = {"correct": 0, "counted": 0}
        for c in manifest:
            s = predict(clips / c["file"], pred)
            from engine.analysis import analyze_series
            report = analyze_series(s)
            row["reps"][c["file"]] = report.reps
            row["rep_times"][c["file"]] = [[round(r["start_s"], 2), round(r["end_s"], 2)]
                                           for r in report.rep_details]
            row["fps"][c["file"]] = s.meta.get("fps_processed")
            row["searches"][c["file"]] = s.meta.get("searches")
            row["detector_calls"][c["file"]] = s.meta.get("detector_calls")
            row["person_finder"] = s.meta.get("person_finder")
            if c["file"] in HELD_OUT_CLIPS:
                if c["file"] not in teacher:
                    teacher[c["file"]] = predict(clips / c["file"], make_predictor(MEDIAPIPE, smooth=False))
                a = clip_agreement(s, teacher[c["file"]])
                agree = {k: agree[k] + a[k] for k in agree}
        row["clip_pck@0.05"] = agree["correct"] / agree["counted"] if agree["counted"] else None
        wrong = [c for c in manifest if abs(row["reps"][c["file"]] - c["reps"]) > c.get("reps_tolerance", 0)]
        row["reps_match"] = len(manifest) - len(wrong)
        row["reps_wrong"] = {c["file"]: {"counted": row["reps"][c["file"]], "person": c["reps"]} for c in wrong}
        if name == MEDIAPIPE:
            xy, found = mediapipe_on_people(people, work)
            row["coco_missed_people"] = int((~found).sum())
        else:
            from .evaluate import evaluate_people
            from engine.models.weights import codec_for, load_model
            model, meta = load_model(shipped_weights()[name])
            r = evaluate_people(model, people, work, codec_for(meta), val.dataset, progress=False)
            xy = None
            row["coco_pck@0.05"] = r["pck@0.05"]
            r = evaluate_people(model, clip_people, work, codec_for(meta), clip_val.dataset,
                                progress=False, keep_predictions=True)
            row["clip_box_pck@0.05"] = r["pck@0.05"]
            row["clip_box_pck@0.05_by_knee"] = pck_by_knee(r["predictions"], clip_people)
        if xy is not None:
            row["coco_pck@0.05"] = pck(xy, gt, lab, boxes, 0.05)["pck"]
        label = name if len(finders) == 1 or finder is None else f"{name} ({finder})"
        card["models"][label] = row
        print(label, json.dumps({k: v for k, v in row.items()
                                 if k not in ("reps", "rep_times", "fps", "searches", "detector_calls")}),
              flush=True)
    card["clips"] = {c["file"]: c["reps"] for c in manifest}
    if MEDIAPIPE in card["models"]:
        ref = card["models"][MEDIAPIPE]["rep_times"]
        card["teacher_reps"] = sum(len(v) for v in ref.values())
        for row in card["models"].values():
            row["reps_in_time_by_clip"] = {c: matched_reps(row["rep_times"][c], ref[c]) for c in ref}
            row["reps_in_time"] = sum(row["reps_in_time_by_clip"].values())
            row["teacher_reps"] = card["teacher_reps"]
    scored = {n: r for n, r in card["models"].items() if n != MEDIAPIPE}
    shipping = not args.models and len(finders) == 1  # every shipped model, the shipped way
    if scored and shipping:  # every shipped model scored: name the best the default
        card["default"] = best_model(scored)
        write_text(weights_dir() / "default.txt", card["default"] + "\n")
    write_json(args.out, card)
    if shipping:
        from .recipe import write_card
        from engine.models.weights import read_sidecar
        for name, row in scored.items():
            path = shipped_weights()[name]
            write_card(name, read_sidecar(path), path.with_suffix(".md"), row)
    write_text(Path(args.out).with_suffix(".md"), table(card) + "\n")
    print(table(card))
    return 0


def weights_dir() -> Path:
    from engine.models.weights import WEIGHTS_DIR
    return Path(WEIGHTS_DIR)


def best_model(rows: dict) -> str:
    """The default model: most clips counted right, then agreement with the teacher on the
    held-out clips, then PCK on the held-out COCO people."""
    key = lambda n: (rows[n]["reps_match"], rows[n].get("clip_pck@0.05") or 0.0,  # noqa: E731
                     rows[n].get("coco_pck@0.05") or 0.0)
    return max(rows, key=key)


def table(card: dict) -> str:
    names = list(card["models"])
    f = fmt3
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             "| PCK@0.05 vs teacher, held-out clips | " + " | ".join(f(card["models"][n].get("clip_pck@0.05")) for n in names) + " |",
             "| PCK@0.05 vs teacher, held-out clip frames in the teacher's box | " + " | ".join(f(card["models"][n].get("clip_box_pck@0.05")) for n in names) + " |"]
    by_knee = [card["models"][n].get("clip_box_pck@0.05_by_knee") or {} for n in names]
    for key, words in (("deep", "deep squats (knee under 100°)"), ("not deep", "standing to bent (knee 100° or more)")):
        people = next((b[key]["people"] for b in by_knee if key in b), None)
        if people is not None:
            lines.append(f"| ... of them {words}, {people} frames | " + " | ".join(f(b.get(key, {}).get("pck")) for b in by_knee) + " |")
    lines += [f"| PCK@0.05 on {card['coco_people']} held-out COCO-MINI people | " + " | ".join(f(card["models"][n].get("coco_pck@0.05")) for n in names) + " |",
              "| clips with the right rep count | " + " | ".join(f"{card['models'][n]['reps_match']} / {len(card['clips'])}" for n in names) + " |"]
    if "teacher_reps" in card:
        lines.append(f"| MediaPipe's reps matched in time (interval IoU ≥ {REP_IOU}) | "
                     + " | ".join(f"{card['models'][n].get('reps_in_time')} / {card['teacher_reps']}" for n in names) + " |")
    held_out = set(card.get("held_out_clips", []))
    for clip, expected in card["clips"].items():
        tag = ", held out" if clip in held_out else ""  # the others were trained on (pseudo-labels)
        lines.append(f"| reps `{clip}` (person: {expected}{tag}) | " + " | ".join(str(card["models"][n]["reps"][clip]) for n in names) + " |")
    for clip in card["clips"]:
        cells = []
        for n in names:
            row = card["models"][n]
            srch, det = (row.get(k, {}).get(clip) for k in ("searches", "detector_calls"))
            cells.append("–" if srch is None and det is None else f"{srch or 0} / {det or 0}")
        if any(c != "–" for c in cells):
            lines.append(f"| searches / detector calls `{clip}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
