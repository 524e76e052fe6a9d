"""Squat analysis of joint files without video: one file (``report.json``) or a folder of them
(a table of every file and, where the files name the camera view, e.g. Penn Action's
``pose``, a confusion table of the labelled view against the view found).

    python -m engine.analyze --keypoints FILE --out DIR [--fps F]
    python -m engine.analyze --keypoints-batch FOLDER --out DIR [--fps F]
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from . import analyze_series
from .readers import KeypointsError, read_keypoints
from .view import BACK, FRONT, FRONT_OR_BACK, SIDE

#: Suffixes a batch reads.
BATCH_SUFFIXES = (".mat", ".csv")
#: A labelled view (Penn Action's pose field) -> the views that agree with it.
AGREES = {"left": (SIDE,), "right": (SIDE,), "front": (FRONT, BACK, FRONT_OR_BACK),
          "back": (FRONT, BACK, FRONT_OR_BACK)}
FOUND_COLUMNS = (SIDE, FRONT, BACK, FRONT_OR_BACK, "mixed", "unknown")
#: tracks.csv's view cues (view.view_cues) of the file's longest view segment.
CUE_COLUMNS = ("hip_separation", "knee_offset_left", "knee_offset_right", "thigh_share_left",
               "thigh_share_right")


def analyze_keypoints(path: str | Path, fps: float | None = None) -> dict:
    """report.json's dict for one joint file (``readers.read_keypoints``); raises KeypointsError."""
    series = read_keypoints(path, fps)
    if len(series) == 0:
        raise KeypointsError(f"{Path(path).name}: no frames")
    report = analyze_series(series).to_json()
    from engine.lifting.predict import try_add_3d
    try_add_3d(report, series)  # each rep's 3-D figures beside the 2-D ones (docs/3d.md)
    report.update({"model": series.model, "source": {"file": Path(path).name, "fps": series.fps,
                                                     "frame_size": list(series.frame_size)}})
    if "fps_note" in series.meta:
        report["fps_note"] = series.meta["fps_note"]
    if "labelled_view" in series.meta:
        report["labelled_view"] = series.meta["labelled_view"]
    return report


def write_report(path: str | Path, out_dir: str | Path, fps: float | None = None) -> dict:
    """Analyse one joint file and write ``out_dir/report.json`` (atomically; nothing is
    written when the file cannot be read)."""
    from engine.fileio import write_json
    report = analyze_keypoints(path, fps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "report.json", report)
    return report


def _cue_columns(report: dict) -> dict:
    """CUE_COLUMNS from the view cues of the report's longest view segment ('' = not measured)."""
    segs = report.get("view_segments") or []
    if not segs:
        return {c: "" for c in CUE_COLUMNS}
    cues = max(segs, key=lambda g: g["end_frame"] - g["start_frame"]).get("view_cues", {})
    vals = [cues.get("hip_separation"), *cues.get("knee_offsets", [None, None]),
            *cues.get("thigh_shares", [None, None])]
    return {c: "" if v is None else v for c, v in zip(CUE_COLUMNS, vals)}


def _closest_knee(report: dict) -> float | str:
    """The smallest ``bottom_knee_angle`` of the report's reps, degrees ('' = no rep measured)."""
    angles = [d["bottom_knee_angle"] for d in report.get("rep_details", []) if d.get("bottom_knee_angle") is not None]
    return min(angles) if angles else ""


def _found(view: str) -> str:
    return view if view in FOUND_COLUMNS else ("mixed" if ", then " in view else "unknown")


def batch_rows(folder: str | Path, fps: float | None = None) -> list[dict]:
    """One row per joint file in ``folder`` (sorted): file, labelled view, view found, reps,
    judged, frames, or the error that stopped it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KeypointsError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in BATCH_SUFFIXES)
    if not files:
        raise KeypointsError(f"{folder}: no {' or '.join(BATCH_SUFFIXES)} files in it")
    rows = []
    for p in files:
        try:
            r = analyze_keypoints(p, fps)
        except KeypointsError as e:
            rows.append({"file": p.name, "labelled_view": "", "view": "", "agrees": "", "reps": "",
                         "judged": "", "frames": "", **{c: "" for c in CUE_COLUMNS},
                         "bottom_knee_angle": "", "error": str(e)})
            continue
        lab = r.get("labelled_view", "")
        rows.append({"file": p.name, "labelled_view": lab, "view": r["view"],
                     "agrees": "" if lab not in AGREES else str(r["view"] in AGREES[lab]).lower(),
                     "reps": r["reps"], "judged": str(r["judged"]).lower(), "frames": r["frames"],
                     **_cue_columns(r), "bottom_knee_angle": _closest_knee(r), "error": ""})
    return rows


def _parity_split(labelled: list[dict]) -> list[str]:
    """Where every file is named by a number (Penn Action's 1661.mat ...), the agreement on the
    even- and odd-numbered files apart: ``thresholds.SIDE_THIGH_SHARE`` was chosen on the even
    Penn Action tracks only, so the odd ones are a held-out check of it (docs/analysis.md)."""
    stems = [Path(r["file"]).stem for r in labelled]
    if not stems or not all(x.isdigit() for x in stems):
        return []
    out = []
    for name, rest in (("even", 0), ("odd", 1)):
        part = [r for r, x in zip(labelled, stems) if int(x) % 2 == rest]
        if part:
            agree = sum(r["agrees"] == "true" for r in part)
            out.append(f"{name}-numbered files: {agree} of {len(part)} ({100 * agree / len(part):.1f}%)"
                       + (" (SIDE_THIGH_SHARE chosen on these)." if rest == 0 else " (held out)."))
    return [" ".join(out)]


def confusion_markdown(rows: list[dict]) -> str:
    """The labelled view (rows) against the view found (columns), and the agreement."""
    done = [r for r in rows if not r["error"]]
    labelled = [r for r in done if r["labelled_view"] in AGREES]
    counts = Counter((r["labelled_view"], _found(r["view"])) for r in labelled)
    lines = [f"Files: {len(rows)}; analysed: {len(done)}; failed: {len(rows) - len(done)}.", ""]
    if labelled:
        agree = sum(r["agrees"] == "true" for r in labelled)
        lines += [f"View agreement (left/right -> side; front/back -> front, back or 'front or back'): "
                  f"{agree} of {len(labelled)} ({100 * agree / len(labelled):.1f}%)."]
        lines += _parity_split(labelled)
        lines += ["",
                  "| labelled \\ found | " + " | ".join(FOUND_COLUMNS) + " | total |",
                  "|---|" + "---:|" * (len(FOUND_COLUMNS) + 1)]
        for lab in AGREES:
            n = [counts[(lab, c)] for c in FOUND_COLUMNS]
            if sum(n):
                lines.append(f"| {lab} | " + " | ".join(str(x) for x in n) + f" | {sum(n)} |")
    reps = Counter(r["reps"] for r in done)
    lines += ["", "Reps found per file: " + ", ".join(f"{k}: {v}" for k, v in sorted(reps.items())),
              f"Judged: {sum(r['judged'] == 'true' for r in done)} of {len(done)}."]
    failed = [r for r in rows if r["error"]]
    if failed:
        lines += ["", "Failed:"] + [f"- {r['file']}: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def write_batch(folder: str | Path, out_dir: str | Path, fps: float | None = None) -> list[dict]:
    """Analyse every joint file in ``folder``; write ``out_dir/tracks.csv`` (one row per file)
    and ``out_dir/views.md`` (the confusion table). Returns the rows."""
    from engine.fileio import write_text
    rows = batch_rows(folder, fps)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "tracks.csv", buf.getvalue())
    write_text(out_dir / "views.md", confusion_markdown(rows))
    return rows
