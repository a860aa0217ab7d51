"""What every report figure shares: the template, the colors, the layout, axis labels and hover text."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from paretolab.report.data import ReportData, esc

TEMPLATE = "plotly_white"
FRONT_COLOR = "#1f5fbf"
GREY = "rgba(140,140,140,0.45)"
INFEASIBLE = "#d62728"
KNEE = "#ff7f0e"
MAX_CURVE_TRIALS = 40  # training curves / conflict: at most this many front trials (evenly spread)


def _layout(fig: go.Figure, height: int = 460, **kwargs: Any) -> go.Figure:
    kwargs.setdefault("legend", dict(orientation="h", y=-0.18))
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=60, r=20, t=40, b=50),
                      hoverlabel=dict(align="left"), **kwargs)
    return fig


def _label(data: ReportData, j: int) -> str:
    d = data.meta.directions[j]
    return f"{esc(data.meta.objectives[j])} ({'min' if d == 'minimize' else 'max'})"



def _hover(idx: Any) -> dict[str, Any]:
    """Hover texts by reference: the page holds each trial's text once (``HOVER`` in the page
    script) and fills ``text`` from ``meta.hover`` before plotting; keeps 1,000 trials small."""
    return dict(meta=dict(hover=[int(i) for i in idx]), hovertemplate="%{text}<extra></extra>")


def _best_first(data: ReportData, idx: np.ndarray, a: int) -> np.ndarray:
    """``idx`` sorted best-first on objective ``a``."""
    order = np.argsort(data.values[idx, a], kind="stable")
    if data.meta.directions[a] == "maximize":
        order = order[::-1]
    return np.asarray(idx)[order]


