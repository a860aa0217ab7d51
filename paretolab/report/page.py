"""Assembling the one self-contained HTML page: sections, figures, the sortable front table.

Plotly's JavaScript is inlined once; each figure is a ``plotly.io.to_html`` fragment (its JSON
escapes ``<``, ``>`` and ``/``, so no user string can close the script). Text goes through ``esc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import plotly.graph_objects as go
import plotly.offline
from plotly.io.json import to_json_plotly

from paretolab.analyze import gradient_flow_figure
from paretolab.report import figures as F
from paretolab.report.data import (
    ReportData,
    conflict_reason,
    constraint_metric,
    esc,
    fmt,
    param_importance,
    param_names,
    verified_cells,
)
from paretolab.report.landscape import interpolation_figure
from paretolab.report.projection import projection_figure

MAX_PARAM_COLUMNS = 4  # more searched params than this: the front table lists them in one cell

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
main{max-width:1280px;margin:0 auto;padding:12px 24px 48px}
header{background:#1d2733;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:1.4rem;font-weight:600;word-break:break-all}
header p{margin:4px 0 0;color:#c6cfdb;font-size:.85rem}
nav{font-size:.85rem;margin:10px 0}nav a{margin-right:14px;color:#1f5fbf}
section{background:#fff;border:1px solid #e1e5ea;border-radius:8px;padding:6px 18px 14px;margin:16px 0}
h2{font-size:1.15rem;margin:10px 0 4px}p.note{color:#4a5768;font-size:.9rem;margin:2px 0 8px}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;font-size:.92rem;margin:8px 0}
dl.summary dt{color:#4a5768}dl.summary dd{margin:0}
code{background:#eef1f5;padding:1px 5px;border-radius:4px;font-size:.85rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border-bottom:1px solid #e1e5ea;padding:4px 8px;text-align:right;white-space:nowrap}
td.wrap{white-space:normal;max-width:320px;word-break:break-word}
th{background:#eef1f5;position:sticky;top:0}td.text,th.text{text-align:left}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{background:#dde3ea}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.scroll{max-height:520px;overflow:auto}tr.knee td{background:#fff4e5}
.missing{color:#8a6d3b;font-style:italic}
.side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}
@media (max-width:900px){.side{grid-template-columns:minmax(0,1fr)}}
#front-table td.wrap{min-width:140px}
"""

PLOT_JS = """
var PLOT_CONFIG = {displaylogo: false, responsive: true};
function paretolabPlot(id, fig) {
  fig.data.forEach(function (t) {
    if (t.meta && t.meta.hover) { t.text = t.meta.hover.map(function (i) { return HOVER[i]; }); }
  });
  Plotly.newPlot(id, fig.data, fig.layout, PLOT_CONFIG);
}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[col], v = cell.getAttribute('data-value');
        var n = parseFloat(v === null ? cell.textContent : v);
        return isNaN(n) ? cell.textContent : n;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


@dataclass
class Section:
    id: str
    title: str
    note: str
    body: list[str] = field(default_factory=list)


@dataclass
class Page:
    """The page and the figures on it (for static export and for tests)."""

    html: str
    figures: dict[str, go.Figure]


def _fig_html(div_id: str, fig: go.Figure) -> str:
    """The figure's div and one call of ``paretolabPlot`` (which fills hover texts, then plots).

    ``to_json_plotly`` escapes ``<``, ``>`` and ``/`` as ``\\u003c``..., so no string in the JSON can
    end the script element."""
    spec = to_json_plotly({"data": fig.to_plotly_json()["data"], "layout": fig.to_plotly_json()["layout"]})
    height = int(fig.layout.height or 450)
    return (f'<div id="{div_id}" class="plotly-graph-div figure" style="height:{height}px;width:100%"></div>'
            f'<script>paretolabPlot("{div_id}", {spec});</script>')


def _missing(text: str) -> str:
    return f'<p class="missing">{text}</p>'


def _summary(data: ReportData) -> Section:
    meta, s = data.meta, data.summary
    c = data.counts()
    rows = [("trials", f"{c['COMPLETE']} complete, {c['FAIL']} failed, {c['PRUNED']} pruned"
                       + (f", {c['INTERRUPTED']} interrupted or lost (redone)" if c["INTERRUPTED"] else "")
                       + (f", {c['RUNNING']} running" if c["RUNNING"] else "")
                       + f" (budget {meta.trials_budget})"),
            ("objectives", ", ".join(F._label(data, j) for j in range(len(meta.objectives)))),
            ("losses balanced", esc(", ".join(meta.losses)) or "-")]
    if meta.constraints:
        rows.append(("constraints", esc(", ".join(meta.constraints))))
    rows.append(("front size", (f"{len(s.points)} points ({len(s.numbers)} trials: identical points "
                                "count once)" if len(s.points) < len(s.numbers) else f"{len(s.numbers)} trials")
                 + ("" if data.feasible.any() or not len(data.complete) else
                    " <b>(no trial meets every constraint: these are the least-violating trials)</b>")))
    rows.append(("hypervolume", f"{s.hypervolume:.6g} (reference point "
                                f"({', '.join(fmt(v) for v in s.ref_point)}))"))
    feasible = np.flatnonzero(data.feasible)
    for j in range(len(meta.objectives)):
        if len(feasible):
            col = data.values[feasible, j]
            i = feasible[int(np.argmin(col) if meta.directions[j] == "minimize" else np.argmax(col))]
            rows.append((f"best {F._label(data, j)}", f"{fmt(data.values[i, j])} (trial {data.complete[i].number})"))
    check = data.verification
    if check is not None and check.any:
        robust = [n for n, label in check.labels.items() if label == "robust"]
        others = ", ".join(f"{n} ({label})" for n, label in check.labels.items() if label != "robust")
        rows.append(("verified front", f"{len(robust)} of {len(check.raw_front)} front points robust "
                     f"(trials {', '.join(map(str, robust)) or 'none'})" + (f"; {others}" if others else "")
                     + f"; verified front: trials {', '.join(map(str, check.front))}"))
    if data.knee is not None:
        k = data.knee
        r = data.complete[k]
        vals = ", ".join(f"{esc(n)} {fmt(v)}" for n, v in zip(meta.objectives, data.values[k]))
        rows.append(("knee point", f"trial {r.number}: {vals}"))
        rows.append(("pick it", f"<code>{esc(data.pick_command(r.number))}</code>"))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return Section("summary", "Summary",
                   "The knee (what <em>paretolab pick</em> chooses by default) is the front point "
                   "closest to the ideal point after scaling each objective to [0, 1] over the front "
                   "(0 = best); after <em>paretolab verify</em>, among the verified front's "
                   "means.", [f'<dl class="summary">{dl}</dl>'])


def _value_cell(value: object) -> str:
    """A table cell for a metric or a param: numbers sort by value, text as text, absent empty."""
    if value is None:
        return "<td></td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td data-value="{float(value)!r}">{fmt(value)}</td>'
    return f"<td class=text>{esc(value)}</td>"


def _front_table(data: ReportData) -> str:
    meta = data.meta
    losses = list(meta.losses)
    front = [data.complete[i] for i in data.front_indices()]
    params = [k for k in param_names(front) if k != "balancer"]  # the balancer has its own column
    methods = {data.balancer(r) for r in front}
    params = [k for k in params if k.split(".", 1)[0] not in methods]  # its settings: in its cell
    joined = len(params) > MAX_PARAM_COLUMNS  # one text cell keeps the table within the page
    metrics = list(dict.fromkeys(constraint_metric(c) for c in meta.constraints))
    head = ["<th>trial</th>"] + [f"<th>{F._label(data, j)}</th>" for j in range(len(meta.objectives))]
    head += ["<th class=text>feasible</th>", "<th>rank</th>"]
    head += verified_cells(data, -1)[0]  # mean ± CI, seeds, verdict, P(dominated) once verified
    head += [f"<th>{esc(k)}</th>" for k in metrics]
    head += [f"<th>w:{esc(k)}</th>" for k in losses]
    head += ["<th class=text>params</th>"] if joined else [f"<th>{esc(k)}</th>" for k in params]
    head += ["<th class=text>balancer</th>", "<th class=text>command</th>"]
    if data.logs:
        head.append("<th class=text>output</th>")
    body = []
    for i in data.front_indices():
        r = data.complete[i]
        same = data.summary.point_of(r.number)
        if same[0] != r.number:
            continue  # an identical point: listed in its first trial's row
        w = data.weights(r)
        cells = [f'<td data-value="{r.number}">{", ".join(map(str, same))}</td>']
        cells += [f'<td data-value="{float(v)!r}">{fmt(v)}</td>' for v in data.values[i]]
        cells.append(f"<td class=text>{'yes' if data.feasible[i] else 'no'}</td>")
        cells.append(f'<td data-value="{int(data.ranks[i])}">{int(data.ranks[i])}</td>')
        cells += verified_cells(data, r.number)[1]
        cells += [_value_cell(r.metrics.get(k)) for k in metrics]
        cells += [f'<td data-value="{w[k]!r}">{w[k]:.3f}</td>' if k in w else "<td></td>" for k in losses]
        if joined:
            shown = ", ".join(f"{k}={fmt(r.knobs[k])}" for k in params if k in r.knobs)
            cells.append(f"<td class='text wrap'>{esc(shown)}</td>")
        else:
            cells += [_value_cell(r.knobs.get(k)) for k in params]
        settings = data.settings(r)
        cells += [f"<td class='text wrap'>{esc(data.balancer(r))}"
                  + (f"<br><small>{esc(settings)}</small>" if settings != "-" else "") + "</td>",
                  f"<td class='text wrap'><code>{esc(data.pick_command(r.number))}</code></td>"]
        if data.logs:
            cells.append(f"<td class=text>{_log_links(data, r.number)}</td>")
        cls = ' class="knee"' if i == data.knee else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="sortable" id="front-table"><thead><tr>{"".join(head)}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>')


def _log_links(data: ReportData, number: int) -> str:
    """Links to a trial's kept stdout and stderr (relative to the study folder, as the page is)."""
    return " · ".join(f'<a href="{esc(link)}">{esc(label)}</a>' for label, link in data.logs.get(number, []))


def _logs_section(data: ReportData) -> Section:
    """Every trial whose program's output was kept (command trials): its state, why it failed or
    was pruned, and links to its stdout and stderr."""
    by_number = {r.number: r for r in data.records}
    rows = []
    for number in sorted(data.logs):
        r = by_number[number]
        failure, pruned_at = r.failure, r.result.pruned_at
        why = (failure.reason or "") if failure is not None else ""
        why = why.strip().splitlines()[0][:160] if why.strip() else \
            (f"pruned at step {pruned_at}" if pruned_at is not None else "")
        state = r.state.lower() + (f" (repeat of {r.repeat.of})" if r.repeat is not None else "")
        rows.append(f'<tr><td data-value="{number}">{number}</td><td class=text>{esc(state)}</td>'
                    f"<td class='text wrap'>{esc(why)}</td><td class=text>{_log_links(data, number)}</td></tr>")
    table = ('<div class="scroll"><table class="sortable" id="logs-table"><thead><tr><th>trial</th>'
             "<th class=text>state</th><th class=text>reason</th><th class=text>output</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>")
    return Section("logs", "Trial output",
                   "What each trial's program wrote to stdout and stderr, kept in its folder "
                   "(<code>trials/&lt;number&gt;/</code> next to this page).", [table])


def build_page(data: ReportData) -> Page:
    meta = data.meta
    figs: dict[str, go.Figure] = {}
    sections = [_summary(data)]

    def add(section: Section, div_id: str, fig: go.Figure | None, missing: str) -> None:
        if fig is None:
            section.body.append(_missing(missing))
        else:
            figs[div_id] = fig
            section.body.append(_fig_html(div_id, fig))

    m = len(meta.objectives)
    view = {1: "each trial's objective", 2: "the two objectives with the front as a step line",
            3: "a 3-D view with the first two objectives beside it (coloured by the third), then the three "
               "pairwise views"}.get(m, "a scatter matrix and parallel coordinates "
                                                              "coloured by non-dominated rank")
    sec = Section("front", "Pareto front", f"Complete trials: {view}. Front in blue, dominated trials grey, "
                  "infeasible trials as red crosses, the knee as a star. Hover a point for its weights "
                  f"and balancer. After <code>{esc(f'paretolab verify {data.target}')}</code>: each repeated "
                  "configuration's mean "
                  "over seeds with its 95% interval, green when it is on the verified front, linked to its "
                  "trial's point by a dotted line (with four or more objectives, on a grid of the objective "
                  "pairs); the front table gives each point's verdict.")
    front = F.front_figures(data)
    if not front:
        sec.body.append(_missing("no complete trial yet."))
    projection = projection_figure(data)
    for div_id, fig in front:
        if div_id == "fig-front" and projection is not None:  # 3-D, with a 2-D projection beside it
            figs[div_id], figs["fig-front-projection"] = fig, projection
            sec.body.append(f'<div class="side">{_fig_html(div_id, fig)}'
                            f'{_fig_html("fig-front-projection", projection)}</div>')
            continue
        add(sec, div_id, fig, "")
    sections.append(sec)

    sec = Section("hypervolume", "Hypervolume history",
                  "Hypervolume of the feasible front after each complete trial, against the trial number "
                  "and against the training time spent so far (same reference point as the summary).")
    add(sec, "fig-hv", F.hypervolume_figure(data), "no feasible complete trial yet.")
    sections.append(sec)

    fig, note = F.weights_figure(data)
    sec = Section("weights", "Preference weights → objectives", note if fig is not None else
                  "How the sampled preference weights map to the objectives.")
    add(sec, "fig-weights", fig, note)
    sections.append(sec)

    sec = Section("params", "Params and weights → objectives",
                  "Parallel coordinates of every searched param and preference weight, then the objectives: "
                  "one line per complete trial, coloured by non-dominated rank (0 = front). Drag along an "
                  "axis to keep only the trials in that range.")
    add(sec, "fig-params", F.params_figure(data), "no complete trial yet.")
    sections.append(sec)

    importance, why = param_importance(data) if len(data.complete) else ({}, "no complete trial yet.")
    sec = Section("importance", "Param importance per objective",
                  "How much of each objective's variation over the complete trials each searched param and "
                  "weight explains (Optuna's fANOVA evaluator, seed 0; the importances of one objective sum "
                  "to 1)" + ("; with two losses the first weight stands for both." if len(meta.losses) == 2
                             else "."))
    add(sec, "fig-importance", F.importance_figure(data, importance), why)
    sections.append(sec)

    stats = F.balancer_stats(data) if len(data.complete) else []
    sec = Section("balancers", "Balancer comparison",
                  "The front each balancer reaches on its own trials"
                  + (" (drawn as step lines)" if m == 2 else " (its size in the table)")
                  + ", its hypervolume (same reference point), and the distribution of its trials' "
                  "non-dominated ranks in the whole study.")
    if len(stats) == 1:
        sec.body.append(_missing(f"every complete trial used one balancer ({esc(stats[0]['method'])}): "
                                 "nothing to compare. List several under search.balancer to compare them."))
    elif stats:
        rows = "".join(f"<tr><td class=text>{esc(s['method'])}</td><td>{len(s['idx'])}</td>"
                       f"<td>{len(s['own_front'])}</td><td>{s['on_global']}</td>"
                       f"<td data-value=\"{s['hypervolume']!r}\">{s['hypervolume']:.6g}</td></tr>" for s in stats)
        sec.body.append('<table class="sortable" id="balancer-table"><thead><tr><th class=text>balancer</th>'
                        "<th>complete trials</th><th>own front</th><th>on study front</th><th>hypervolume</th>"
                        f"</tr></thead><tbody>{rows}</tbody></table>")
        for div_id, fig in F.balancer_figures(data, stats):
            add(sec, div_id, fig, "")
    else:
        sec.body.append(_missing("no complete trial yet."))
    sections.append(sec)

    path = interpolation_figure(data.complete, list(meta.objectives))
    if path is not None:  # a rewarded soup: the objectives between its specialists
        sec = Section("soup-path", "Along the interpolation path",
                      "Each objective of the soup's interpolated models between each pair of specialists "
                      "(the soup's own evaluations), the straight line between the two ends dashed: a bump "
                      "above it is a barrier, a sign the specialists are not linearly connected.")
        add(sec, "fig-soup-path", path, "")
        sections.append(sec)

    if data.analyses:  # paretolab analyze <study> --trial N
        sec = Section("gradient-flow", "Gradient flow",
                      "Per-layer gradient norm of each loss at a few steps of training, for the trials "
                      "measured with <em>paretolab analyze</em> (log scale): a loss whose gradient is "
                      "orders of magnitude below the others' in a layer barely trains it.")
        add(sec, "fig-gradient-flow", gradient_flow_figure(data.analyses), "")
        sections.append(sec)

    shown = len(F.curve_trials(data))
    total = int(data.on_front.sum())
    sec = Section("curves", "Training curves of the front",
                  f"Every objective over training for the front's trials ({shown} of {total} shown"
                  + (", spread along the front" if shown < total else "") + "); one colour per trial.")
    add(sec, "fig-curves", F.curves_figure(data), "no training curves recorded for the front's trials.")
    sections.append(sec)

    sec = Section("conflict", "Gradient conflict",
                  "Pairwise cosine similarity of the task gradients over training for the front's trials "
                  "(below 0: the losses pull the shared parameters in opposing directions).")
    conflict = F.conflict_figure(data)
    add(sec, "fig-conflict", conflict, conflict_reason(data) if conflict is None else "")
    sections.append(sec)

    sec = Section("table", "Front table",
                  "The front's trials with their constraint metrics, preference weights and searched params; "
                  "click a column heading to sort. Each row's command writes that trial's configuration as "
                  "pick.yaml for production training.")
    sec.body.append(_front_table(data) if data.on_front.any() else _missing("the front is empty."))
    sections.append(sec)
    if data.logs:
        sections.append(_logs_section(data))

    return Page(_assemble(data, sections), figs)


def _assemble(data: ReportData, sections: list[Section]) -> str:
    name = esc(data.meta.name)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2><p class="note">{s.note}</p>'
                   f'{"".join(s.body)}</section>' for s in sections)
    plotly_js = plotly.offline.get_plotlyjs()
    hover = to_json_plotly(data.hover)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{name} — paretolab report</title><style>{CSS}</style>"
            f"<script>{plotly_js}</script><script>var HOVER = {hover};{PLOT_JS}</script></head><body>"
            f"<header><h1>{name}</h1><p>paretolab report · generated {when}</p></header>"
            f"<main><nav>{nav}</nav>{body}</main><script>{SORT_JS}</script></body></html>\n")
