"""What the Compare tab shows about one analysed clip beyond each model's own panel: where
the models disagree (a chart, the next such frame), the zoom region shared by every panel,
and a summary per model (no Gradio here; ``demo/ui.py`` wires it).

The figures come from ``engine.analysis.agreement`` (distances in leg lengths between the
models' reliable joints, and from MediaPipe's when it is among the chosen models).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.agreement import DISAGREE_LEGS, Agreement, agreement, disagreements, next_disagreement
from engine.joints import JOINTS, SIDE_COLORS, side_of
from engine.video.pipeline import MEDIAPIPE
from engine.video.render import athlete_region

from engine.models.weights import default_model

from . import summary
from .compare import ModelRun

#: One colour per model, shared by the angle chart and the disagreement chart.
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


@dataclass
class Comparison:
    """Everything the tab shows about one analysed clip (kept in the session's state)."""

    clip: str
    runs: list[ModelRun]
    agreement: Agreement
    region: tuple | None  # the zoomed view (x, y, w, h) in frame pixels, the same for every panel
    seconds: float = 0.0  # how long the analysis took
    estimate_s: float | None = None  # what was estimated before it

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.runs[0].series.times)

    @property
    def frame_indices(self) -> np.ndarray:
        return np.asarray(self.runs[0].series.frame_indices)


def compare(clip: str, runs: list[ModelRun], seconds: float = 0.0,
            estimate_s: float | None = None) -> Comparison:
    """The models' agreement (measured from MediaPipe when it is among them) and the zoom
    region (the union of every model's joints over the clip) for the runs of one clip."""
    series = [r.series for r in runs]
    return Comparison(clip, runs, agreement(series, reference=MEDIAPIPE),
                      athlete_region(series, series[0].frame_size), seconds, estimate_s)


def position_at(cmp: Comparison, time_s: float) -> int:
    """The processed frame (slider position) nearest to ``time_s`` seconds."""
    return int(np.argmin(np.abs(cmp.times - float(time_s)))) if len(cmp.times) else 0


def next_disagreement_position(cmp: Comparison, position: int) -> int | None:
    """Slider position of the worst frame of the next disagreement after ``position``
    (``engine.analysis.agreement.next_disagreement``, which wraps round to the first); None
    when the models never disagree."""
    a = cmp.agreement
    if not len(a.frame_indices) or not len(cmp.times):
        return None
    current = int(cmp.frame_indices[int(np.clip(position, 0, len(cmp.times) - 1))])
    k = int(np.searchsorted(a.frame_indices, current, side="right")) - 1
    nxt = next_disagreement(a, k)
    if nxt is None:
        return None
    return int(np.searchsorted(cmp.frame_indices, a.frame_indices[nxt]))


def _joint_style(j: int) -> dict:
    """Left joints orange, right blue (as on the frames); hips solid, knees dashed, ankles dotted."""
    r, g, b = SIDE_COLORS[side_of(j)]
    dash = {"hip": "solid", "knee": "dash", "ankle": "dot"}[JOINTS[j].split("_")[1]]
    return dict(color=f"rgb({r},{g},{b})", dash=dash, width=1.5)


def disagreement_chart(cmp: Comparison):
    """Plotly figure, x = time (s) as in the angle chart: per joint, how far apart the models
    put it (the largest distance between two of them, leg lengths), the worst joint in black,
    the disagreement threshold dashed and its stretches shaded; with MediaPipe chosen, a
    second row with each model's mean joint distance from MediaPipe. Each point carries its
    slider position (``customdata``), so a click can move the slider there."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    a = cmp.agreement
    names = [r.name for r in cmp.runs]
    others = [n for n in names if n != a.reference]
    with_ref = a.reference is not None and bool(others)
    titles = ["Where the models disagree: distance between the models' joints (leg lengths)"]
    if with_ref:
        titles.append("Distance of each model from MediaPipe (mean over joints, leg lengths)")
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=titles)
    pos = np.searchsorted(cmp.frame_indices, a.frame_indices)
    if len(names) < 2 or not np.isfinite(a.leg_px):
        why = ("Choose two or more models to see where they disagree." if len(names) < 2 else
               "No model found a whole leg (hip, knee and ankle) in this clip, so there is no "
               "leg length to measure distances in.")
        fig.add_annotation(text=why, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    else:
        fs = a.frame_spread
        for first, _, last in disagreements(fs):
            fig.add_vrect(x0=a.times[first], x1=a.times[last] if last > first else a.times[first] + 1e-3,
                          fillcolor="#d62728", opacity=0.12, line_width=0, row=1, col=1)
        for j, name in enumerate(JOINTS):
            fig.add_trace(go.Scatter(x=a.times, y=a.spread[:, j], name=name.replace("_", " "),
                                     line=_joint_style(j), customdata=pos, legendgroup="joints",
                                     hovertemplate="%{y:.2f} leg lengths<extra>" + name + "</extra>"), 1, 1)
        fig.add_trace(go.Scatter(x=a.times, y=fs, name="worst joint", line=dict(color="black", width=2.5),
                                 customdata=pos, hovertemplate="%{y:.2f} leg lengths<extra>worst joint</extra>"),
                      1, 1)
        fig.add_hline(y=DISAGREE_LEGS, line=dict(color="#d62728", dash="dash", width=1), row=1, col=1,
                      annotation_text=f"disagree ({DISAGREE_LEGS:g})", annotation_position="top right")
        if with_ref:
            for k, r in enumerate(cmp.runs):
                if r.name not in a.from_reference:
                    continue
                with np.errstate(all="ignore"):
                    mean = np.nanmean(a.from_reference[r.name], axis=1)
                fig.add_trace(go.Scatter(x=a.times, y=mean, name=f"{r.name} from MediaPipe",
                                         line=dict(color=PALETTE[k % len(PALETTE)]), customdata=pos,
                                         hovertemplate="%{y:.2f} leg lengths<extra>" + r.name + "</extra>"),
                              2, 1)
    fig.update_layout(height=460 if with_ref else 320, margin=dict(l=50, r=10, t=70, b=40),
                      legend=dict(font=dict(size=11), tracegroupgap=4), hovermode="x",
                      clickmode="event")
    fig.update_xaxes(title_text="time (s) — click to show that frame", row=len(titles), col=1)
    fig.update_yaxes(rangemode="tozero")
    return fig


SUMMARY_COLUMNS = ["model", "reliable frames (%)", "mean confidence", "reps", "view", "analysed (frames/s)",
                   "model time (s)", "from MediaPipe (leg lengths)"]


def summary_rows(cmp: Comparison) -> list[list]:
    """One row per model, to tell at a glance which did best on this clip: the share of frames
    whose joints the analysis could use, the mean confidence of its joints (all frames and
    joints), reps, view, speed, its own model time (``report['model_s']``: its work on its
    crops, without the decoding and tracking a shared pass does once) and (with MediaPipe
    chosen) its median distance from it."""
    from_ref = cmp.agreement.summary()["from_reference"]
    rows, default = [], default_model()
    for r in cmp.runs:
        n = len(r.series)
        reliable = float(np.isfinite(r.analysis.depth).mean()) * 100 if n else 0.0
        conf = float(np.mean(r.series.confidence)) if n else 0.0
        d = from_ref.get(r.name)
        rows.append([summary.label(r.name, default), round(reliable, 1), round(conf, 2), r.report.get("reps"), r.report.get("view"),
                     r.report.get("fps_processed"), r.report.get("model_s"),
                     "reference" if r.name == cmp.agreement.reference else (None if d is None else round(d, 3))])
    return rows
