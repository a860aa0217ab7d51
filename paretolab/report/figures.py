"""The report's Plotly figures (the front ones are in :mod:`.front_figures`, what they share in
:mod:`.plot_style`). Every user string going into a figure is escaped with ``esc``.

Each builder returns a figure or ``None`` when there is nothing to draw (the page then says why).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paretolab import dominance
from paretolab.report.data import ReportData, esc
from paretolab.report.front_figures import NOT_ROBUST_COLOR as NOT_ROBUST_COLOR
from paretolab.report.front_figures import ROBUST_COLOR as ROBUST_COLOR
from paretolab.report.front_figures import VERIFIED_NAME as VERIFIED_NAME
from paretolab.report.front_figures import front_figures as front_figures
from paretolab.report.front_figures import verified_pairs_figure as verified_pairs_figure
from paretolab.report.plot_style import FRONT_COLOR, GREY, MAX_CURVE_TRIALS, _best_first, _hover, _label, _layout


def cumulative_time(data: ReportData) -> np.ndarray:
    """Cumulative training time (s) over all trials in trial order, read at each complete trial."""
    total, at = 0.0, {}
    for r in sorted(data.records, key=lambda r: r.number):
        t = r.result.wall_time_s
        if t is None:
            t = r.duration_s or 0.0
        total += float(t)
        at[r.number] = total
    return np.array([at[r.number] for r in data.complete], float)


def hypervolume_figure(data: ReportData) -> go.Figure | None:
    if not len(data.complete) or not data.feasible.any():
        return None
    hist = dominance.hypervolume_history(data.values, data.meta.directions, data.summary.ref_point,
                                         data.violations)
    numbers = [r.number for r in data.complete]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("against trials", "against cumulative training time"))
    fig.add_trace(go.Scatter(x=numbers, y=hist, mode="lines+markers", line=dict(shape="hv"),
                             marker=dict(size=4), name="hypervolume",
                             hovertemplate="trial %{x}<br>hypervolume %{y:.5g}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=cumulative_time(data), y=hist, mode="lines+markers", line=dict(shape="hv"),
                             marker=dict(size=4), name="hypervolume (time)", text=[str(n) for n in numbers],
                             line_color="#636efa",
                             hovertemplate="trial %{text}<br>%{x:.1f} s<br>hypervolume %{y:.5g}"
                                           "<extra></extra>", showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="trial", row=1, col=1)
    fig.update_xaxes(title_text="cumulative training time (s)", row=1, col=2)
    fig.update_yaxes(title_text="hypervolume", row=1, col=1)
    return _layout(fig, 380, showlegend=False)


def weights_figure(data: ReportData) -> tuple[go.Figure | None, str]:
    """Preference weights against objectives; returns the figure and a sentence saying which view."""
    losses = list(data.meta.losses)
    m = len(data.meta.objectives)
    if not len(data.complete):
        return None, "no complete trial yet."
    if len(losses) < 2:
        return None, "only one loss is balanced: there are no preference weights to compare."
    W = np.array([[data.weights(r).get(k, np.nan) for k in losses] for r in data.complete], float)
    color = dict(color=[FRONT_COLOR if f else GREY for f in data.on_front])
    if len(losses) == 2:
        fig = make_subplots(rows=1, cols=m, horizontal_spacing=0.08)
        for j in range(m):
            fig.add_trace(go.Scatter(x=W[:, 0], y=data.values[:, j], mode="markers", marker=dict(size=7, **color),
                                     **_hover(range(len(data.complete))),
                                     name=esc(data.meta.objectives[j]), showlegend=False), row=1, col=j + 1)
            fig.update_xaxes(title_text=f"weight of {esc(losses[0])}", range=[0, 1], row=1, col=j + 1)
            fig.update_yaxes(title_text=_label(data, j), row=1, col=j + 1)
        return _layout(fig, 380), (f"Each objective against the weight of {esc(losses[0])} (the weight of "
                                   f"{esc(losses[1])} is one minus it); front trials in blue.")
    if len(losses) == 3:
        specs = [[{"type": "ternary"} for _ in range(m)]]
        fig = make_subplots(rows=1, cols=m, specs=specs,
                            subplot_titles=[_label(data, j) for j in range(m)], horizontal_spacing=0.06)
        for j in range(m):
            fig.add_trace(go.Scatterternary(
                a=W[:, 0], b=W[:, 1], c=W[:, 2], mode="markers", **_hover(range(len(data.complete))),
                name=esc(data.meta.objectives[j]),
                marker=dict(color=data.values[:, j], colorscale="Viridis", size=7,
                            reversescale=data.meta.directions[j] == "maximize",
                            colorbar=dict(x=(j + 0.92) / m, len=0.6, thickness=10))), row=1, col=j + 1)
        for j in range(m):
            key = "ternary" if j == 0 else f"ternary{j + 1}"
            fig.update_layout({key: dict(aaxis_title=esc(losses[0]), baxis_title=esc(losses[1]),
                                         caxis_title=esc(losses[2]), sum=1)})
        return _layout(fig, 430, showlegend=False), ("Preference weights of the three losses on the simplex, "
                                                     "coloured by each objective (darker is better).")
    dims = [dict(label=f"w:{esc(k)}", values=W[:, i], range=[0, 1]) for i, k in enumerate(losses)]
    dims += [dict(label=_label(data, j), values=data.values[:, j]) for j in range(m)]
    fig = go.Figure(go.Parcoords(dimensions=dims, line=dict(color=data.ranks.astype(float),
                                                           colorscale="Viridis_r", showscale=True,
                                                           colorbar=dict(title="rank"))))
    return _layout(fig, 460), "Parallel coordinates of the weights and objectives, coloured by non-dominated rank."


def balancer_stats(data: ReportData) -> list[dict[str, Any]]:
    """Per balancer: trials, its own front (among its trials), that front's hypervolume."""
    out = []
    methods = sorted({data.balancer(r) for r in data.complete})
    for method in methods:
        idx = np.array([i for i, r in enumerate(data.complete) if data.balancer(r) == method], int)
        mask = dominance.nondominated_mask(data.values[idx], data.meta.directions, data.violations[idx])
        feas = data.feasible[idx]
        hv = dominance.hypervolume(data.values[idx][feas], data.meta.directions, data.summary.ref_point) \
            if feas.any() else 0.0
        out.append(dict(method=method, idx=idx, own_front=idx[mask], hypervolume=float(hv),
                        on_global=int(data.on_front[idx].sum()), ranks=data.ranks[idx]))
    return out


def balancer_figures(data: ReportData, stats: list[dict[str, Any]]) -> list[tuple[str, go.Figure]]:
    if not stats:
        return []
    palette = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e"]
    figs = []
    m = len(data.meta.objectives)
    if m == 2:  # with more objectives the table's own-front size and hypervolume say it
        fig = go.Figure()
        for k, s in enumerate(stats):
            c = palette[k % len(palette)]
            order = _best_first(data, s["own_front"], 0)
            x, y = data.values[order, 0], data.values[order, 1]
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", line=dict(shape="hv", color=c),
                                     marker=dict(size=8, color=c), name=esc(s["method"]), **_hover(order)))
        fig.update_xaxes(title_text=_label(data, 0))
        fig.update_yaxes(title_text=_label(data, 1))
        figs.append(("fig-balancer-fronts", _layout(fig, 420)))
    fig = go.Figure()
    for k, s in enumerate(stats):
        fig.add_trace(go.Box(y=s["ranks"], name=esc(s["method"]), boxpoints="all", jitter=0.4,
                             pointpos=0, marker=dict(color=palette[k % len(palette)], size=5),
                             **_hover(s["idx"])))
    fig.update_yaxes(title_text="non-dominated rank (0 = front)", autorange="reversed")
    figs.append(("fig-balancer-ranks", _layout(fig, 360, showlegend=False)))
    return figs


def _spread(idx: np.ndarray, limit: int) -> np.ndarray:
    if len(idx) <= limit:
        return idx
    return idx[np.unique(np.linspace(0, len(idx) - 1, limit).round().astype(int))]


def curve_trials(data: ReportData) -> np.ndarray:
    """The front trials whose curves are drawn (all, or MAX_CURVE_TRIALS spread along the front)."""
    return _spread(data.front_indices(), MAX_CURVE_TRIALS)


def _line_grid(data: ReportData, keys: list[str], titles: list[str], attr: str,
               trials: np.ndarray, ytitle: str) -> go.Figure | None:
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.07,
                        vertical_spacing=0.16 if rows > 1 else 0.1)
    drawn = 0
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    for ti, i in enumerate(trials):
        r = data.complete[i]
        curves = getattr(r.result, attr) or {}
        steps = curves.get("step")
        if not steps:
            continue
        color = palette[ti % len(palette)]
        for k, key in enumerate(keys):
            ys = curves.get(key)
            if ys is None:
                continue
            fig.add_trace(go.Scatter(x=steps[: len(ys)], y=ys, mode="lines", line=dict(color=color, width=1.5),
                                     name=f"trial {r.number}", legendgroup=str(r.number), showlegend=k == 0,
                                     hovertemplate=f"trial {r.number}<br>step %{{x}}<br>%{{y:.4g}}<extra></extra>"),
                          row=k // cols + 1, col=k % cols + 1)
            drawn += 1
    if not drawn:
        return None
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=ytitle, col=1)
    return _layout(fig, 300 * rows + 80, legend=dict(orientation="v", x=1.02, y=1))


def curves_figure(data: ReportData) -> go.Figure | None:
    keys = list(data.meta.objectives)
    return _line_grid(data, keys, [_label(data, j) for j in range(len(keys))], "curves",
                      curve_trials(data), "value")


def conflict_keys(data: ReportData, trials: np.ndarray) -> list[str]:
    keys: list[str] = []
    for i in trials:
        for k in data.complete[i].result.conflict:
            if k != "step" and k not in keys:
                keys.append(k)
    return keys


def conflict_figure(data: ReportData) -> go.Figure | None:
    trials = curve_trials(data)
    keys = conflict_keys(data, trials)
    if not keys:
        return None
    titles = [esc(k.removeprefix("cos:").replace("|", " vs ")) for k in keys]
    fig = _line_grid(data, keys, titles, "conflict", trials, "cosine similarity")
    if fig is not None:
        fig.update_yaxes(range=[-1.05, 1.05])
    return fig


def params_figure(data: ReportData) -> go.Figure | None:
    """Parallel coordinates of every searched param and preference weight, then the objectives,
    one line per complete trial coloured by non-dominated rank (0 = front). A categorical param
    (the balancer, a choice setting) gets one tick per choice; a trial that did not sample a param
    (another balancer's setting) sits below that axis's range."""
    from paretolab.report.data import searched_values

    if not len(data.complete):
        return None
    dims: list[dict[str, Any]] = []
    for name, values in searched_values(data).items():
        seen = [v for v in values if v is not None]
        if not seen:
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen)
        if numeric:
            low, high = float(min(seen)), float(max(seen))
            pad = (high - low) * 0.05 or 0.5
            missing = low - pad
            dim: dict[str, Any] = dict(values=[missing if v is None else float(v) for v in values],
                       range=[missing, high] if len(seen) < len(values) else [low, high])
        else:
            choices = sorted({str(v) for v in seen})
            code = {c: i for i, c in enumerate(choices)}
            dim = dict(values=[-1 if v is None else code[str(v)] for v in values],
                       tickvals=list(range(len(choices))), ticktext=[esc(c) for c in choices],
                       range=[-1 if len(seen) < len(values) else 0, max(1, len(choices) - 1)])
        dims.append(dict(label=esc(name), **dim))
    dims += [dict(label=_label(data, j), values=data.values[:, j]) for j in range(len(data.meta.objectives))]
    fig = go.Figure(go.Parcoords(dimensions=dims, line=dict(color=data.ranks.astype(float),
                                                           colorscale="Viridis_r", showscale=True,
                                                           colorbar=dict(title="rank"))))
    _layout(fig, 460)
    fig.update_layout(margin=dict(l=70, r=70, t=70, b=30))  # room for the axis labels on top
    return fig


def importance_figure(data: ReportData, importance: dict[str, dict[str, float]]) -> go.Figure | None:
    """One horizontal bar chart per objective: each param's and weight's fANOVA importance
    (the share of that objective's variance it explains), most important on top."""
    if not importance:
        return None
    names = list(importance)
    fig = make_subplots(rows=1, cols=len(names), horizontal_spacing=0.12,
                        subplot_titles=[_label(data, data.meta.objectives.index(n)) for n in names])
    for c, name in enumerate(names, start=1):
        items = sorted(importance[name].items(), key=lambda kv: kv[1])
        fig.add_trace(go.Bar(x=[v for _, v in items], y=[esc(k) for k, _ in items], orientation="h",
                             marker_color=FRONT_COLOR, name=esc(name), showlegend=False,
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=c)
        fig.update_xaxes(title_text="importance", range=[0, 1], row=1, col=c)
    n_params = max(len(v) for v in importance.values())
    return _layout(fig, max(260, 60 + 28 * n_params), showlegend=False)
