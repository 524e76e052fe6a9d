"""The Compare tab's 3-D view: each model's six joints lifted to 3-D (engine.lifting) at the
slider's frame, as a rotatable Plotly ``scatter3d`` with the floor and the knee angles.

Axes: x the camera's right, depth away from the camera, height up from the floor (metres). The
lifter gives joints about the hip midpoint; each skeleton is stood on the floor with its lower
ankle ``FLOOR_BELOW_ANKLE_M`` above it (a squat keeps the feet down), so the hips' height shows
the depth."""
from __future__ import annotations

import numpy as np

from engine.analysis.angles import knee_angles
from engine.joints import JOINTS, SKELETON, edge_color

FLOOR_BELOW_ANKLE_M = 0.07  # an ankle joint's height above the sole
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _display(p: np.ndarray) -> np.ndarray:
    """Heading frame (x right, y down, z away) -> plot axes (x right, depth, up)."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def figure_3d(runs: list, position: int):
    """Plotly figure of every run's 3-D joints at series ``position`` (a run without 3-D
    joints is named in the title)."""
    import plotly.graph_objects as go
    fig = go.Figure()
    missing, shown = [], 0
    for k, r in enumerate(runs):
        kp3 = r.series.meta.get("joints3d") if getattr(r, "series", None) is not None else None
        if kp3 is None or not len(kp3):
            missing.append(r.name)
            continue
        t = int(np.clip(position, 0, len(kp3) - 1))
        p = _display(kp3[t])
        if not np.isfinite(p).all():
            missing.append(f"{r.name} (no 3-D at this frame)")
            continue
        p[:, 2] += FLOOR_BELOW_ANKLE_M - min(p[4, 2], p[5, 2])  # stand it on the floor
        shown += 1
        colour = PALETTE[k % len(PALETTE)]
        for a, b in SKELETON:
            rgb = "rgb({},{},{})".format(*edge_color((a, b)))
            fig.add_trace(go.Scatter3d(x=p[[a, b], 0], y=p[[a, b], 1], z=p[[a, b], 2],
                                       mode="lines", line=dict(color=rgb, width=7),
                                       legendgroup=r.name, showlegend=False, hoverinfo="skip"))
        knee = knee_angles(kp3[t:t + 1])[0]
        text = [""] * 6
        text[2], text[3] = f"L knee {knee[0]:.0f}°", f"R knee {knee[1]:.0f}°"
        fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers+text",
                                   marker=dict(size=5, color=colour), text=text,
                                   textposition="middle right", name=r.name, legendgroup=r.name,
                                   hovertext=list(JOINTS), hoverinfo="text"))
    g = np.array([-0.5, 0.5])
    fig.add_trace(go.Surface(x=g, y=g, z=np.zeros((2, 2)), showscale=False, opacity=0.35,
                             colorscale=[[0, "#9e9e9e"], [1, "#9e9e9e"]], name="floor",
                             hoverinfo="skip"))
    title = "3-D joints (rotate with the mouse)"
    if missing:
        title += " — no 3-D: " + ", ".join(missing)
    fig.update_layout(
        title=dict(text=title, font=dict(size=13)), height=460, uirevision="pose-3d",
        margin=dict(l=0, r=0, t=36, b=0), legend=dict(orientation="h"),
        scene=dict(aspectmode="data", xaxis_title="right (m)", yaxis_title="depth (m)",
                   zaxis_title="height (m)", zaxis=dict(range=[-0.05, 1.1]),
                   camera=dict(eye=dict(x=1.4, y=-1.4, z=0.6))))
    fig.layout.meta = {"shown": shown}
    return fig
