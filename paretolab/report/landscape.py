"""The loss landscape along the front: each objective along the interpolation path between a
rewarded soup's specialists (Rame et al., NeurIPS 2023), from the soup's own evaluations.

Fine-tunes of one checkpoint that stay in one linearly connected basin (Frankle et al., ICML
2020) give objectives that move smoothly from one specialist to the other; a bump above the
straight line between the path's ends (a *barrier*) means they are not linearly connected, and
the points in the middle are worse than both ends.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paretolab.records import TrialRecord


def soup_paths(records: list[TrialRecord]) -> dict[int, dict[tuple[int, int], list[tuple[float, TrialRecord]]]]:
    """Per soup run, per pair of specialists (i, j): its points whose mix is on that edge (only
    i and j weighted), as (coefficient of j, record), in order along the edge."""
    runs: dict[int, dict[tuple[int, int], list[tuple[float, TrialRecord]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        link = r.one_run
        mix = ((r.config.get("extra") or {}).get("one_run") or {}).get("mix")
        if link is None or link.role != "point" or not mix or r.values is None:
            continue
        support = [i for i, m in enumerate(mix) if m > 0]
        if len(mix) < 2 or len(support) > 2:
            continue
        pairs = [(i, j) for i in range(len(mix)) for j in range(i + 1, len(mix))
                 if set(support) <= {i, j}]
        for i, j in pairs:
            runs[link.run][(i, j)].append((float(mix[j]), r))
    return {run: {pair: sorted(points, key=lambda p: p[0]) for pair, points in edges.items()}
            for run, edges in runs.items()}


def interpolation_figure(records: list[TrialRecord], objectives: list[str]) -> go.Figure | None:
    """Each objective along every edge of the last soup run's specialists, with the straight line
    between the edge's ends dashed; None when the study has no soup point."""
    paths = soup_paths(records)
    if not paths:
        return None
    run = max(paths)
    edges = {pair: pts for pair, pts in paths[run].items() if len(pts) >= 2}
    if not edges:
        return None
    fig = make_subplots(rows=1, cols=len(objectives), subplot_titles=objectives)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for n, ((i, j), pts) in enumerate(sorted(edges.items())):
        color = palette[n % len(palette)]
        xs = [x for x, _ in pts]
        for k in range(len(objectives)):
            ys = [float(r.values[k]) for _, r in pts]  # type: ignore[index]
            hover: dict[str, Any] = {"customdata": [r.number for _, r in pts],
                                     "hovertemplate": "trial %{customdata}<br>l_j=%{x:.2f}<br>%{y:.4g}"}
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", line={"color": color},
                                     name=f"specialist {i} → {j}", legendgroup=f"{i}-{j}",
                                     showlegend=k == 0, **hover), row=1, col=k + 1)
            fig.add_trace(go.Scatter(x=[xs[0], xs[-1]], y=[ys[0], ys[-1]], mode="lines",
                                     line={"color": color, "dash": "dash", "width": 1},
                                     legendgroup=f"{i}-{j}", showlegend=False, hoverinfo="skip"),
                          row=1, col=k + 1)
            fig.update_xaxes(title_text="weight on the second specialist", row=1, col=k + 1)
    fig.update_layout(height=420, margin={"l": 50, "r": 20, "t": 50, "b": 50},
                      title=f"objectives along the interpolation path (soup run {run})")
    return fig
