"""The shipped models' report card, measured side by side with MediaPipe in one run.

    python -m engine.scorecard [--models ...] [--work data/recipe] [--clips ../shared/data/clips]
                               [--finders auto|detector|search ...] [--references ...]
                               --out weights/scorecard.json

For each model (and MediaPipe, the teacher):
- ``clip_pck@0.05``: agreement with the teacher (the recipe's, BlazePose heavy, which also
  labelled the held-out frames; MediaPipe full where heavy is not installed; the card's
  ``clip_teacher``) on the held-out clips (``engine.recipe``'s
  leave-clip-out split): the full video path (search, tracking, smoothing) against MediaPipe's
  joints wherever the teacher is confident, a joint counting as correct within 0.05 x the
  frame's longer side;
- ``clip_box_pck@0.05``: the model alone on the same held-out clip frames, each cropped by
  the teacher's box (no search, no tracking), PCK@0.05 with the engine's definition against
  the teacher's confident joints: what the model can do when the crop is right, so that the
  two figures together tell a model's errors from the tracker's;
- ``coco_pck@0.05``: PCK@0.05 with the engine's definition (``engine.training.metrics``) on the
  held-out human-labelled COCO-MINI people; MediaPipe runs on the same evaluation crops (the
  GT box enlarged 1.25x), and a person it misses counts as wrong (``coco_missed_people``);
- ``lsp_pck@0.05``: the same on the held-out Leeds Sports Pose people (``WORK/val-lsp.json``,
  written by ``engine.recipe data``; left out, with the reason, when absent);
- ``coco_det_pck@0.05`` / ``lsp_det_pck@0.05``: the same people cropped by the person
  detector's boxes instead (``engine.evaluate --boxes detector``'s protocol: the detector runs
  once per set, a person no detection matches counts as wrong; ``detection`` in the card);
- the references beside the models (``--references``): ``mediapipe`` (BlazePose full, the
  clips' teacher: every row), ``mediapipe-heavy`` (BlazePose heavy) and ``movenet-lightning``
  (``engine.video.movenet``, needs ``ai-edge-litert``): the held-out people's rows only; each
  that cannot run here is left out with the reason (``skipped`` in the card);
- ``reps``: the repetition count on every clip of ``clips.json`` beside the person's count;
- ``reps_in_time``: how many of MediaPipe's repetitions (right on every clip) a model's
  coincide with in time (``matched_reps``): a count can be right by chance, with one rep split
  in two and another missed;
- ``searches`` / ``detector_calls``: per clip, how often the video path searched the frame with
  the model (no detector) or ran the person detector.
With several ``--finders`` each model is scored once per way of finding the athlete (named
"MODEL (FINDER)"): the before/after of the person detector with the same weights, in one run.
The clips run through the video path as the app runs them (``make_predictor``'s default
runtime: ONNX Runtime on the CPU); the held-out people through ``engine.evaluate``'s
``evaluate_people`` on PyTorch (equal to four decimals on ONNX Runtime, docs/onnx.md). Writes JSON and a markdown table (same name, ``.md``); the default (``best_model``) goes
to ``weights/default.txt``.
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
    return len(rep_pairs(ours, theirs, min_iou))


def rep_pairs(ours: list, theirs: list, min_iou: float = REP_IOU) -> list[tuple[int, int]]:
    """The pairs (i, j), sorted by i, of intervals ``ours[i]`` and ``theirs[j]`` ([start_s,
    end_s] each) matched one to one with an intersection over union of at least ``min_iou``
    (greedy, best first)."""
    pairs = []
    for i, (a0, a1) in enumerate(ours):
        for j, (b0, b1) in enumerate(theirs):
            inter = max(0.0, min(a1, b1) - max(a0, b0))
            union = max(a1, b1) - min(a0, b0)
            if union > 0 and inter / union >= min_iou:
                pairs.append((inter / union, i, j))
    used_i, used_j, out = set(), set(), []
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out.append((i, j))
    return sorted(out)


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


#: The references scored beside the shipped models: MediaPipe full (the clips' teacher: every
#: row), MediaPipe heavy and MoveNet Lightning (the held-out people's rows only).
MEDIAPIPE_HEAVY = "mediapipe-heavy"
MOVENET = "movenet-lightning"
REFERENCES = (MEDIAPIPE, MEDIAPIPE_HEAVY, MOVENET)
#: The held-out human-labelled sets: key -> (file under WORK, words for the table and cards).
HELD_OUT_PEOPLE = {"coco": ("val-coco.json", "COCO-MINI"), "lsp": ("val-lsp.json", "Leeds Sports Pose")}


def _image(images_dir, file_name, cache: dict) -> np.ndarray:
    from engine.data.dataset import read_image
    if file_name not in cache:  # the people of one image follow each other: keep only the last
        cache.clear()
        cache[file_name] = read_image(Path(images_dir) / file_name)
    return cache[file_name]


def mediapipe_on_people(people, images_dir, complexity: int = 1,
                        progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe (still-image mode; ``complexity`` 1 = full, 2 = heavy) on each person's
    evaluation crop (the box enlarged ``BOX_PADDING`` x, at ``CROP_SIDE`` px on its longer side)
    -> (N, 6, 2) image px (NaN where it found nobody) and found (N,). ``ModelMissing`` when
    the model of that complexity is not installed (heavy: ``python -m engine.teacher install``)."""
    from tqdm import tqdm

    from engine.video.mediapipe_pose import BLAZEPOSE_LOWER_BODY, MediaPipePose
    preds = np.full((len(people), 6, 2), np.nan)
    found = np.zeros(len(people), bool)
    cache: dict = {}
    with MediaPipePose(model_complexity=complexity, static_image_mode=True) as pose:
        for i, p in enumerate(tqdm(people, desc=f"mediapipe ({complexity})", disable=not progress, leave=False)):
            w, h = p.bbox[2] * BOX_PADDING, p.bbox[3] * BOX_PADDING
            k = CROP_SIDE / max(w, h)
            size = (max(32, int(round(w * k))), max(32, int(round(h * k))))
            crop = Crop.from_box(p.bbox, size)
            lm = pose.landmarks(crop.warp(_image(images_dir, p.file_name, cache)))
            if lm is None:
                continue
            preds[i] = crop.to_image(lm[list(BLAZEPOSE_LOWER_BODY), :2])
            found[i] = True
    return preds, found


def movenet_on_people(people, images_dir, net=None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MoveNet Lightning (``engine.video.movenet``) on each person's box enlarged ``BOX_PADDING``
    x and made square, at its 192x192 input -> (N, 6, 2) image px and found (N,): MoveNet
    always answers, so every person counts as found."""
    from tqdm import tqdm

    from engine.video.movenet import INPUT_SIZE, MoveNet
    net = net or MoveNet()
    preds = np.full((len(people), 6, 2), np.nan)
    cache: dict = {}
    for i, p in enumerate(tqdm(people, desc="movenet", disable=not progress, leave=False)):
        crop = Crop.from_box(p.bbox, (INPUT_SIZE, INPUT_SIZE))
        xy, _ = net.lower_body(crop.warp(_image(images_dir, p.file_name, cache)))
        preds[i] = crop.to_image(xy)
    return preds, np.ones(len(people), bool)


def reference_or_reason(name: str) -> tuple[object | None, str | None]:
    """A reference model's people function ``f(people, images_dir, progress) -> (xy, found)``,
    or (None, why it cannot run here)."""
    if name in (MEDIAPIPE, MEDIAPIPE_HEAVY):
        if not mediapipe_available():
            return None, "mediapipe is not installed (optional extra: pip install -r requirements-mediapipe.txt)"
        from engine.video.blazepose_models import ModelMissing, check_model, teacher_complexity
        complexity = teacher_complexity(name)
        try:
            check_model(complexity)
        except ModelMissing as e:
            return None, str(e)
        return (lambda people, d, progress=False: mediapipe_on_people(people, d, complexity, progress)), None
    if name == MOVENET:
        from engine.video.movenet import movenet_or_reason
        net, why = movenet_or_reason(torch.get_num_threads())
        if net is None:
            return None, why
        return (lambda people, d, progress=False: movenet_on_people(people, d, net, progress)), None
    raise ValueError(f"unknown reference {name!r}; choose from {', '.join(REFERENCES)}")


@dataclasses.dataclass
class HeldOutPeople:
    """A held-out set of human-labelled people (``HELD_OUT_PEOPLE``): its key ("coco", "lsp"),
    the people with at least one joint labelled, the folder their file names are relative to,
    the COCO file's dict (for OKS), and the person detector's output on them (``detect``)."""

    key: str
    people: list
    images_dir: Path
    dataset: dict
    detections: object = None  # engine.training.evaluate.Detections

    @classmethod
    def load(cls, key: str, path, images_dir) -> "HeldOutPeople":
        data = cocolib.load(path, images_dir)
        return cls(key, [q for q in data.people if q.flags.n_labeled > 0], Path(images_dir), data.dataset)

    def detect(self, detector, progress: bool = False) -> "HeldOutPeople":
        from .evaluate import detect_people
        self.detections = detect_people(self.people, self.images_dir, detector, progress)
        return self

    def pck(self, xy: np.ndarray) -> float | None:
        gt = np.stack([q.keypoints for q in self.people])
        lab = np.stack([q.labeled for q in self.people])
        boxes = np.array([q.bbox for q in self.people])
        return pck(xy, gt, lab, boxes, 0.05)["pck"]


def score_people(name: str, sets: list, reference=None, progress: bool = False) -> dict:
    """PCK@0.05 (engine definition, ``evaluate_people``'s) of a shipped model or a reference on
    each held-out set of people, on the ground-truth boxes (``{key}_pck@0.05``) and, where the
    set has the detector's output, on the person detector's boxes (``{key}_det_pck@0.05``: the
    top-down protocol of ``engine.evaluate --boxes detector``, a person the detector missed
    counting as wrong). ``reference``: the people function of ``reference_or_reason`` (None: a
    shipped model, loaded by name). For a reference, a person it finds nobody in counts as
    wrong, and ``{key}_missed_people`` / ``{key}_det_missed_people`` count them (in the
    detector's boxes: among the people the detector found)."""
    row = {}
    if reference is None:
        from engine.models.weights import codec_for, flip_test_for, load_model, shipped_weights
        from .evaluate import evaluate_people, evaluate_with_detector
        model, meta = load_model(shipped_weights()[name])
        for s in sets:
            r = evaluate_people(model, s.people, s.images_dir, codec_for(meta), s.dataset, progress=False,
                                flip_test=flip_test_for(meta))
            row[f"{s.key}_pck@0.05"] = r["pck@0.05"]
            if s.detections is not None:
                r = evaluate_with_detector(model, s.people, s.images_dir, codec_for(meta), s.dataset,
                                           progress=False, detections=s.detections,
                                           flip_test=flip_test_for(meta))
                row[f"{s.key}_det_pck@0.05"] = r["pck@0.05"]
        return row
    for s in sets:
        xy, found = reference(s.people, s.images_dir, progress=progress)
        row[f"{s.key}_pck@0.05"] = s.pck(xy)
        row[f"{s.key}_missed_people"] = int((~found).sum())
        det = s.detections
        if det is None:
            continue
        used = np.unique(det.matches[det.found])  # only the crops matched to a labelled person
        crop_xy = np.full((len(det.crops), 6, 2), np.nan)
        crop_found = np.zeros(len(det.crops))
        if len(used):
            xy_d, found_d = reference([det.crops[k] for k in used], s.images_dir, progress=progress)
            crop_xy[used], crop_found[used] = xy_d, found_d
        row[f"{s.key}_det_pck@0.05"] = s.pck(det.per_person(crop_xy))
        row[f"{s.key}_det_missed_people"] = int(np.sum(det.per_person(crop_found) == 0))
    return row


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
    p.add_argument("--references", nargs="*", choices=REFERENCES, default=list(REFERENCES),
                   help="reference models scored beside (default: all three; each one that cannot run "
                        "here is left out with the reason in the card): mediapipe (full: every row), "
                        "mediapipe-heavy and movenet-lightning (the held-out people's rows)")
    p.add_argument("--out", default="weights/scorecard.json", help="JSON output (and .md beside it)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    finders = list(dict.fromkeys(args.finders))
    models = [(m, f) for m in (args.models or list(shipped_weights())) for f in finders]
    card = {"held_out_clips": list(HELD_OUT_CLIPS), "models": {}, "skipped": {}}
    references = {}
    for name in dict.fromkeys(args.references):
        fn, why = reference_or_reason(name)
        if fn is None:
            card["skipped"][name] = why
        else:
            references[name] = fn
    if MEDIAPIPE in references:
        models = models + [(MEDIAPIPE, None)]
    clips = Path(args.clips)
    manifest = json.loads((clips / "clips.json").read_text())["clips"]
    work = Path(args.work)
    sets = []
    for key, (file, words) in HELD_OUT_PEOPLE.items():
        if (work / file).is_file() or key == "coco":  # COCO-MINI's is always there; LSP's since issue 15
            sets.append(HeldOutPeople.load(key, work / file, work))
            card[f"{key}_people"] = len(sets[-1].people)
        else:
            card["skipped"][f"{key} people"] = f"{work / file} not found (made by python -m engine.recipe data)"
    from engine.video.detect import detector_or_reason
    detector, why = detector_or_reason(args.threads)
    if detector is None:
        card["skipped"]["detector boxes"] = why
    else:
        card["detection"] = {s.key: s.detect(detector, progress=True).detections.summary() for s in sets}
    clip_val = cocolib.load(work / "val-clips.json", work)
    # only the teacher's confident joints (v=2) count, as in clip_pck@0.05
    clip_people = [dataclasses.replace(q, visibility=np.where(q.visibility >= 2, 2, 0))
                   for q in clip_val.people if (q.visibility >= 2).any()]
    teacher = {}
    clip_teacher = _clip_teacher()
    card["clip_teacher"] = clip_teacher.name
    still_rows = {}  # one model's figures on still images (held-out people, clip frames): the same for each finder
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
                    teacher[c["file"]] = predict(clips / c["file"], clip_teacher)
                a = clip_agreement(s, teacher[c["file"]])
                agree = {k: agree[k] + a[k] for k in agree}
        row["clip_pck@0.05"] = agree["correct"] / agree["counted"] if agree["counted"] else None
        wrong = [c for c in manifest if abs(row["reps"][c["file"]] - c["reps"]) > c.get("reps_tolerance", 0)]
        row["reps_match"] = len(manifest) - len(wrong)
        row["reps_wrong"] = {c["file"]: {"counted": row["reps"][c["file"]], "person": c["reps"]} for c in wrong}
        if name not in still_rows:
            still = score_people(name, sets, references.get(name), progress=name in references)
            if name != MEDIAPIPE:
                from .evaluate import evaluate_people
                from engine.models.weights import codec_for, flip_test_for, load_model
                model, meta = load_model(shipped_weights()[name])
                r = evaluate_people(model, clip_people, work, codec_for(meta), clip_val.dataset,
                                    progress=False, keep_predictions=True,
                                    flip_test=flip_test_for(meta))
                still["clip_box_pck@0.05"] = r["pck@0.05"]
                still["clip_box_pck@0.05_by_knee"] = pck_by_knee(r["predictions"], clip_people)
            still_rows[name] = still
        row.update(still_rows[name])
        label = name if len(finders) == 1 or finder is None else f"{name} ({finder})"
        card["models"][label] = row
        _print_row(label, row)
    for name in (MEDIAPIPE_HEAVY, MOVENET):  # the held-out people only (no clips: see docs/weights.md)
        if name in references:
            card["models"][name] = {"reference": True, **score_people(name, sets, references[name], progress=True)}
            _print_row(name, card["models"][name])
    card["clips"] = {c["file"]: c["reps"] for c in manifest}
    if MEDIAPIPE in card["models"]:
        ref = card["models"][MEDIAPIPE]["rep_times"]
        card["teacher_reps"] = sum(len(v) for v in ref.values())
        for row in card["models"].values():
            if "rep_times" not in row:
                continue
            row["reps_in_time_by_clip"] = {c: matched_reps(row["rep_times"][c], ref[c]) for c in ref}
            row["reps_in_time"] = sum(row["reps_in_time_by_clip"].values())
            row["teacher_reps"] = card["teacher_reps"]
    scored = {n: r for n, r in card["models"].items() if n not in REFERENCES}
    shipping = not args.models and len(finders) == 1  # every shipped model, the shipped way
    if scored and shipping:  # every shipped model scored: name the best the default
        card["default"] = best_model(scored, card["held_out_clips"])
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


def _print_row(label: str, row: dict) -> None:
    print(label, json.dumps({k: v for k, v in row.items()
                             if k not in ("reps", "rep_times", "fps", "searches", "detector_calls")}),
          flush=True)


def _clip_teacher():
    """The teacher the held-out clips are scored against: the recipe's (BlazePose heavy, which
    labelled val-clips.json), or MediaPipe full where heavy is not installed (named in the card)."""
    from engine.video.blazepose_models import ModelMissing
    from engine.video.mediapipe_pose import MediaPipePose
    from .recipe import TEACHER
    try:
        return MediaPipePose.for_teacher(TEACHER, smooth=False)
    except ModelMissing:
        return make_predictor(MEDIAPIPE, smooth=False)


def weights_dir() -> Path:
    from engine.models.weights import WEIGHTS_DIR
    return Path(WEIGHTS_DIR)


def held_out_reps_right(row: dict, held_out=HELD_OUT_CLIPS) -> int:
    """How many of the held-out clips ``row`` counted right (within each clip's tolerance)."""
    return sum(1 for c in held_out if c in row.get("reps", {}) and c not in row.get("reps_wrong", {}))


#: Agreement with the teacher on the held-out clips closer than this to the best counts as a tie
#: in the ranking: two binomial standard errors at 0.995 over the about 4,000 joints the
#: held-out clips score (0.0011 each). A change that moves the tracking by a pixel moves a
#: model's agreement by a joint or two (the switch to ONNX Runtime moved Thunder's from 0.99548
#: to 0.99573, one joint), and that must not decide the default over held-out people.
CLIP_TIE = 0.002


def rank_key(row: dict) -> tuple:
    """How ``ranking`` orders rows with as many held-out clips right and tied agreement on them
    (larger is better): PCK on the held-out LSP people, then COCO people; only then all clips
    counted right (the other clips are in every recipe's training set, so a model can count
    them right by having learnt them)."""
    return (row.get("lsp_pck@0.05") or 0.0, row.get("coco_pck@0.05") or 0.0, row.get("reps_match") or 0)


def ranking(rows: dict, held_out=HELD_OUT_CLIPS) -> list[str]:
    """The rows' names, best first: most held-out clips counted right, then agreement with the
    teacher on the held-out clips, then ``rank_key``. Agreement within ``CLIP_TIE`` of the best
    among those left is a tie: that group is ordered by ``rank_key`` and placed, then the next
    group is formed from the rest."""
    right = {n: held_out_reps_right(r, held_out) for n, r in rows.items()}
    clip = {n: r.get("clip_pck@0.05") or 0.0 for n, r in rows.items()}
    left, out = list(rows), []
    while left:
        top = [n for n in left if right[n] == max(right[m] for m in left)]
        best = max(clip[n] for n in top)
        group = sorted((n for n in top if clip[n] >= best - CLIP_TIE), key=lambda n: rank_key(rows[n]),
                       reverse=True)
        out += group
        left = [n for n in left if n not in group]
    return out


def best_model(rows: dict, held_out=HELD_OUT_CLIPS) -> str:
    """The default model, chosen on what no model trained on (``ranking``)."""
    return ranking(rows, held_out)[0]


def table(card: dict) -> str:
    names = list(card["models"])
    rows = [card["models"][n] for n in names]
    f = fmt3
    cells = lambda values: " | ".join(values) + " |"  # noqa: E731
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             f"| PCK@0.05 vs teacher ({card.get('clip_teacher', 'mediapipe')}), held-out clips | " + cells(f(r.get("clip_pck@0.05")) for r in rows),
             "| PCK@0.05 vs teacher, held-out clip frames in the teacher's box | " + cells(f(r.get("clip_box_pck@0.05")) for r in rows)]
    by_knee = [r.get("clip_box_pck@0.05_by_knee") or {} for r in rows]
    for key, words in (("deep", "deep squats (knee under 100°)"), ("not deep", "standing to bent (knee 100° or more)")):
        people = next((b[key]["people"] for b in by_knee if key in b), None)
        if people is not None:
            lines.append(f"| ... of them {words}, {people} frames | " + cells(f(b.get(key, {}).get("pck")) for b in by_knee))
    for key, (file, words) in HELD_OUT_PEOPLE.items():
        n = card.get(f"{key}_people")
        if n is None:
            if key != "coco":  # a card made before this set existed, or without WORK/val-lsp.json
                lines.append(f"| PCK@0.05 on held-out {words} people (no {file}) | " + cells("–" for _ in rows))
            continue
        lines.append(f"| PCK@0.05 on {n} held-out {words} people | " + cells(f(r.get(f"{key}_pck@0.05")) for r in rows))
        det = (card.get("detection") or {}).get(key)
        if det:
            lines.append(f"| ... the same people in the person detector's boxes ({det['missed']} of {n} not "
                         "found, counted wrong) | " + cells(f(r.get(f"{key}_det_pck@0.05")) for r in rows))
        if any(f"{key}_missed_people" in r for r in rows):
            lines.append(f"| ... people a reference found nobody in (ground-truth box{' / detector box' if det else ''}; "
                         "counted wrong) | " + cells(_missed(r, key, det) for r in rows))
    n_clips = len(card["clips"])
    lines.append("| clips with the right rep count | " + cells(
        "–" if r.get("reps_match") is None else f"{r['reps_match']} / {n_clips}" for r in rows))
    if "teacher_reps" in card:
        lines.append(f"| MediaPipe's reps matched in time (interval IoU ≥ {REP_IOU}) | "
                     + cells("–" if r.get("reps_in_time") is None else f"{r['reps_in_time']} / {card['teacher_reps']}"
                             for r in rows))
    held_out = set(card.get("held_out_clips", []))
    for clip, expected in card["clips"].items():
        tag = ", held out" if clip in held_out else ""  # the others were trained on (pseudo-labels)
        lines.append(f"| reps `{clip}` (person: {expected}{tag}) | " + cells(str(r.get("reps", {}).get(clip, "–")) for r in rows))
    for clip in card["clips"]:
        cs = []
        for row in rows:
            srch, det = (row.get(k, {}).get(clip) for k in ("searches", "detector_calls"))
            cs.append("–" if srch is None and det is None else f"{srch or 0} / {det or 0}")
        if any(c != "–" for c in cs):
            lines.append(f"| searches / detector calls `{clip}` | " + cells(cs))
    notes = [f"- {n}: the held-out people only (still images); not run on the clips ('–' in the clip rows)"
             for n in names if card["models"][n].get("reference")]
    notes += [f"- not scored: {what}: {why}" for what, why in (card.get("skipped") or {}).items()]
    return "\n".join(lines + ([""] + notes if notes else []))


def _missed(row: dict, key: str, det) -> str:
    if f"{key}_missed_people" not in row:
        return "–"
    gt = str(row[f"{key}_missed_people"])
    return gt + (f" / {row.get(f'{key}_det_missed_people', '–')}" if det else "")


if __name__ == "__main__":
    sys.exit(main())
