"""``paretolab status``: where a study stands, read from its storage (any worker, any machine).

Everything comes from the stored records (:mod:`paretolab.records`), so the view is the same
whether the study runs in this process, in ``paretolab run``'s workers or in ``paretolab worker``
processes on other machines: trials done against the budget, running, failed, pruned, and the
current constraint-aware front with its hypervolume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import optuna
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.text import Text

from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary, load_records
from paretolab.records.tally import interrupted_text, tally


@dataclass
class StudyStatus:
    """A study's state at one moment."""

    meta: StudyMeta
    records: list[TrialRecord]
    summary: FrontSummary
    counts: dict[str, int]  # COMPLETE, FAIL, PRUNED, RUNNING, and done (counted toward the budget)
    running: list[tuple[int, str, float | None]] = field(default_factory=list)  # number, host, seconds
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def read_status(study: optuna.Study, meta: StudyMeta) -> StudyStatus:
    """Read the study's trials back from storage and compute its current front."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    records = load_records(study)
    counts = tally(records)
    counts["done"] = sum(1 for r in records if r.counts_toward_budget)
    now = datetime.now(UTC)
    running = []
    for r in records:
        if r.state != "RUNNING":
            continue
        started = trials[r.number].datetime_start
        seconds = None
        if started is not None:
            started = started if started.tzinfo else started.astimezone()
            seconds = max(0.0, (now - started).total_seconds())
        host = r.host or r.worker
        label = r.worker
        if isinstance(label, str) and label != host:  # a named worker: a Ray task, a Slurm job
            host = f"{host} (worker {label})"
        running.append((r.number, "?" if host is None else str(host), seconds))
    return StudyStatus(meta, records, front_summary(meta, records), counts, running, now)


def render_status(status: StudyStatus) -> RenderableType:
    """The counts, the running trials, and the front as a table (best first objective first)."""
    meta, front, c = status.meta, status.summary, status.counts
    lines: list[RenderableType] = []
    when = status.read_at.astimezone().strftime("%H:%M:%S")
    lines.append(Text.from_markup(
        f"[bold]{escape(meta.name)}[/]: {c['done']} of {meta.trials_budget} trials done "
        f"({c['COMPLETE']} complete, {c['FAIL']} failed, {c['PRUNED']} pruned{interrupted_text(c)}), "
        f"{c['RUNNING']} running  [dim](read {when})[/]"))
    for number, host, seconds in status.running:
        age = "" if seconds is None else f" for {seconds:.0f} s"
        lines.append(Text(f"  trial {number} running on {host}{age}"))
    from paretolab.front_view import balancer_searched, counts_line, front_table

    index = {n: i for i, n in enumerate(front.complete)}
    by_number = {r.number: r for r in status.records}
    order = sorted((p[0] for p in front.points), key=lambda n: front.values[index[n], 0],
                   reverse=meta.directions[0] == "maximize")
    complete = [by_number[n] for n in front.complete]
    table = front_table(meta, [by_number[n] for n in order],
                        title=f"current front {counts_line(meta, complete, front.numbers, len(front.points))}",
                        searched=balancer_searched(status.records),
                        groups={p[0]: p for p in front.points})
    lines.append(table)
    if front.numbers:
        ref = ", ".join(f"{r:.4g}" for r in front.ref_point)
        lines.append(Text(f"hypervolume {front.hypervolume:.6g} (reference point {ref})"))
    else:
        lines.append(Text("no complete trial yet: no front and no hypervolume"))
    return Group(*lines)
