"""How long an analysis will take, said before it runs (no Gradio here).

Measured, not guessed: for each chosen model, the real pipeline (``run_analysis``: model,
analysis and the annotated video, into a temporary folder) is timed on this clip's first
``PROBE_FRAMES[0]`` and first ``PROBE_FRAMES[1]`` frames, on this server as loaded at that
moment; the two timings give a fixed cost (loading, the first search for the athlete, the
video writer) and a cost per processed frame. Decoding a frame the stride skips is timed too.
The estimate for a stride k over N frames is, per model, fixed + ceil(N / k) x per-frame +
(N - ceil(N / k)) x 2 x decode (the clip is decoded twice: for the model and for the
annotated video); once the server has run analyses, that is multiplied by the median of
time taken / estimate over its latest ``LEARN_FROM`` (``learn``). Timings are cached per clip
and model for the server's life; the app shows the estimate next to the time the run took.

What it cannot know: a clip where the athlete is lost and searched for again and again costs
more per frame later than in its first frames.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from engine import storage
from engine.video.reader import open_video

#: The two probe lengths (frames from the clip's start, every frame).
PROBE_FRAMES = (3, 9)


@dataclass(frozen=True)
class Cost:
    """One model's measured cost on one clip, seconds."""

    fixed_s: float
    per_frame_s: float
    decode_s: float  # decoding one frame of the clip


_COSTS: dict[tuple[str, str, float], Cost] = {}
#: time taken / raw estimate of this server's latest analyses (``learn``), to correct the next
#: estimates (``correction``): the first frames cost more than the rest (the person finder
#: works hardest there), which a timing of them alone cannot know.
_RATIOS: list[float] = []
LEARN_FROM = 5


def decode_cost(clip: str | Path, frames: int = 12) -> float:
    """Seconds to decode one frame of the clip (mean over its first ``frames``)."""
    t0, n = time.perf_counter(), 0
    with open_video(clip, max_seconds=None) as v:
        for _ in v.frames():
            n += 1
            if n >= frames:
                break
    return (time.perf_counter() - t0) / max(n, 1)


def measure(clip: str | Path, name: str, predictor) -> Cost:
    """Time the real pipeline of model ``name`` (``predictor``) on the clip's first frames."""
    from engine.video.pipeline import MEDIAPIPE, run_analysis
    key = (str(clip), name, Path(clip).stat().st_mtime)
    if key in _COSTS:
        return _COSTS[key]
    with open_video(clip) as v:
        fps = float(v.fps) or 30.0
    took = []
    # in the app's data dir, within its disk budget (engine.storage), gone when timed
    with tempfile.TemporaryDirectory(prefix="probe-", dir=storage.area("analyses")) as tmp:
        for k, n in enumerate(PROBE_FRAMES):
            t0 = time.perf_counter()
            run_analysis(clip, Path(tmp) / f"p{k}", predictor=predictor, max_seconds=(n + 0.5) / fps,
                         keep_heatmaps=name != MEDIAPIPE)
            took.append(time.perf_counter() - t0)
    a, b = PROBE_FRAMES
    per_frame = max((took[1] - took[0]) / (b - a), 0.0)
    cost = Cost(max(took[0] - a * per_frame, 0.0), per_frame, decode_cost(clip))
    _COSTS[key] = cost
    return cost


def time_models(clip: str | Path, names: list[str], progress=None) -> list[Cost]:
    """``measure`` each model on the clip with the app's loaded predictor, holding its lock
    (``demo.compare.predictor_lock``). ``progress(fraction, message)`` is told each model."""
    from .compare import _predictor, predictor_lock
    costs = []
    for i, name in enumerate(names):
        if progress:
            progress(i / len(names), f"timing {name} on a few frames")
        with predictor_lock(name):
            costs.append(measure(clip, name, _predictor(name)))
    return costs


def cached(clip: str | Path, names: list[str]) -> list[Cost] | None:
    """The costs already measured for these models on this clip, or None if any is missing."""
    out = [_COSTS.get((str(clip), n, Path(clip).stat().st_mtime)) for n in names]
    return None if any(c is None for c in out) else out


def seconds(costs: list[Cost], frames: int, stride: int) -> float:
    """Estimated seconds for an analysis of ``frames`` frames at ``stride`` with these models."""
    processed = math.ceil(frames / max(1, stride))
    return sum(c.fixed_s + processed * c.per_frame_s + (frames - processed) * 2 * c.decode_s for c in costs)


def learn(estimated_s: float, took_s: float) -> None:
    """Remember how long an analysis took against its raw estimate (``seconds``)."""
    if estimated_s > 0 and took_s > 0:
        _RATIOS.append(took_s / estimated_s)
        del _RATIOS[:-LEARN_FROM]


def correction() -> float | None:
    """The median of time taken / raw estimate over the latest analyses, None before any."""
    return float(sorted(_RATIOS)[len(_RATIOS) // 2]) if _RATIOS else None


def describe(frames: int, fps: float, models: list[str], stride: int, costs: list[Cost]) -> tuple[float, str]:
    """(estimated seconds, one line for the user) for analysing a clip of ``frames`` frames at
    ``fps`` with ``models`` (their ``costs``) at ``stride``: ``seconds``, times the
    ``correction`` learnt from the server's latest analyses when there is one."""
    processed = math.ceil(frames / max(1, stride))
    c = correction()
    est = seconds(costs, frames, stride) * (c or 1.0)
    rate = f"{fps / stride:.1f} frames/s of a {fps:.0f} frames/s clip"
    return est, (f"**About {_duration(est)}** for {processed} frames ({rate}) × {len(models)} "
                 f"model{'s' if len(models) != 1 else ''}: measured by timing each model on the "
                 f"clip's first {PROBE_FRAMES[0]} and {PROBE_FRAMES[1]} frames on this server"
                 + (f", times {c:.2f}: what its latest analyses took against their estimates." if c else "."))


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"
