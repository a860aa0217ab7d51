"""The 2-D projection drawn beside the 3-D view of a three-objective front.

A 3-D scatter is hard to read on a page (it needs turning, and WebGL); beside it, the first two
objectives as a plain scatter, coloured by the third, show the same trials at a glance: the
front's points outlined, infeasible ones as crosses, the same hover text as every view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from paretolab.report import plot_style as F
from paretolab.report.data import ReportData


def projection_figure(data: ReportData, a: int = 0, b: int = 1, c: int = 2) -> go.Figure | None:
    """Objectives ``a`` and ``b`` of every complete trial, coloured by objective ``c``."""
    if len(data.meta.objectives) != 3 or not len(data.complete):
        return None
    colour = data.values[:, c]
    scale = "Viridis_r" if data.meta.directions[c] == "minimize" else "Viridis"  # dark is better
    low, high = float(np.min(colour)), float(np.max(colour))
    fig = go.Figure()
    groups: list[tuple[str, np.ndarray, dict[str, Any]]] = [
        ("dominated", np.flatnonzero(~data.on_front & data.feasible), dict(size=6, opacity=0.55)),
        ("infeasible", np.flatnonzero(~data.on_front & ~data.feasible), dict(size=8, symbol="x")),
        ("Pareto front", np.flatnonzero(data.on_front), dict(size=10, line=dict(color=F.FRONT_COLOR, width=2)))]
    for k, (name, idx, marker) in enumerate(groups):
        fig.add_trace(go.Scatter(
            x=data.values[idx, a], y=data.values[idx, b], mode="markers", name=name, **F._hover(idx),
            marker=dict(marker, color=colour[idx], colorscale=scale, cmin=low, cmax=high,
                        showscale=k == 0, colorbar=dict(title=F._label(data, c)))))
    fig.update_xaxes(title_text=F._label(data, a))
    fig.update_yaxes(title_text=F._label(data, b))
    return F._layout(fig, 560)
