"""Compare tab logic (no Gradio here): upload limits, running the chosen models on a clip,
rendering one frame per model (heatmap of one joint or all, skeleton, whole frame or zoomed
to the athlete), the angle chart and the rep table. Where the models disagree and the
summary per model: ``demo.comparison``; the time a run will take: ``demo.estimate``.

The UI (``demo/ui.py``) only wires these to components.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import storage
from engine.joints import JOINTS
from engine.video.multi import run_analyses
from engine.video.pipeline import MEDIAPIPE, make_predictor, mediapipe_available, predict, run_analysis
from engine.video.render import render_panel, view_crop
from engine.video.reader import (DecodeLimits, LimitExceeded, VideoError, count_frames, decode_limits,
                                 open_video)
from engine.models.weights import default_model, shipped_weights

from . import summary

ROOT = Path(__file__).resolve().parents[1]
#: The demo bundle's clips (made by scripts/make_demo_bundle.py; see assets/demo/README.md).
BUNDLE_CLIPS = ROOT / "assets" / "demo" / "clips"
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".avi"}


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """Upload limits that fit a free Space (2 CPUs); each is set by an environment variable.
    They hold for what is decoded, not for what the container claims: ``check_clip`` counts
    the clip's frames itself, and the analysis decodes inside ``decode_limits`` (it stops
    with the same message at the limit), so time and memory stay bounded by them."""

    max_mb: float = _env_float("SQUATPOSE_MAX_UPLOAD_MB", 100)
    max_seconds: float = _env_float("SQUATPOSE_MAX_SECONDS", 60)
    max_side: int = int(_env_float("SQUATPOSE_MAX_SIDE", 1920))
    #: frames in all, whatever the frame rate (60 s at 60 frames/s by default)
    max_frames: int = int(_env_float("SQUATPOSE_MAX_FRAMES", 3600))

    def decode(self) -> DecodeLimits:
        return DecodeLimits(self.max_seconds, self.max_frames, self.max_side)


class InputProblem(ValueError):
    """An upload the app refuses; the message says which limit and what to do."""


def check_clip(path: str | Path | None, limits: Limits = Limits()) -> dict:
    """Validate an uploaded clip against the limits; returns its probe info."""
    if not path:
        raise InputProblem("No clip: upload a video, record one with the webcam, or pick an example.")
    p = Path(path)
    if not p.is_file():
        raise InputProblem(f"The clip {p.name} could not be found on the server; upload it again.")
    mb = p.stat().st_size / 2**20
    if mb > limits.max_mb:
        raise InputProblem(f"The clip is {mb:.0f} MB, over the {limits.max_mb:.0f} MB upload limit: "
                           "trim it or export it at a lower quality, then upload again.")
    dl = limits.decode()
    try:
        with decode_limits(dl), open_video(p) as v:  # the pixel limit, from the header first
            info = {"fps": v.fps, "frame_size": v.frame_size}
            limit_fps = v.limit_fps  # a raw stream states no rate: held to the limit at 10/s
    except LimitExceeded as e:
        raise InputProblem(str(e)) from None
    except VideoError as e:
        raise InputProblem(f"That file is not a video the app can read ({e}). Try an mp4, mov, webm or avi.") from None
    # the duration: video packets counted by demuxing (a raw stream claims a negative count)
    budget = dl.frame_budget(limit_fps)
    try:
        n = count_frames(p, stop_after=budget + 1)
    except VideoError as e:
        raise InputProblem(f"That file is not a video the app can read ({e}). Try an mp4, mov, webm or avi.") from None
    if n > budget:
        raise InputProblem(dl.too_long(limit_fps, budget, more=True))
    info["frames"], info["seconds"] = n, n / info["fps"]
    return info


def available_models() -> list[str]:
    """Every registered model with shipped weights (default first), plus MediaPipe when installed."""
    shipped = list(shipped_weights())
    d = default_model()
    if d in shipped:
        shipped.remove(d)
        shipped.insert(0, d)
    return shipped + ([MEDIAPIPE] if mediapipe_available() else [])


def _clips_in(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [str(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]


def example_clips() -> list[str]:
    """Example clips: the folder ``SQUATPOSE_EXAMPLES`` names when set, else the shared clips
    (``$SQUATPOSE_SHARED_DATA/clips``, default ``../shared/data/clips``) when they are there,
    else the demo bundle's clip (``assets/demo/clips``), so a fresh Space offers one."""
    if os.environ.get("SQUATPOSE_EXAMPLES"):
        return _clips_in(Path(os.environ["SQUATPOSE_EXAMPLES"]))
    shared = Path(os.environ.get("SQUATPOSE_SHARED_DATA") or ROOT.parent / "shared" / "data")
    return _clips_in(shared / "clips") or _clips_in(BUNDLE_CLIPS)


@dataclass
class ModelRun:
    """One model's results on the clip."""

    name: str
    report: dict
    series: object  # engine.pose.PoseSeries
    analysis: object  # engine.analysis.SquatReport
    out_dir: Path
    files: list[str] = field(default_factory=list)
    #: its own time: the model's work on its crops (``model_s``), its analysis and annotated video
    seconds: float = 0.0
    #: the time of its pass beyond every model's own (decoding the clip, finding and following
    #: the athlete), spent once for all of ``shared_with``
    shared_s: float = 0.0
    shared_with: tuple[str, ...] = ()  # the models of its pass (itself alone when it ran alone)

    @property
    def cost_s(self) -> float:
        """What this model cost the run: its own time and its share of its pass's tracking."""
        return self.seconds + self.shared_s / max(len(self.shared_with), 1)


_PREDICTORS: dict[str, object] = {}
#: One lock per model: a predictor (MediaPipe's graph above all) serves one clip at a time,
#: whichever event uses it (an analysis, or the timing of ``demo.estimate``).
_LOCKS: dict[str, threading.Lock] = defaultdict(threading.Lock)


def _predictor(name: str):
    """Predictors are loaded once per process and reused across visitors."""
    if name not in _PREDICTORS:
        _PREDICTORS[name] = make_predictor(name, device="auto")
    return _PREDICTORS[name]


def warm_up(names: list[str]) -> None:
    """Load these models' predictors now (their weights and, with an ONNX runtime,
    the export a fresh Space lacks), so that the first analysis does not wait for them; meant
    for a background thread at start-up. A model that cannot load is
    said in the log and left to the analysis, which reports it to the visitor."""
    for name in names:
        try:
            with predictor_lock(name):
                _predictor(name)
        except Exception as e:  # noqa: BLE001 (any failure is the analysis's to report)
            print(f"warm-up: {name} not loaded ({type(e).__name__}: {e})", flush=True)


def predictor_lock(name: str) -> threading.Lock:
    """Hold it while using ``_predictor(name)``."""
    return _LOCKS[name]


#: Most models one analysis runs (as many as the tab has panels); each holds the one analysis slot.
MAX_MODELS = 6


def chosen_models(models) -> list[str]:
    """The model names of one request, each once (in the order given), checked: at least one,
    at most ``MAX_MODELS``, every one available. InputProblem in words otherwise."""
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) for m in models):
        raise InputProblem("Models must be given as a list of model names, e.g. [\"mobilenetv2\"].")
    models = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    if not models:
        raise InputProblem("Choose at least one model to run.")
    if len(models) > MAX_MODELS:
        raise InputProblem(f"{len(models)} models chosen: one analysis runs at most {MAX_MODELS}; "
                           "choose fewer.")
    available = available_models()
    unknown = [m for m in models if m not in available]
    if unknown:
        shown = ", ".join(repr(m[:40]) for m in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise InputProblem(f"Unknown or unavailable model(s): {shown}. Available: {', '.join(available)}.")
    return models


def run_models(clip: str, models: list[str], out_root: str | Path | None = None, progress=None,
               stride: int = 1, limits: Limits | None = Limits()) -> list[ModelRun]:
    """Analyse ``clip`` with each model; every model writes its own output folder. The heatmap
    models share one pass (``engine.video.multi``): the clip is decoded and the athlete found
    and followed once, by the first of them, and each runs on the same frames and crops;
    MediaPipe, which follows the athlete its own way, runs its own pass after them. Decoding
    stops with ``LimitExceeded`` (a VideoError) at ``limits`` (None: no limits).
    ``progress(k, name, fraction, message)`` is told model ``k``'s (0-based, in the order they
    run) progress (``demo.summary.progress_line`` makes the run's one line of it); during a
    shared pass the lead's ``fraction`` runs past 1, as its pass does the others' work too.
    The runs come back in the order of ``models``."""
    models = chosen_models(models)  # each once, at most MAX_MODELS
    if out_root is None:  # under the data dir, within its disk budget (engine.storage)
        clip_bytes = Path(clip).stat().st_size if Path(clip).is_file() else 0
        try:
            storage.make_room(len(models) * (clip_bytes + 2**20), "this analysis")
        except storage.DiskBudgetError as e:
            raise InputProblem(str(e)) from None
        out_root = tempfile.mkdtemp(prefix="run-", dir=storage.area("analyses"))
    out_root = Path(out_root)
    heat = [m for m in models if m != MEDIAPIPE]
    order = heat + [m for m in models if m == MEDIAPIPE]  # the shared pass first
    done: dict[str, ModelRun] = {}

    def tell(k: int, frac: float, msg: str) -> None:
        if progress:
            progress(k, order[k], frac, msg)

    def finish(name: str, result, seconds: float, shared_with: tuple[str, ...]) -> None:
        report, series, analysis = result
        out = out_root / name
        files = []
        for f in ("keypoints.csv", "report.json", "annotated.mp4"):  # model-named download copies
            named = out_root / f"{name}-{f}"
            os.link(out / f, named) if not named.exists() else None
            files.append(str(named))
        model_s = float(series.meta.get("model_s") or 0.0)
        tracking = float((series.meta.get("shared_pass") or {}).get("tracking_s",
                         max(float(series.meta.get("seconds") or 0.0) - model_s, 0.0)))
        done[name] = ModelRun(name, report, series, analysis, out, files, model_s + seconds, tracking,
                              shared_with)

    with decode_limits(limits.decode() if limits is not None else None):
        if len(heat) > 1:
            m = len(heat)
            lead = heat[0]

            def group(i: int, frac: float, msg: str) -> None:
                x = frac * m  # the group's work in models: the pass, then each model's files
                number = _frame_number(msg)
                if number is not None:
                    msg = f"{lead}: finding the joints of {m} models in one pass, frame {number}"
                tell(i, x - i, msg)
            took: dict[int, float] = {}
            with contextlib.ExitStack() as locks:
                for name in sorted(heat):  # a fixed order: two runs never wait on each other
                    locks.enter_context(predictor_lock(name))
                results = run_analyses(clip, [_predictor(n) for n in heat], [out_root / n for n in heat],
                                       stride=stride, keep_heatmaps=True, progress=group,
                                       analysed=lambda i, s: took.__setitem__(i, s))
            for i, (name, result) in enumerate(zip(heat, results)):
                finish(name, result, took[i], tuple(heat))
        alone = order[len(heat):] if len(heat) > 1 else order  # each in its own pass
        for k, name in enumerate(alone, len(order) - len(alone)):
            with predictor_lock(name):
                series = predict(clip, _predictor(name), stride, keep_heatmaps=name != MEDIAPIPE,
                                 progress=lambda f, msg, k=k: tell(k, 0.9 * f, msg))
                t0 = time.perf_counter()
                result = run_analysis(clip, out_root / name, stride=stride, series=series,
                                      progress=lambda f, msg, k=k: tell(k, f, msg))
            finish(name, result, time.perf_counter() - t0, (name,))
    return [done[name] for name in models]


def _frame_number(message: str) -> int | None:
    """N of a pass's 'NAME: frame N' progress message, else None."""
    head, _, tail = message.partition(": ")
    words = tail.split()
    if len(words) == 2 and words[0] == "frame" and words[1].isdigit():
        return int(words[1])
    return None


def read_frame(clip: str, index: int) -> np.ndarray | None:
    """Decoded frame ``index`` of the clip (RGB), by decoding from the start (exact with any codec)."""
    with open_video(clip) as v:
        for i, f in v.frames():
            if i == index:
                return f
    return None


#: The heatmap choices: (label, value); value 'joints' = each joint in its own colour over its
#: own peak (the default: it shows where each joint is; ``engine.video.render.heatmaps_per_joint``),
#: 'all' = the maximum over joints (on the confidence scale), a joint's name, or 'none'.
HEATMAP_CHOICES = ([("each joint, own colour", "joints"), ("all joints (max)", "all")]
                   + [(j.replace("_", " "), j) for j in JOINTS] + [("none", "none")])
HEATMAP_DEFAULT = "joints"
#: The panel views: (label, value).
VIEW_CHOICES = [("zoom to the athlete", "athlete"), ("whole frame", "frame")]


def _heatmap_arg(choice: str | None):
    if choice in (None, "none"):
        return None
    if choice in ("all", "joints"):
        return choice
    return JOINTS.index(choice)


def render_panels(clip: str, runs: list[ModelRun], position: int, max_side: int = 640, *,
                  heatmap: str | None = HEATMAP_DEFAULT, skeleton: bool = True, region=None) -> list[np.ndarray]:
    """For processed-frame ``position``: each model's panel, all with the same frame, heatmap
    choice (``HEATMAP_CHOICES`` value), skeleton switch and view (``region`` = zoom to that
    (x, y, w, h), None = the whole frame)."""
    if not runs:
        return []
    first = runs[0].series
    position = int(np.clip(position, 0, len(first) - 1))
    frame = read_frame(clip, int(first.frame_indices[position]))
    if frame is None:
        return []
    view = view_crop((frame.shape[1], frame.shape[0]), region, max_side)
    out = []
    for r in runs:
        t = min(position, len(r.series) - 1)
        out.append(render_panel(frame, r.series, t, view, heatmap=_heatmap_arg(heatmap), skeleton=skeleton,
                                knee_angles=tuple(r.analysis.knee_angle[t]), reps_done=reps_done(r, t),
                                title=r.name, unreliable=not np.isfinite(r.analysis.depth[t])))
    return out


def reps_done(run: ModelRun, t: int) -> int:
    time_s = run.series.times[t]
    return int(sum(1 for r in run.report["rep_details"] if r["end_s"] <= time_s))


def angle_chart(runs: list[ModelRun]):
    """Plotly figure: knee and hip angles over time, every model on one chart, reps shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Knee angle (180° = straight leg)", "Hip / thigh angle"))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for k, r in enumerate(runs):
        a, c = r.analysis, palette[k % len(palette)]
        for side, dash in ((0, "solid"), (1, "dot")):
            lbl = f"{r.name} {'left' if side == 0 else 'right'}"
            fig.add_trace(go.Scatter(x=r.series.times, y=a.knee_angle[:, side], name=lbl + " knee",
                                     line=dict(color=c, dash=dash), legendgroup=r.name), 1, 1)
            fig.add_trace(go.Scatter(x=r.series.times, y=a.hip_angle[:, side], name=lbl + " hip",
                                     line=dict(color=c, dash=dash), legendgroup=r.name,
                                     showlegend=False), 2, 1)
    if runs:
        for i, rep in enumerate(runs[0].report["rep_details"]):
            fig.add_vrect(x0=rep["start_s"], x1=rep["end_s"], fillcolor="green", opacity=0.08,
                          line_width=0, annotation_text=f"rep {i + 1}", annotation_position="top left")
    fig.update_layout(height=520, margin=dict(l=40, r=10, t=40, b=30), legend=dict(orientation="h"))
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    return fig


#: Short headers, so the table fits a 1280 px window without a horizontal scroll (the note
#: under the table says what each means).
REP_COLUMNS = ["model", "rep", "start (s)", "end (s)", "knee at bottom (°)", "depth", "down (s)",
               "up (s)", "L/R knee diff (°)"]
REP_NOTE = ("Depth: how far the hip sank below the knee at the bottom, in thigh lengths (0 = thighs "
            "parallel, above 0 = below parallel). Down / up: the descent and the ascent. L/R knee "
            "diff: front views only.")


def rep_rows(runs: list[ModelRun]) -> list[list]:
    """The rep table: one row per rep per model (the default marked 'recommended')."""
    rows, default = [], default_model()
    for r in runs:
        for i, d in enumerate(r.report["rep_details"]):
            rows.append([summary.label(r.name, default), i + 1, d.get("start_s"), d.get("end_s"), d.get("bottom_knee_angle"),
                         d.get("depth"), d.get("descent_s"), d.get("ascent_s"), d.get("knee_asymmetry")])
    return [[round(v, 2) if isinstance(v, float) else v for v in row] for row in rows]


def feedback_markdown(runs: list[ModelRun]) -> str:
    parts, default = [], default_model()
    for r in runs:
        rep = r.report
        lines = "\n".join(f"- {s}" for s in rep["feedback"]) or "- (no feedback)"
        parts.append(f"**{summary.label(r.name, default)}** — {summary.reps_words(rep['reps'])}, "
                     f"view: {rep['view']}, {summary.speed_words(rep.get('fps_processed'))}\n\n{lines}")
    return "\n\n".join(parts)

