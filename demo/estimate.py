"""How long an analysis will take, said before it runs (no Gradio here).

Measured on this server, not guessed: for each chosen model the real pipeline
(``run_analysis``: model, analysis and the annotated video, into a temporary folder) runs
once on the clip's first ``PROBE_FRAMES`` frames, and its own progress marks split that run
into stages (the bench's split, on this clip and this machine as loaded now): the model's
pass per frame in its steady state (from the first batch's end to the last's, so loading
and the first search for the athlete are not spread over every frame), the annotated video
per frame, and what is left as a fixed cost. Decoding a frame the stride skips is timed
too. The estimate for a stride k over N frames is, per model, fixed + ceil(N / k) x
(model + video per frame) + (N - ceil(N / k)) x 2 x decode (the clip is decoded twice: for
the model and for the annotated video); once the server has run analyses, that is
multiplied by the median of time taken / estimate over its latest ``LEARN_FROM``
(``learn``). Timings are cached per clip and model for the server's life.

The estimate is said with its margin, ``MARGIN`` (the time taken lies between the estimate
divided and multiplied by it), which ``tests/test_estimate.py`` checks on two real clips;
an estimate whose probe was too unsteady to trust (the steady frames cost more than
``UNSTEADY`` times apart: the machine's load changing under it) is not shown as a number.

What it cannot know: a clip where the athlete is lost and searched for again and again costs
more per frame later than in its first frames; a machine whose load changes during the run.
"""
from __future__ import annotations

import math
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from engine import storage
from engine.video.reader import open_video

#: Frames of the probe run (three of the predictors' batches of 8).
PROBE_FRAMES = 24
#: The stated margin: the time taken lies within [estimate / MARGIN, estimate x MARGIN]. On the
#: shared 2 cores, whose load others' work moves between 2 and 16 within minutes, 1.5 was
#: missed (0.66) on oblique-single.mp4 while a training run started beside it.
MARGIN = 2.0
#: A probe whose per-frame times (per batch) differ by more than this factor is unsteady.
UNSTEADY = 3.0


@dataclass(frozen=True)
class Cost:
    """One model's measured cost on one clip, seconds."""

    fixed_s: float
    per_frame_s: float  # the model's pass and the annotated video, per processed frame
    decode_s: float  # decoding one frame of the clip
    steady: bool = True  # the probe's per-frame times agreed (within UNSTEADY)
    from_runs: bool = False  # per_frame_s is what this server's latest whole analyses took


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


def _frame_number(message: str) -> int | None:
    m = re.search(r"frame (\d+)$", message)
    return int(m.group(1)) if m else None


def split_stages(marks: list[tuple[float, str]], total_s: float, frames: int) -> tuple[float, float, bool]:
    """(fixed seconds, seconds per frame, steady?) from one probe run's progress ``marks``
    ((seconds since its start, message) each, as ``run_analysis`` reports them) that took
    ``total_s`` for ``frames`` frames: the model's steady pass per frame between its first
    and last 'frame N' marks, plus the annotated video per frame (from 'writing annotated
    video' to 'done'); the rest is fixed."""
    at = [(t, n) for t, m in marks if (n := _frame_number(m)) is not None]
    write = next((t for t, m in marks if m == "writing annotated video"), None)
    done = next((t for t, m in marks if m == "done"), total_s)
    steps = [(t1 - t0) / (n1 - n0) for (t0, n0), (t1, n1) in zip(at, at[1:]) if n1 > n0]
    if steps:
        model = (at[-1][0] - at[0][0]) / (at[-1][1] - at[0][1])
        steady = max(steps) <= UNSTEADY * min(steps)
    else:  # one batch only: no steady state to tell apart from the start
        model, steady = (at[-1][0] if at else total_s) / max(frames, 1), False
    video = (done - write) / max(frames, 1) if write is not None else 0.0
    per_frame = model + video
    return max(total_s - frames * per_frame, 0.0), per_frame, steady


def measure(clip: str | Path, name: str, predictor) -> Cost:
    """Time the real pipeline of model ``name`` (``predictor``) on the clip's first frames."""
    from engine.video.pipeline import MEDIAPIPE, run_analysis
    key = (str(clip), name, Path(clip).stat().st_mtime)
    if key in _COSTS:
        return _COSTS[key]
    with open_video(clip) as v:
        fps = float(v.fps) or 30.0
    marks = []
    # in the app's data dir, within its disk budget (engine.storage), gone when timed
    with tempfile.TemporaryDirectory(prefix="probe-", dir=storage.area("analyses")) as tmp:
        t0 = time.perf_counter()
        _, series, _ = run_analysis(clip, Path(tmp) / "p", predictor=predictor,
                                    max_seconds=(PROBE_FRAMES + 0.5) / fps, keep_heatmaps=name != MEDIAPIPE,
                                    progress=lambda f, m: marks.append((time.perf_counter() - t0, m)))
        total = time.perf_counter() - t0
    fixed, per_frame, steady = split_stages(marks, total, len(series))
    cost = Cost(fixed, per_frame, decode_cost(clip), steady)
    _COSTS[key] = cost
    return cost


#: Seconds per processed frame of each model's latest whole analyses on this server (the model
#: pass, the analysis and the annotated video, fixed costs spread over the frames): a whole run
#: averages over the load's swings that a probe of a few frames catches one of.
_RUN_COSTS: dict[str, list[float]] = {}


def learn_run(name: str, frames: int, took_s: float) -> None:
    """Remember that model ``name`` analysed ``frames`` frames in ``took_s`` seconds."""
    if frames > 0 and took_s > 0:
        _RUN_COSTS.setdefault(name, []).append(took_s / frames)
        del _RUN_COSTS[name][:-LEARN_FROM]


def run_cost(name: str, clip: str | Path) -> Cost | None:
    """The model's cost from this server's latest whole analyses (their median), or None."""
    seen = _RUN_COSTS.get(name)
    if not seen:
        return None
    return Cost(0.0, float(sorted(seen)[len(seen) // 2]), decode_cost(clip), True, True)


def time_models(clip: str | Path, names: list[str], progress=None) -> list[Cost]:
    """Each model's cost on the clip: from this server's whole analyses of it (``run_cost``)
    when there are any, else ``measure``d with the app's loaded predictor, holding its lock
    (``demo.compare.predictor_lock``). ``progress(fraction, message)`` is told each model."""
    from .compare import _predictor, predictor_lock
    costs = []
    for i, name in enumerate(names):
        known = run_cost(name, clip)
        if known is not None:
            costs.append(known)
            continue
        if progress:
            progress(i / len(names), f"timing {name} on a few frames")
        with predictor_lock(name):
            costs.append(measure(clip, name, _predictor(name)))
    return costs


def cached(clip: str | Path, names: list[str]) -> list[Cost] | None:
    """The costs already known for these models on this clip (``run_cost``, else measured),
    or None if any is missing."""
    out = [run_cost(n, clip) or _COSTS.get((str(clip), n, Path(clip).stat().st_mtime)) for n in names]
    return None if any(c is None for c in out) else out


def seconds(costs: list[Cost], frames: int, stride: int) -> float:
    """Estimated seconds for an analysis of ``frames`` frames at ``stride`` with these models."""
    processed = math.ceil(frames / max(1, stride))
    return sum(c.fixed_s + processed * c.per_frame_s + (frames - processed) * 2 * c.decode_s for c in costs)


def learn(estimated_s: float, took_s: float, costs: list[Cost] | None = None) -> None:
    """Remember how long an analysis took against its raw estimate (``seconds``), unless
    the probe behind it (``costs``) was unsteady: the load changed under it."""
    if costs is not None and not all(c.steady for c in costs):
        return
    if estimated_s > 0 and took_s > 0:
        _RATIOS.append(took_s / estimated_s)
        del _RATIOS[:-LEARN_FROM]


def correction() -> float | None:
    """The median of time taken / raw estimate over the latest analyses, None before any."""
    return float(sorted(_RATIOS)[len(_RATIOS) // 2]) if _RATIOS else None


def describe(frames: int, fps: float, models: list[str], stride: int, costs: list[Cost]) -> tuple[float | None, str]:
    """(estimated seconds, one line for the user) for analysing a clip of ``frames`` frames at
    ``fps`` with ``models`` (their ``costs``) at ``stride``: ``seconds``, times the
    ``correction`` learnt from the server's latest analyses when there is one, said with its
    margin (``MARGIN``); (None, why) when a probe was too unsteady to go by."""
    processed = math.ceil(frames / max(1, stride))
    c = correction()
    rate = f"{fps / stride:.1f} frames/s of a {fps:.0f} frames/s clip"
    what = (f"{processed} frames ({rate}) × {len(models)} model{'s' if len(models) != 1 else ''}")
    if not all(c0.steady for c0 in costs):
        return None, (f"No estimate for {what}: the server is too busy right now to say how long "
                      "it will take (its speed changed while timing the first frames).")
    if all(c0.from_runs for c0 in costs):
        c = None  # whole analyses already carry what the probe's first frames miss
    est = seconds(costs, frames, stride) * (c or 1.0)
    lo, hi = est / MARGIN, est * MARGIN
    return est, (f"**About {_duration(est)}** (between {_duration(lo)} and {_duration(hi)}) for {what}: "
                 + ("from what this server's latest analyses with these models took per frame"
                    if all(c0.from_runs for c0 in costs) else
                    f"measured by timing each model on the clip's first {PROBE_FRAMES} frames on this server")
                 + (f", times {c:.2f}: what its latest analyses took against their estimates." if c else "."))


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"
