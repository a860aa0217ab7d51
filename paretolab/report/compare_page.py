"""The page of ``paretolab compare``: the studies' fronts overlaid, their attainment surfaces,
and the table of hypervolumes (one reference point), cost and dominated points. One offline file,
built like the study report (Plotly inlined once, every user string escaped)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.offline
from plotly.io.json import to_json_plotly

from paretolab import dominance
from paretolab.compare import Comparison
from paretolab.report.data import esc, fmt
from paretolab.report.page import CSS

COLORS = ("#1f5fbf", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def _staircase(points: np.ndarray, directions: list[str], a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The boundary of what ``points`` attain in objectives ``a`` and ``b``, as a step line."""
    signs = np.array([1.0 if directions[j] == "minimize" else -1.0 for j in (a, b)])
    pts = points[:, [a, b]] * signs
    pts = pts[dominance.nondominated_mask(pts)] if len(pts) > 1 else pts
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    xs, ys = [], []
    for k, (x, y) in enumerate(pts):
        if k:
            xs.append(x)
            ys.append(pts[k - 1, 1])
        xs.append(x)
        ys.append(y)
    return np.array(xs) * signs[0], np.array(ys) * signs[1]


def _axis(c: Comparison, j: int) -> str:
    return f"{esc(c.objectives[j])} ({'min' if c.directions[j] == 'minimize' else 'max'})"


def fronts_figure(c: Comparison, a: int = 0, b: int = 1) -> go.Figure:
    """Every study's feasible front on objectives ``a`` and ``b`` (markers and a step line)."""
    fig = go.Figure()
    for i, s in enumerate(c.studies):
        color = COLORS[i % len(COLORS)]
        if not len(s.points):
            continue
        text = [f"{esc(s.label)}: trial {r.number}<br>" + "<br>".join(
            f"{esc(n)} = {fmt(float(v))}" for n, v in zip(c.objectives, r.values or []))
            for r in s.front]
        fig.add_trace(go.Scatter(x=s.points[:, a], y=s.points[:, b], mode="markers", name=esc(s.label),
                                 legendgroup=str(i), marker=dict(color=color, size=9), text=text,
                                 hovertemplate="%{text}<extra></extra>"))
        if len(c.objectives) == 2:
            xs, ys = _staircase(s.points, c.directions, a, b)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{esc(s.label)} front",
                                     legendgroup=str(i), showlegend=False, hoverinfo="skip",
                                     line=dict(color=color, width=1.5)))
    fig.update_layout(template="plotly_white", height=460, margin=dict(l=60, r=20, t=30, b=50),
                      legend=dict(orientation="h", y=-0.2),
                      xaxis_title=_axis(c, a), yaxis_title=_axis(c, b))
    return fig


def attainment_figure(c: Comparison) -> go.Figure | None:
    """The EAF's k-level surfaces: the region attained by at least k of the studies' fronts."""
    if c.eaf is None or not len(c.eaf):
        return None
    fig = go.Figure()
    n = len(c.studies)
    levels = sorted(set(np.round(c.eaf[:, 2], 6)))
    for k, level in enumerate(levels):
        rows = c.eaf[np.isclose(c.eaf[:, 2], level)]
        xs, ys = _staircase(rows[:, :2], c.directions, 0, 1)
        count = int(round(level * n / 100.0))
        name = ("attained by every study" if count == n else
                f"attained by at least {count} of {n} studies")
        shade = 0.35 + 0.65 * (k + 1) / len(levels)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name,
                                 line=dict(color=f"rgba(29,39,51,{shade:.2f})", width=2,
                                           dash="solid" if count == n else "dash")))
    for i, s in enumerate(c.studies):
        fig.add_trace(go.Scatter(x=s.points[:, 0], y=s.points[:, 1], mode="markers", name=esc(s.label),
                                 marker=dict(color=COLORS[i % len(COLORS)], size=7, opacity=0.8)))
    fig.update_layout(template="plotly_white", height=460, margin=dict(l=60, r=20, t=30, b=50),
                      legend=dict(orientation="h", y=-0.2),
                      xaxis_title=_axis(c, 0), yaxis_title=_axis(c, 1))
    return fig


def _table(c: Comparison) -> str:
    head = ("<th class=text>study</th><th>trials</th><th>training steps</th><th>training time (s)</th>"
            "<th>feasible front</th><th>hypervolume</th><th class=text>front points dominated by "
            "another study</th>")
    rows = []
    for s in c.studies:
        dominated = [f"trial {n} by {', '.join(map(esc, by))}" for n, by in s.dominated_by.items() if by]
        rows.append(f"<tr><td class=text>{esc(s.label)}</td><td>{s.trials}</td><td>{s.steps}</td>"
                    f"<td>{s.seconds:.1f}</td><td>{len(s.front)}</td>"
                    f'<td data-value="{s.hypervolume!r}">{s.hypervolume:.6g}</td>'
                    f"<td class='text wrap'>{len(dominated)} of {len(s.front)}"
                    + (": " + "; ".join(dominated) if dominated else "") + "</td></tr>")
    return (f'<table id="compare-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def _fig_html(div_id: str, fig: go.Figure) -> str:
    spec = to_json_plotly({"data": fig.to_plotly_json()["data"], "layout": fig.to_plotly_json()["layout"]})
    return (f'<div id="{div_id}" class="plotly-graph-div figure" style="height:460px;width:100%"></div>'
            f"<script>Plotly.newPlot({to_json_plotly(div_id)}, {spec}.data, {spec}.layout, "
            "{displaylogo: false, responsive: true});</script>")


def compare_html(c: Comparison) -> tuple[str, dict[str, go.Figure]]:
    """The page and its figures (by div id)."""
    figures: dict[str, go.Figure] = {}
    pairs = list(itertools.combinations(range(len(c.objectives)), 2))[:6]
    for a, b in pairs:
        figures["fig-compare-front" if len(pairs) == 1 else f"fig-compare-front-{a}-{b}"] = fronts_figure(c, a, b)
    eaf = attainment_figure(c)
    ref = ", ".join(fmt(v) for v in c.ref_point)
    names = ", ".join(esc(s.label) for s in c.studies)
    sections = [
        ("summary", "Hypervolume, cost and dominated points",
         f"Each study's feasible front against one reference point ({esc(ref)}), the training it spent, "
         "and which of its front points another study's front dominates.", _table(c)),
        ("fronts", "Fronts overlaid", "The feasible front of each study"
         + (" (step lines: what each front attains)." if len(c.objectives) == 2 else
            ", one view per pair of objectives."),
         "".join(_fig_html(k, f) for k, f in figures.items() if k.startswith("fig-compare-front"))),
    ]
    if eaf is not None:
        figures["fig-attainment"] = eaf
        body = _fig_html("fig-attainment", eaf)
    else:
        body = f'<p class="missing">{esc(c.eaf_note)}</p>'
    sections.append(("attainment", "Empirical attainment surfaces",
                     "Each study's front is one set of the empirical attainment function (moocore.eaf): "
                     "the k-th surface bounds what at least k of the studies attained; the solid line "
                     "what every study attained.", body))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{i}">{esc(t)}</a>' for i, t, _, _ in sections)
    content = "".join(f'<section id="{i}"><h2>{esc(t)}</h2><p class="note">{n}</p>{b}</section>'
                      for i, t, n, b in sections)
    html = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>compare {names} — paretolab</title><style>{CSS}</style>"
            f"<script>{plotly.offline.get_plotlyjs()}</script></head><body>"
            f"<header><h1>{names}</h1><p>paretolab compare · generated {when}</p></header>"
            f"<main><nav>{nav}</nav>{content}</main></body></html>\n")
    return html, figures


def write_compare(c: Comparison, path: Path) -> Path:
    """Write the comparison page to ``path`` (atomically)."""
    html, _ = compare_html(c)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
