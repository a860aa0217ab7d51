"""The report's front figures: the trials in objective space (2-D pairs or 3-D), the front, the
knee, and the verified points with their confidence intervals. Every user string is escaped with ``esc``."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paretolab.report.data import ReportData, VerifiedPoints, verified_points
from paretolab.report.plot_style import FRONT_COLOR, GREY, INFEASIBLE, KNEE, _best_first, _hover, _label, _layout


def _groups(data: ReportData) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """Dominated feasible (grey), infeasible (red x), front (blue): disjoint, covering all."""
    dominated = ~data.on_front & data.feasible
    infeasible = ~data.on_front & ~data.feasible
    return [
        ("dominated", np.flatnonzero(dominated), dict(color=GREY, size=6)),
        ("infeasible", np.flatnonzero(infeasible), dict(color=INFEASIBLE, size=8, symbol="x")),
        ("Pareto front", np.flatnonzero(data.on_front), dict(color=FRONT_COLOR, size=9,
                                                            line=dict(color="white", width=1))),
    ]



def _step_xy(data: ReportData, idx: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Front points of objectives a, b sorted best-first on a (line_shape 'hv' then draws the
    attainment staircase through the worse corner for any directions)."""
    order = _best_first(data, idx, a)
    return data.values[order, a], data.values[order, b]


def _scatter_2d(fig: go.Figure, data: ReportData, a: int, b: int, row: int | None = None,
                col: int | None = None, legend: bool = True) -> None:
    kw = dict(row=row, col=col) if row else {}
    if len(data.meta.objectives) == 2:  # a projection of a 3-D front has no staircase
        front = np.flatnonzero(data.on_front)
        x, y = _step_xy(data, front, a, b)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=FRONT_COLOR, width=1.5, shape="hv"),
                                 name="front (step line)", hoverinfo="skip", showlegend=legend,
                                 legendgroup="step"), **kw)
    for name, idx, marker in _groups(data):
        fig.add_trace(go.Scatter(x=data.values[idx, a], y=data.values[idx, b], mode="markers",
                                 marker=marker, name=name, **_hover(idx), showlegend=legend,
                                 legendgroup=name), **kw)
    if data.knee is not None:
        k = data.knee
        fig.add_trace(go.Scatter(x=[data.values[k, a]], y=[data.values[k, b]], mode="markers",
                                 marker=dict(color=KNEE, size=16, symbol="star",
                                             line=dict(color="black", width=1)),
                                 name="knee", text=[data.hover[k]], showlegend=legend,
                                 hovertemplate="knee<br>%{text}<extra></extra>", legendgroup="knee"), **kw)


ROBUST_COLOR, NOT_ROBUST_COLOR = "#2ca02c", "#ff7f0e"


def _verified_2d(fig: go.Figure, data: ReportData, a: int, b: int, row: int | None = None,
                 col: int | None = None, legend: bool = True, points: VerifiedPoints | None = None) -> None:
    """The repeated configurations (``paretolab verify``, ``budget.repeats``) on objectives a, b:
    their means with 95% intervals as error bars, green on the verified front (robust), orange
    off it, and a dotted line from each one's single-trial point to its mean (how far luck moved it)."""
    vp = points if points is not None else verified_points(data)
    if vp is None:
        return
    kw = dict(row=row, col=col) if row else {}
    sx, sy = [], []
    for i in range(len(vp.numbers)):
        sx += [vp.raw[i, a], vp.mean[i, a], None]
        sy += [vp.raw[i, b], vp.mean[i, b], None]
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", line=dict(color="rgba(90,90,90,0.6)", width=1, dash="dot"),
                             name="trial → mean over seeds", hoverinfo="skip", showlegend=legend,
                             legendgroup="shift"), **kw)
    fig.add_trace(go.Scatter(
        x=vp.mean[:, a], y=vp.mean[:, b], mode="markers", name=VERIFIED_NAME,
        error_x=dict(type="data", array=vp.ci[:, a], thickness=1),
        error_y=dict(type="data", array=vp.ci[:, b], thickness=1),
        marker=dict(symbol="diamond-open", size=11, line=dict(width=2), color=_verdict_colors(vp)),
        customdata=[[n, label] for n, label in zip(vp.numbers, vp.labels)],
        text=vp.text, hovertemplate="%{text}<extra></extra>", showlegend=legend, legendgroup="verified"), **kw)


VERIFIED_NAME = "verified: mean ± 95% CI (green: robust, orange: not)"


def _verdict_colors(vp: VerifiedPoints) -> list[str]:
    return [ROBUST_COLOR if o else NOT_ROBUST_COLOR for o in vp.on_front]


def _verified_3d(fig: go.Figure, data: ReportData) -> None:
    """The repeated configurations in the 3-D view: means with 95% intervals on all three axes."""
    vp = verified_points(data)
    if vp is None:
        return
    fig.add_trace(go.Scatter3d(
        x=vp.mean[:, 0], y=vp.mean[:, 1], z=vp.mean[:, 2], mode="markers", name=VERIFIED_NAME,
        error_x=dict(type="data", array=vp.ci[:, 0], thickness=1),
        error_y=dict(type="data", array=vp.ci[:, 1], thickness=1),
        error_z=dict(type="data", array=vp.ci[:, 2], thickness=1),
        marker=dict(symbol="diamond-open", size=6, color=_verdict_colors(vp)),
        customdata=[[n, label] for n, label in zip(vp.numbers, vp.labels)],
        text=vp.text, hovertemplate="%{text}<extra></extra>"))


def verified_pairs_figure(data: ReportData) -> go.Figure | None:
    """Four or more objectives: every pair of objectives (lower triangle), the raw front's points
    and the repeated configurations' means with their 95% intervals (a scatter matrix cannot
    draw error bars). ``None`` when nothing was repeated."""
    vp = verified_points(data)
    m = len(data.meta.objectives)
    if vp is None or m < 3:
        return None
    n = m - 1
    fig = make_subplots(rows=n, cols=n, horizontal_spacing=0.04, vertical_spacing=0.05)
    front = np.flatnonzero(data.on_front)
    first = True
    for r in range(1, m):  # y: objective r; x: objective c < r
        for c in range(r):
            fig.add_trace(go.Scatter(x=data.values[front, c], y=data.values[front, r], mode="markers",
                                     marker=dict(color=FRONT_COLOR, size=7), name="Pareto front (trial values)",
                                     **_hover(front), showlegend=first, legendgroup="front"), row=r, col=c + 1)
            _verified_2d(fig, data, c, r, row=r, col=c + 1, legend=first, points=vp)
            first = False
            if r == m - 1:
                fig.update_xaxes(title_text=_label(data, c), row=r, col=c + 1)
            if c == 0:
                fig.update_yaxes(title_text=_label(data, r), row=r, col=c + 1)
    return _layout(fig, max(420, 230 * n))


def front_figures(data: ReportData) -> list[tuple[str, go.Figure]]:
    """2 objectives: scatter + staircase; 3: 3-D scatter + pairwise views; more: scatter matrix
    and parallel coordinates coloured by non-dominated rank. Once configurations were repeated
    (``paretolab verify``, ``budget.repeats``), every view of two or three objectives also draws
    their means with 95% intervals; with four or more, a grid of the objective pairs does."""
    m = len(data.meta.objectives)
    if not len(data.complete):
        return []
    if m == 1:
        fig = go.Figure()
        for name, idx, marker in _groups(data):
            fig.add_trace(go.Scatter(x=[data.complete[i].number for i in idx], y=data.values[idx, 0],
                                     mode="markers", marker=marker, name=name, **_hover(idx)))
        fig.update_xaxes(title_text="trial")
        fig.update_yaxes(title_text=_label(data, 0))
        return [("fig-front", _layout(fig))]
    if m == 2:
        fig = go.Figure()
        _scatter_2d(fig, data, 0, 1)
        _verified_2d(fig, data, 0, 1)
        fig.update_xaxes(title_text=_label(data, 0))
        fig.update_yaxes(title_text=_label(data, 1))
        return [("fig-front", _layout(fig, 520))]
    figs: list[tuple[str, go.Figure]] = []
    if m == 3:
        fig3 = go.Figure()
        for name, idx, marker in _groups(data):
            mk = dict(marker, size=4 if name == "dominated" else 5)
            mk.pop("line", None)
            fig3.add_trace(go.Scatter3d(x=data.values[idx, 0], y=data.values[idx, 1], z=data.values[idx, 2],
                                        mode="markers", marker=mk, name=name, **_hover(idx)))
        _verified_3d(fig3, data)
        fig3.update_layout(scene=dict(xaxis_title=_label(data, 0), yaxis_title=_label(data, 1),
                                      zaxis_title=_label(data, 2)))
        figs.append(("fig-front", _layout(fig3, 560)))
        pairs = list(itertools.combinations(range(3), 2))
        figp = make_subplots(rows=1, cols=3, horizontal_spacing=0.08)
        for c, (a, b) in enumerate(pairs, start=1):
            _scatter_2d(figp, data, a, b, row=1, col=c, legend=c == 1)
            _verified_2d(figp, data, a, b, row=1, col=c, legend=c == 1)
            figp.update_xaxes(title_text=_label(data, a), row=1, col=c)
            figp.update_yaxes(title_text=_label(data, b), row=1, col=c)
        figs.append(("fig-front-pairs", _layout(figp, 420)))
        return figs
    ranks = data.ranks.astype(float)
    dims = [dict(label=_label(data, j), values=data.values[:, j]) for j in range(m)]
    splom = go.Figure(go.Splom(dimensions=dims, **_hover(range(len(data.complete))),
                               marker=dict(color=ranks, colorscale="Viridis_r", size=5, showscale=True,
                                           colorbar=dict(title="rank")),
                               diagonal_visible=False, showupperhalf=False))
    figs.append(("fig-front", _layout(splom, 640)))
    par = go.Figure(go.Parcoords(line=dict(color=ranks, colorscale="Viridis_r", showscale=True,
                                           colorbar=dict(title="rank")),
                                 dimensions=[dict(label=_label(data, j), values=data.values[:, j])
                                             for j in range(m)]))
    figs.append(("fig-front-parcoords", _layout(par, 460)))
    verified = verified_pairs_figure(data)
    if verified is not None:
        figs.append(("fig-front-verified", verified))
    return figs


