"""What a first-time user of the Compare tab reads first (no Gradio here; ``demo/ui.py``
wires it): which models the scorecard recommends and ticks by default, the one progress line
of a run, and the short summary shown at the top after Analyse (reps, depth per rep, the
main feedback, and which model the scorecard trusts where the models disagree).

The ranking is the scorecard's own (``engine.training.scorecard.ranking`` over
``weights/scorecard.json``), the default its choice (``weights/default.txt``,
``engine.models.weights.default_model``); the model list itself comes from the shipped
weights (``demo.compare.available_models``), never from a list written here.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from engine.models import weights as weightslib
from engine.training.scorecard import held_out_reps_right, ranking, rep_pairs

RECOMMENDED = "recommended"


def scorecard(directory: str | Path | None = None) -> dict:
    """``weights/scorecard.json`` (``SQUATPOSE_WEIGHTS_DIR`` overrides), {} when absent or unreadable."""
    path = Path(directory or weightslib.WEIGHTS_DIR) / "scorecard.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def ranked(models: list[str], card: dict) -> list[str]:
    """``models`` best first by the scorecard (``ranking``); models it did not score keep
    their order after the scored ones."""
    rows, held = card.get("models") or {}, card.get("held_out_clips") or ()
    scored = ranking({m: rows[m] for m in models if m in rows}, held)
    return scored + [m for m in models if m not in rows]


def preselected(models: list[str], default: str | None, card: dict) -> list[str]:
    """The models ticked on first load: the scorecard's default and, when there is one, the
    next best by the scorecard that counted at least as many held-out clips right as the
    default (a second model only where the scorecard says it is as trustworthy on clips no
    model trained on; otherwise the default alone)."""
    if not models:
        return []
    first = default if default in models else ranked(models, card)[0]
    rows, held = card.get("models") or {}, card.get("held_out_clips") or ()
    if first not in rows:
        return [first]
    bar = held_out_reps_right(rows[first], held)
    nxt = [m for m in ranked(models, card) if m != first and m in rows
           and held_out_reps_right(rows[m], held) >= bar]
    return [first] + nxt[:1]


def label(name: str, default: str | None) -> str:
    """A model's name as every list and table shows it: the default marked 'recommended'."""
    return f"{name} ({RECOMMENDED})" if name == default else name


def choices(models: list[str], default: str | None) -> list[tuple[str, str]]:
    """(label, value) pairs for the model list."""
    return [(label(m, default), m) for m in models]


def reps_words(n: int | None) -> str:
    """'1 rep', '2 reps', '0 reps'."""
    n = int(n or 0)
    return f"{n} rep{'' if n == 1 else 's'}"


def speed_words(fps: float | None) -> str:
    """The processing speed, not to be read as the clip's frame rate."""
    return f"analysed at {fps or 0:.0f} frames/s"


def duration_words(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def _stage(message: str) -> str:
    """The pipeline's progress message without the model's name (``engine.video.predict``
    starts its messages with it; the progress line names the model once)."""
    head, sep, tail = message.partition(": ")
    words = tail if sep and " " not in head else message
    if words.startswith("frame "):
        return "finding the joints, " + words
    if words.endswith(" frames"):
        return "joints found in " + words
    return words


def progress_line(name: str, k: int, n: int, fraction: float, message: str, elapsed_s: float,
                  default: str | None = None, estimate_s: float | None = None) -> tuple[float, str]:
    """(fraction of the whole run, one line) for model ``k`` (0-based) of ``n`` at
    ``fraction`` of its own work with the pipeline's ``message``, ``elapsed_s`` into the run:
    'model 1 of 2 · mobilenetv2 (recommended) · finding the joints, frame 72 · about 14 s left'.
    The time left: from the run's estimate before it started (``estimate_s``) and its pace
    so far, the pace weighing as much as the share done (no pace before 5 % of the run).
    ``fraction`` may run past 1 (up to the models left, ``n - k``) when model ``k``'s pass
    does the next models' work too (``demo.compare.run_models``' shared pass)."""
    total = min(k + max(fraction, 0.0), max(n, 1)) / max(n, 1)
    whole = None
    if total >= 0.05 and elapsed_s > 1:
        pace = elapsed_s / total
        whole = pace if estimate_s is None else (1 - total) * estimate_s + total * pace
    elif estimate_s is not None:
        whole = estimate_s
    left = "" if whole is None else f" · about {duration_words(max(1, math.ceil(whole - elapsed_s)))} left"
    who = f"model {k + 1} of {n} · " if n > 1 else ""
    return total, f"{who}{label(name, default)} · {_stage(message)}{left}"


def main_feedback(report: dict) -> str | None:
    """The first sentence of a report's feedback about the whole set (not 'N reps found.',
    not one rep's), else its first sentence about a rep, else None."""
    lines = list(report.get("feedback") or [])
    for s in lines:
        if not s.endswith(" found.") and not s.startswith("Rep "):
            return s
    return next(iter(lines), None)


def depth_words(d: dict) -> str:
    below = d.get("below_parallel")
    where = "depth not measured" if below is None else "below parallel" if below else "above parallel"
    knee = d.get("bottom_knee_angle")
    return where + (f" (knee {knee:.0f}°)" if knee is not None else "")


def disagreements(reports: dict[str, dict], trusted: str) -> list[str]:
    """Where the other models disagree with ``trusted``: the rep count, and the depth (above
    or below parallel) of reps both found (matched in time, ``rep_pairs``)."""
    mine = reports[trusted]
    out = []
    for name, r in reports.items():
        if name == trusted:
            continue
        if r.get("reps") != mine.get("reps"):
            out.append(f"{name} counts {reps_words(r.get('reps'))}, {trusted} {reps_words(mine.get('reps'))}")
        a, b = mine.get("rep_details") or [], r.get("rep_details") or []
        for i, j in rep_pairs([[d["start_s"], d["end_s"]] for d in a], [[d["start_s"], d["end_s"]] for d in b]):
            x, y = a[i].get("below_parallel"), b[j].get("below_parallel")
            if x is not None and y is not None and x != y:
                out.append(f"rep {i + 1}'s depth: {trusted} {depth_words(a[i])}, {name} {depth_words(b[j])}")
    return out


def trusted_model(names: list[str], default: str | None, card: dict) -> str:
    """The model whose results lead the summary: the default when it ran, else the best
    by the scorecard among those that ran (the first that ran when none was scored)."""
    return default if default in names else ranked(names, card)[0]


def why_trusted(name: str, card: dict) -> str:
    """'it counted 11 of 11 test clips right, 3 of 3 held out' from its scorecard row, or ''."""
    row = (card.get("models") or {}).get(name)
    if not row or row.get("reps_match") is None:
        return ""
    held = card.get("held_out_clips") or []
    return (f"it counted {row['reps_match']} of {len(card.get('clips') or row.get('reps') or [])} test "
            f"clips right, {held_out_reps_right(row, held)} of {len(held)} that no model trained on")


def summary_markdown(reports: dict[str, dict], default: str | None, card: dict, took_s: float | None = None,
                     estimate_s: float | None = None) -> str:
    """The short summary at the top after Analyse: the trusted model's reps, depth per rep and
    main feedback; the other models' rep counts; where they disagree, which model the
    scorecard trusts and a link down to the disagreement chart; the time taken."""
    if not reports:
        return ""
    names = list(reports)
    lead = trusted_model(names, default, card)
    r = reports[lead]
    lines = [f"### {reps_words(r.get('reps'))} — {label(lead, default)}"]
    for i, d in enumerate(r.get("rep_details") or [], 1):
        lines.append(f"- Rep {i} ({d['start_s']:.1f}–{d['end_s']:.1f} s): {depth_words(d)}")
    main = main_feedback(r)
    if main:
        lines.append(f"\n**{main}**")
    others = [f"{label(n, default)}: {reps_words(reports[n].get('reps'))}" for n in names if n != lead]
    if others:
        lines.append("\nOther models: " + "; ".join(others) + ".")
    diff = disagreements(reports, lead)
    if diff:
        why = why_trusted(lead, card)
        lines.append("\n⚠️ The models disagree: " + "; ".join(diff) + f". The scorecard trusts **{lead}**"
                     + (f" ({why})" if why else "") + ": [see where they disagree](#disagreement-plot).")
    if took_s is not None:
        lines.append(f"\nTook {duration_words(took_s)}" + (f" (estimated {duration_words(estimate_s)})."
                                                          if estimate_s is not None else ".")
                     + " Panels, charts and tables below.")
        shared = shared_pass_words(reports)
        if shared:
            lines.append("\n" + shared)
    return "\n".join(lines)


def shared_pass_words(reports: dict[str, dict]) -> str | None:
    """One sentence on the heatmap models' shared pass (``report['shared_pass']``): what
    decoding the clip and following the athlete took, once for all of them; None without one."""
    shared = next((r["shared_pass"] for r in reports.values() if r.get("shared_pass")), None)
    if not shared or len(shared.get("models") or ()) < 2:
        return None
    names = shared["models"]
    return (f"Decoding the clip and finding and following the athlete took {shared.get('tracking_s', 0):.1f} s, "
            f"once for {len(names)} models ({', '.join(names)}: the same frames and crops); each model's "
            "own time is in the Per model table.")
