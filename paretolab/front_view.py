"""The front as the terminal shows it: one table for ``run``, ``status`` and ``pick``.

Each front point's objectives, its constraint metrics (red when it breaks one), its preference
weights, its balancer (with the settings that were searched) when the study searched balancers,
and its counts: ``(4 of 10 complete trials: 7 feasible, 3 infeasible)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from paretolab.records import StudyMeta, TrialRecord
from paretolab.report.data import constraint_metric, settings_text

MAX_WEIGHT_COLUMNS = 4  # more losses than this: the weights share one column


def balancer_searched(records: Iterable[TrialRecord]) -> bool:
    """Whether the study searched its balancer: a choice among methods, or their settings."""
    records = list(records)
    methods = {(r.config.get("balancer") or {}).get("method") for r in records}
    return len(methods) > 1 or any(k == "balancer" or k.split(".", 1)[0] in methods
                                   for r in records for k in r.knobs)


def balancer_text(r: TrialRecord) -> str:
    """``method`` and the settings this trial's sampler drew, e.g. ``gradnorm (alpha=1.5)``."""
    bal = r.config.get("balancer") or {}
    method = str(bal.get("method") or "?")
    drawn = {k.split(".", 1)[1]: v for k, v in r.knobs.items() if k.startswith(f"{method}.")}
    return f"{method} ({settings_text(drawn)})" if drawn else method


def counts_line(meta: StudyMeta, complete: Sequence[TrialRecord], front: Sequence[int],
                points: int | None = None) -> str:
    """``(4 of 10 complete trials: 7 feasible, 3 infeasible)``; with ``points`` (the front's
    distinct points) fewer than its trials, ``(3 points, 4 trials of 10 complete trials)``.
    No feasibility counts without constraints."""
    if points is None or points == len(front):
        text = f"{len(front)} of {len(complete)} complete trials"
    else:
        text = (f"{points} points" + (f", {len(front)} trials" if points != len(front) else "")
                + f" of {len(complete)} complete trials")
    if meta.constraints:
        feasible = sum(r.feasible for r in complete)
        text += f": {feasible} feasible, {len(complete) - feasible} infeasible"
    return f"({text})"


def front_table(meta: StudyMeta, rows: Sequence[TrialRecord], *, title: str,
                searched: bool, values: Mapping[int, Sequence[float]] | None = None,
                mark: int | None = None, groups: Mapping[int, Sequence[int]] | None = None) -> Table:
    """A table of ``rows`` (front points): trial, objectives, constraint metrics, weights,
    balancer (``searched``), feasible. ``values``: objective values to show instead of the
    trial's (e.g. means over seeds); ``mark``: the trial number to point at; ``groups``: per
    row's trial, every trial at the same point (shown together in the trial cell)."""
    table = Table(title=title, title_justify="left", min_width=len(title))  # the title on one line
    if mark is not None:
        table.add_column("")
    table.add_column("trial", justify="right")
    for name, direction in zip(meta.objectives, meta.directions):
        table.add_column(f"{escape(name)} ({'min' if direction == 'minimize' else 'max'})", justify="right")
    metrics = list(dict.fromkeys(constraint_metric(c) for c in meta.constraints))
    for name in metrics:
        table.add_column(escape(name), justify="right")
    losses = list(meta.losses)
    split = len(losses) <= MAX_WEIGHT_COLUMNS
    for name in losses if split else ["weights"]:
        table.add_column(f"w:{escape(name)}" if split else "weights", justify="right" if split else "left")
    if searched:
        table.add_column("balancer")
    if meta.constraints:
        table.add_column("feasible")
    for r in rows:
        shown = values.get(r.number, r.values) if values is not None else r.values
        cells = ["[bold green]->[/]" if r.number == mark else ""] if mark is not None else []
        cells.append(", ".join(map(str, (groups or {}).get(r.number, [r.number]))))
        cells += [f"{v:.4g}" for v in shown or []]
        for name in metrics:
            v = r.metrics.get(name)
            broken = any(constraint_metric(c) == name and r.violations.get(c, 0.0) > 0 for c in meta.constraints)
            text = "-" if not isinstance(v, int | float) else f"{v:.4g}"
            cells.append(f"[red]{text}[/]" if broken else text)
        w = {str(k): float(v) for k, v in (r.config.get("weights") or {}).items()}
        if split:
            cells += [f"{w[k]:.3f}" if k in w else "-" for k in losses]
        else:
            cells.append(escape(", ".join(f"{k}={v:.2f}" for k, v in w.items())))
        if searched:
            cells.append(escape(balancer_text(r)))
        if meta.constraints:
            cells.append("yes" if r.feasible else "[red]no[/]")
        table.add_row(*cells)
    return table


def configuration_lines(picked: Any) -> list[str]:
    """What a pick trains, in three lines: its weights, its balancer with its settings, and its
    params (your trainer's own; for a task, the searched ones)."""
    from paretolab.pick import trainer_params

    config = picked.config
    method = config.balancer["method"]
    settings = dict(config.balancer.get("settings") or {})
    if config.extra.get("trainer"):
        params = trainer_params(config, picked.knobs)
    else:
        params = {k.removeprefix("task."): v for k, v in picked.knobs.items()
                  if k != "balancer" and not k.startswith(f"{method}.")}
    return [f"weights: {', '.join(f'{k}={v:.4g}' for k, v in config.weights.items())}",
            f"balancer: {method} ({settings_text(settings)})",
            f"params: {settings_text(params) if params else '(none searched)'}"]
