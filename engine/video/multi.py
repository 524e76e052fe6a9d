"""Several heatmap models on one clip in one pass: the frames are decoded, the athlete found
and followed once (by the first model, the lead), and every model runs on the same frames and
crops (``HeatmapPredictor.predict_shared``); then each model's analysis and files as
``run_analysis`` makes them for one.

    series = predict_many("squat.mp4", [lead, other])          # [lead's, other's]
    results = run_analyses("squat.mp4", [lead, other], ["out/a", "out/b"])

Each series' ``meta``: ``model_s``, the model's own time (its crops, network and decoding);
``shared_pass``: the models of the pass, its wall time (``seconds``) and ``tracking_s``, what
the pass took beyond every model's own time (decoding the clip, the person detector, following
the athlete), counted once; ``seconds`` = ``model_s`` + ``tracking_s`` and ``fps_processed``
from it, the speed the model would have had alone on these crops. MediaPipe follows the
athlete its own way and keeps its own pass (``run_analysis``).
"""
from __future__ import annotations

import time
from pathlib import Path

from engine.pose import PoseSeries
from .pipeline import Progress, model_seconds, run_analysis
from .reader import VideoError


def predict_many(clip: str | Path, predictors: list, stride: int = 1, max_seconds: float | None = None,
                 keep_heatmaps: bool = False, progress: Progress | None = None) -> list[PoseSeries]:
    """Every heatmap predictor of ``predictors`` on ``clip`` in one pass, ``predictors[0]``
    leading (its series is the one ``predict_video`` gives alone); one series each, in order.
    ``progress(fraction, message)`` as the lead's ``predict_video`` tells it."""
    lead, followers = predictors[0], list(predictors[1:])
    t0 = time.perf_counter()
    out = lead.predict_shared(str(clip), followers, stride=stride, max_seconds=max_seconds,
                              keep_heatmaps=keep_heatmaps, progress=progress)
    wall = time.perf_counter() - t0
    own = [model_seconds(s) for s in out]
    tracking = max(wall - sum(own), 0.0)
    for s, mine in zip(out, own):
        secs = mine + tracking
        s.meta["model_s"] = round(mine, 3)
        s.meta["seconds"] = round(secs, 3)
        s.meta["fps_processed"] = round(len(s) / secs, 2) if secs > 0 else None
        s.meta.setdefault("shared_pass", {"lead": lead.name, "models": [p.name for p in predictors]})
        s.meta["shared_pass"].update(seconds=round(wall, 3), tracking_s=round(tracking, 3))
    return out


def run_analyses(clip: str | Path, predictors: list, out_dirs: list | None = None, stride: int = 1,
                 max_seconds: float | None = None, keep_heatmaps: bool = False,
                 progress=None, analysed=None) -> list[tuple[dict, PoseSeries, object]]:
    """``run_analysis`` for several heatmap predictors on one shared pass (``predict_many``):
    [(report, series, SquatReport)] in their order; with ``out_dirs`` (one per predictor)
    each writes its keypoints.csv, report.json and annotated.mp4 there, all or nothing, as
    ``run_analysis`` does. ``progress(i, fraction, message)``: ``fraction`` of the whole work
    (the pass is the first 90 %, then each model's analysis and files in turn), ``i`` the
    model the message is about (0, the lead, during the pass). ``analysed(i, seconds)``, when
    given, is told how long model ``i``'s analysis and files took."""
    n = len(predictors)
    out_dirs = list(out_dirs) if out_dirs is not None else [None] * n
    if len(out_dirs) != n:
        raise ValueError(f"{n} predictors but {len(out_dirs)} output folders")

    def tell(i: int, frac: float, msg: str) -> None:
        if progress:
            progress(i, min(max(frac, 0.0), 1.0), msg)

    series = predict_many(clip, predictors, stride, max_seconds, keep_heatmaps,
                          lambda f, m: tell(0, 0.9 * f, m))
    if not len(series[0]):
        raise VideoError(f"{Path(clip).name}: no frame could be decoded")
    results = []
    for i, (s, out) in enumerate(zip(series, out_dirs)):
        t0 = time.perf_counter()
        results.append(run_analysis(clip, out, stride=stride, max_seconds=max_seconds, series=s,
                                    progress=lambda f, m, i=i: tell(i, 0.9 + 0.1 * (i + f) / n, m)))
        if analysed:
            analysed(i, time.perf_counter() - t0)
    return results
