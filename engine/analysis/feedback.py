"""Per-rep figures and plain feedback sentences.

Per rep: bottom knee angle, depth relative to parallel (hip vs knee height at the bottom, in
thigh lengths; positive = hip below knee), descent and ascent time, left/right knee angle
difference at the bottom (front view only) and knee valgus (front view only: a knee moving
towards the midline relative to its own ankle, beyond where it sat at the rep's start, by more
than VALGUS_RATIO leg lengths). A figure that needs an unreliable joint is None: it is never
guessed.
"""
from __future__ import annotations

import numpy as np

from . import thresholds as th
from .angles import LEGS, segment_lengths
from .posture import WORDS
from .reps import Partial, Rep
from .view import FRONT_OR_BACK, FRONT_VIEWS


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 3)


def inward_offset(kp: np.ndarray, leg: float) -> np.ndarray:
    """(T, 2) horizontal offset of each knee from its own ankle towards the body's midline, in
    units of ``leg`` (the standing leg length, px), left then right; NaN where the knee or
    ankle is missing. "Towards the midline" is towards the other ankle (the other hip where
    the ankles are not seen), decided once over ``kp``'s frames so that it cannot flip.

    The knee is measured against the ankle, not against the hip-ankle line: seen from the front
    at the bottom of a squat the thigh points at the camera, and the hip's image position then
    says little about where the knee is (see ``thresholds.VALGUS_RATIO``)."""
    out = np.full((len(kp), 2), np.nan)
    for s, (h, k, a) in enumerate(LEGS):
        oh, _, oa = LEGS[1 - s]
        with np.errstate(all="ignore"):
            side = np.nanmedian(kp[:, oa, 0] - kp[:, a, 0]) if np.isfinite(kp[:, [a, oa], 0]).all(1).any() \
                else np.nanmedian(kp[:, oh, 0] - kp[:, h, 0]) if np.isfinite(kp[:, [h, oh], 0]).all(1).any() \
                else np.nan
            out[:, s] = (kp[:, k, 0] - kp[:, a, 0]) * np.sign(side) / leg
    return out


def standing_lengths(kp: np.ndarray) -> tuple[float, float]:
    """(thigh, thigh + shin) standing lengths in px: a high percentile (90th) over ``kp``'s
    frames, so a leg foreshortened at the bottom of a front-view squat does not shrink them."""
    thigh, shin = segment_lengths(kp)
    with np.errstate(all="ignore"):
        t = np.nanmax(thigh, axis=1)
        leg = np.nanmax(thigh + shin, axis=1)
    t, leg = t[np.isfinite(t)], leg[np.isfinite(leg)]
    return (float(np.percentile(t, 90)) if len(t) else np.nan,
            float(np.percentile(leg, 90)) if len(leg) else np.nan)


def bottom_knee(rep: Rep, knee: np.ndarray) -> tuple[int, float]:
    """(frame, angle): the rep's smallest knee angle (the mean of the knees seen in a frame),
    degrees; the bottom frame and NaN when no knee angle is known in the rep."""
    with np.errstate(all="ignore"):
        mean_knee = np.nanmean(knee[rep.start:rep.end + 1], axis=1)
        if not np.isfinite(mean_knee).any():
            return rep.bottom, np.nan
        kb = rep.start + int(np.nanargmin(mean_knee))
        return kb, float(np.nanmean(knee[kb]))


def rep_figures(rep: Rep, kp: np.ndarray, knee: np.ndarray, times: np.ndarray, view: str,
                reliable: np.ndarray, seg_kp: np.ndarray | None = None) -> dict:
    """The figures of one rep (see the module docstring); ``view`` is the view segment's,
    ``reliable`` (T,) bool: the frame had a usable leg; ``seg_kp``: the keypoints of the rep's
    view segment (standing lengths come from it; default: the rep's own frames)."""
    sl = slice(rep.start, rep.end + 1)
    share = float(np.mean(reliable[sl])) if rep.end >= rep.start else 0.0
    b = rep.bottom
    d = {"start_s": float(times[rep.start]), "bottom_s": float(times[b]), "end_s": float(times[rep.end]),
         "start_frame": int(rep.start), "bottom_frame": int(b), "end_frame": int(rep.end),
         "descent_s": round(float(times[b] - times[rep.start]), 3),
         "ascent_s": round(float(times[rep.end] - times[b]), 3),
         "view": view, "depth_signal": _f(rep.bottom_depth), "reliable_share": round(share, 3)}
    kb, angle = bottom_knee(rep, knee)
    d["bottom_knee_angle"] = _f(angle)
    d["bottom_knee_angle_left"] = _f(knee[kb, 0])
    d["bottom_knee_angle_right"] = _f(knee[kb, 1])
    # depth relative to parallel, at the bottom frame
    thigh_len, leg_len = standing_lengths(kp[sl] if seg_kp is None else seg_kp)
    with np.errstate(all="ignore"):
        rel = np.array([(kp[b, h, 1] - kp[b, k, 1]) / thigh_len for h, k, _ in LEGS])
    depth = float(np.nanmean(rel)) if np.isfinite(rel).any() else np.nan
    d["depth"] = _f(depth)
    d["below_parallel"] = None if not np.isfinite(depth) else bool(depth >= -th.PARALLEL_MARGIN)
    # front-view figures
    d["knee_asymmetry"] = None
    d["valgus_descent"] = d["valgus_ascent"] = None
    if view in FRONT_VIEWS:
        thigh_b, _ = segment_lengths(kp[kb:kb + 1])
        if np.isfinite(knee[kb]).all() and (thigh_b[0] >= th.MIN_THIGH_SHARE * thigh_len).all():
            d["knee_asymmetry"] = _f(abs(knee[kb, 0] - knee[kb, 1]))
        off = inward_offset(kp[sl], leg_len)
        base = off[0] if np.isfinite(off[0]).all() else np.nanmedian(off[:3], axis=0)
        drift = off - base  # (T, 2) inward drift of each knee since the rep's standing start
        with np.errstate(all="ignore"):
            side_in = drift > th.VALGUS_RATIO  # (T, 2)
            inward = side_in.any(axis=1)
            known = np.isfinite(drift).any(axis=1)
        nb = b - rep.start
        sides = set()
        for key, part in (("valgus_descent", slice(0, nb + 1)), ("valgus_ascent", slice(nb, None))):
            if known[part].sum() >= 2:
                d[key] = round(float(inward[part][known[part]].mean()), 3)
                if d[key] >= th.VALGUS_SHARE:
                    sides |= {name for s, name in enumerate(("left", "right"))
                              if side_in[part][known[part], s].mean() >= th.VALGUS_SHARE / 2}
        d["valgus_side"] = ("both" if len(sides) == 2 else sides.pop()) if sides else None
        if view == FRONT_OR_BACK and d["valgus_side"] in ("left", "right"):
            # which way the athlete faces is unknown: the source's left and right may be mirrored
            d["valgus_side"] = "one"
        with np.errstate(all="ignore"):
            d["max_inward"] = _f(np.nanmax(drift)) if np.isfinite(drift).any() else None
    return d


def rep_sentences(i: int, d: dict) -> list[str]:
    """Feedback for rep ``i`` (1-based) from its figures."""
    out = []
    if d["reliable_share"] < th.MIN_RELIABLE_SHARE:
        return [f"Rep {i}: the joints were not visible well enough to judge this rep."]
    if d["below_parallel"] is False:
        out.append(f"Rep {i}: hips stayed above parallel.")
    if d["descent_s"] < th.FAST_DESCENT_S:
        out.append(f"Rep {i}: fast descent ({d['descent_s']:.1f} s); lower under control.")
    for key, phase in (("valgus_descent", "down"), ("valgus_ascent", "up")):
        if d.get(key) is not None and d[key] >= th.VALGUS_SHARE:
            side = d.get("valgus_side")
            who = f"the {side} knee drifts" if side in ("left", "right") else \
                "one knee drifts" if side == "one" else "knees drift"
            out.append(f"Rep {i}: {who} inward on the way {phase}.")
    if d.get("knee_asymmetry") is not None and d["knee_asymmetry"] > th.ASYMMETRY_DEG:
        out.append(f"Rep {i}: left and right knees differ by {d['knee_asymmetry']:.0f}° at the bottom.")
    return out


def set_sentences(details: list[dict], partials: list[Partial], times: np.ndarray) -> list[str]:
    """Feedback for the whole set."""
    n = len(details)
    out = []
    judged = [d for d in details if d["reliable_share"] >= th.MIN_RELIABLE_SHARE]
    if n:
        out.append(f"{n} rep{'s' if n != 1 else ''} found.")
    shallow = [d for d in judged if d["below_parallel"] is False]
    deep = [d for d in judged if d["below_parallel"] is True]
    if judged and len(shallow) >= th.SET_SHARE * len(judged):
        out.append(f"Hips stayed above parallel on {len(shallow)} of {len(judged)} reps: sit deeper "
                   "if your mobility allows.")
    elif judged and len(deep) == len(judged):
        out.append("Every rep reached parallel or below.")
    for key, phase in (("valgus_descent", "down"), ("valgus_ascent", "up")):
        hit = [d for d in judged if d.get(key) is not None and d[key] >= th.VALGUS_SHARE]
        if judged and len(hit) >= th.SET_SHARE * len(judged):
            sides = {d.get("valgus_side") for d in hit}
            if len(sides) == 1 and sides <= {"left", "right"}:
                out.append(f"The {sides.pop()} knee drifts inward on the way {phase} ({len(hit)} of "
                           f"{len(judged)} reps): push it out over the toes.")
            else:
                out.append(f"Knees drift inward on the way {phase} ({len(hit)} of {len(judged)} reps): "
                           "push them out over the toes.")
    asym = [d["knee_asymmetry"] for d in judged if d.get("knee_asymmetry") is not None]
    big = [a for a in asym if a > th.ASYMMETRY_DEG]
    if asym and len(big) >= th.SET_SHARE * len(asym):
        out.append(f"Left and right knees differ by {np.mean(big):.0f}° at the bottom on average: "
                   "check that both legs bend alike.")
    fast = [d for d in judged if d["descent_s"] < th.FAST_DESCENT_S]
    if judged and len(fast) >= th.SET_SHARE * len(judged):
        out.append("Most descents are fast: lower under control.")
    for p in partials:
        t = float(times[p.start])
        if p.kind == "shallow":
            out.append(f"A partial squat at {t:.1f} s did not go deep enough to count as a rep.")
        elif p.kind == "start":
            out.append("The clip starts mid-rep; that rep is not counted.")
        elif p.kind == "resumed":
            out.append(f"The athlete was lost from view and found again mid-rep at {t:.1f} s; "
                       "that rep's descent was not seen, so it is not counted.")
        elif p.kind == "end":
            out.append("The clip ends mid-rep; that rep is not counted.")
        elif p.kind == "not upright":
            how = WORDS.get(p.posture, "not on their feet")
            out.append(f"A knee bend at {t:.1f} s was not counted: the athlete was {how}, not "
                       "standing, where it began or ended. A squat starts and ends on the feet.")
        elif p.kind == "knee too closed":
            out.append(f"A knee bend at {t:.1f} s was not counted: its knee closed to "
                       f"{p.knee_angle:.0f}°, further than a knee bends in a squat, so the joints "
                       "found there are probably not legs (an arm, say). Film the whole body, "
                       "hips to feet.")
        elif p.kind == "lost":
            out.append(f"The athlete was lost from view during a rep at {t:.1f} s; it is not counted.")
    return out
