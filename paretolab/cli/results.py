"""The commands on a run study: ``report``, ``status``, ``balancers``, ``version``, ``pick``,
``verify`` and ``train``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paretolab import __version__
from paretolab.cli.app import Command, _escape, app, err, out, user_errors
from paretolab.errors import UserError


@app.command(cls=Command)
@user_errors
def report(
    target: Annotated[str, typer.Argument(help="a study directory, a study file, or a storage URL")],
    study: Annotated[str | None, typer.Option(
        "--study", help="the study's name (with a storage URL)")] = None,
    static: Annotated[bool, typer.Option("--static", help="also write each figure as PNG and SVG")] = False,
) -> None:
    """Write the study's report.html (one offline page), trials.csv and front.csv."""
    from paretolab.locate import open_source
    from paretolab.runner import finalize

    source = open_source(target, study)
    command = source.location.command if source.location is not None else None
    done = finalize(source.study, source.meta, source.study_dir, target=command, static=static)
    if done.report is not None:
        out.print(f"report: {_escape(str(done.report.html))}")
    if done.tables:
        out.print(f"tables: {_escape(str(done.tables[0]))}  {_escape(str(done.tables[1]))}")
    if done.report is not None and done.report.static_message:
        typer.echo(done.report.static_message, err=not done.report.static)
    for problem in done.problems:
        err.print(f"[red]error[/]: {_escape(problem)}")
    if done.problems:
        raise typer.Exit(code=1)


@app.command(cls=Command)
@user_errors
def analyze(
    target: Annotated[str, typer.Argument(help="a study directory, a study file, or a storage URL")],
    trial: Annotated[int, typer.Option("--trial", help="the trial to measure")],
    study: Annotated[str | None, typer.Option(
        "--study", help="the study's name (with a storage URL)")] = None,
    probes: Annotated[int, typer.Option(min=1, max=50, help="steps at which to measure")] = 5,
    device: Annotated[str, typer.Option(help="cpu, cuda, ...")] = "cpu",
) -> None:
    """Retrain a trial and store per-layer gradient norms of each loss beside the study (drawn in the report)."""
    from paretolab.analyze import analyze_trial
    from paretolab.locate import open_source

    source = open_source(target, study)
    path = analyze_trial(source, trial, probes=probes, device=device)
    out.print(f"wrote {_escape(str(path))}")
    out.print(f"next: paretolab report {_escape(target)}   (draws it under 'Gradient flow')")


@app.command(cls=Command)
@user_errors
def status(
    target: Annotated[str, typer.Argument(help="a study directory, a study file, or a storage URL")],
    study: Annotated[str | None, typer.Option(
        "--study", help="the study's name (with a storage URL)")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="keep refreshing until Ctrl-C")] = False,
    every: Annotated[float, typer.Option(
        "--every", metavar="<seconds>", help="seconds between refreshes with --watch")] = 5.0,
) -> None:
    """Show a study's trials (done, running, failed, pruned), its current front and hypervolume,
    read from its storage: also for a study other processes or machines are running."""
    from paretolab.locate import open_source
    from paretolab.status import read_status, render_status

    source = open_source(target, study)
    if not watch:
        out.print(render_status(read_status(source.study, source.meta)))
        return
    if every <= 0:
        raise UserError(f"--every must be a positive number of seconds, got {every:g}")
    import time

    from rich.live import Live

    try:
        with Live(render_status(read_status(source.study, source.meta)), console=out,
                  auto_refresh=False) as live:
            while True:
                time.sleep(every)
                live.update(render_status(read_status(source.study, source.meta)), refresh=True)
    except KeyboardInterrupt:
        pass


@app.command(cls=Command)
def balancers(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List every loss balancer: level, settings with defaults and search ranges, source."""
    from paretolab.balancers.registry import describe_balancers

    methods = describe_balancers()
    if as_json:
        sys.stdout.write(json.dumps(methods, indent=2) + "\n")
        return
    table = Table(title="loss balancers (every method also has schedule, schedule_warmup, "
                  "schedule_losses)", show_lines=True)
    for col in ("method", "level", "settings: default [search range]", "preference vector", "source"):
        table.add_column(col)
    for m in methods:
        parts = []
        for key, s in m["settings"].items():
            if key.startswith("schedule"):
                continue
            rng = (f" {s['choices']}" if s["choices"] else
                   f" [{s['low']:g}, {s['high']:g}{', log' if s['log'] else ''}]"
                   if s["low"] is not None and s["high"] is not None else "")
            parts.append(f"{key}={s['default']!r}{rng}")
        name = m["name"] if m["installed"] else f"{m['name']}\n(needs: {m['install_hint']})"
        table.add_row(_escape(name), m["level"], _escape("\n".join(parts) or "-"),
                      _escape(m["preference_meaning"]), _escape(m["source"]))
    out.print(table)


@app.command(cls=Command)
def version() -> None:
    """Print the paretolab version."""
    out.print(__version__)


@app.command(cls=Command)
@user_errors
def pick(
    target: Annotated[str, typer.Argument(
        help="a study directory (reports/<study>), a study file, or a storage URL")],
    study: Annotated[str | None, typer.Option(
        "--study", help="the study's name (with a storage URL, or a storage of several studies)")] = None,
    method: Annotated[str, typer.Option(help="knee, asf, pseudo-weights or reference")] = "knee",
    prefer: Annotated[str | None, typer.Option(
        help="importance per objective, e.g. error=0.7,sparsity=0.3 (asf, pseudo-weights); "
             "reference: a level per objective in its own units, e.g. kl=0.05")] = None,
    where: Annotated[list[str] | None, typer.Option(
        metavar="<expr>", help="hard requirement applied first, e.g. 'error<=0.05' (repeatable)")] = None,
    trial: Annotated[int | None, typer.Option(help="pick this trial number as it is")] = None,
    raw: Annotated[bool, typer.Option(
        "--raw", help="on a verified study, choose on the raw (single-seed) front")] = False,
) -> None:
    """Choose a point of the front and write reports/<study>/pick.yaml."""
    from paretolab.pick import neighbours
    from paretolab.pick import pick as pick_point

    choice, source, path = pick_point(target, method, prefer, where or [], trial, study_name=study, raw=raw)
    meta = source.meta
    if choice.verified:
        out.print(f"chosen among the {len(choice.front)} verified points (objectives: means over seeds; "
                  "--raw chooses on the raw front)")
    from paretolab.front_view import balancer_searched, front_table

    near = neighbours(choice, meta)
    table = front_table(meta, near, title=f"trial {choice.record.number} ({choice.method}) beside its "
                        f"neighbours on the front of {meta.name}", mark=choice.record.number,
                        searched=balancer_searched(choice.front + [choice.record]))
    out.print(table)
    if not choice.on_front:
        out.print(f"[yellow]trial {choice.record.number} is not on the front[/]")
    if choice.method == "knee":
        from paretolab.pick import knee_scale

        out.print(_escape(knee_scale(choice, meta)))
    out.print(f"wrote {_escape(str(path))}")
    from paretolab.locate import command_target

    if choice.record.one_run is not None:
        out.print(f"wrote {_escape(str(path.parent / 'pick.pt'))} (the point's model: a state dict of the "
                  "task's model)")
    out.print(f"next: paretolab train {_escape(command_target(str(path)))}   (retrains it)")


@app.command(cls=Command)
@user_errors
def verify(
    target: Annotated[str, typer.Argument(
        help="a study directory (reports/<study>), a study file, or a storage URL")],
    study: Annotated[str | None, typer.Option("--study", help="the study's name (storage URL)")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="fresh seeds per configuration")] = 3,
    top: Annotated[int, typer.Option(min=0, help="also repeat the N best-ranked trials off the front")] = 0,
) -> None:
    """Retrain the front's configurations with fresh seeds: which points of the front are real?"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from paretolab.interrupts import SignalsAsInterrupts, interrupt_signal
    from paretolab.verify import verify as run_verify

    bar = Progress(TextColumn("[bold]repeats"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), console=err, auto_refresh=sys.stderr.isatty())
    task = bar.add_task("repeats", total=None)
    state = {"done": 0, "total": 0}

    def progress(done: int, total: int) -> None:
        state.update(done=done, total=total)
        bar.update(task, completed=done, total=total, refresh=True)

    try:
        with bar, SignalsAsInterrupts():
            outcome = run_verify(target, study, seeds, top, after_repeat=progress)
    except KeyboardInterrupt as exc:
        err.print(f"[yellow]interrupted[/]: {state['done']} of {state['total']} repeats done and stored; "
                  "run the same command again to run the rest.")
        raise typer.Exit(code=128 + interrupt_signal(exc)) from None
    check, meta = outcome.verification, outcome.meta
    out.print(f"{len(outcome.configurations)} configurations x {seeds} seeds: ran {outcome.ran} repeats, "
              f"{outcome.already} already stored")
    table = Table(title=f"the raw front of {meta.name}, verified", title_justify="left")
    for col in ("trial", *(f"{n} mean ± 95% CI" for n in meta.objectives), "n", "verdict", "P(dominated)"):
        table.add_column(col, justify="right")
    for n in check.raw_front:
        st = check.stats[n]
        p = check.p_dominated.get(n)
        table.add_row(str(n), *(f"{m:.4g} ± {c:.2g}" for m, c in zip(st.mean, st.ci)), str(st.n),
                      check.labels[n], "-" if p is None else f"{p:.2f}")
    out.print(table)
    robust = sum(v == "robust" for v in check.labels.values())
    out.print(f"{robust} of {len(check.raw_front)} front points are robust; verified front: trials "
              + ", ".join(map(str, check.front)))
    done = outcome.finalized
    if done is not None and done.report is not None:
        out.print(f"report: {_escape(str(done.report.html))}")


@app.command("train", cls=Command)
@user_errors
def train_pick(
    pick_file: Annotated[Path, typer.Argument(help="a pick.yaml written by 'paretolab pick'")],
    steps: Annotated[int | None, typer.Option(help="training steps (default: the trial's)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
) -> None:
    """Retrain a picked configuration and compare its objectives with the trial's."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from paretolab.production import load_pick, retrain

    picked = load_pick(pick_file)
    bar = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("steps, ETA"),
                   TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task("train", total=steps or picked.config.steps)

    def progress(step: int, total: int) -> None:
        bar.update(task, completed=min(step, total), total=total)

    with bar:
        done = retrain(picked, steps, device, progress=progress)
    table = Table(title=f"trial {picked.trial} of {picked.study}: {done.trial_steps} steps vs "
                  f"retrained {done.steps} steps on {done.device} ({done.wall_time_s:.1f} s)",
                  title_justify="left")
    loaded = done.checkpoint
    cols = ("objective", "trial value", *(("saved model",) if loaded is not None else ()), "retrained value")
    for col in cols:
        table.add_column(col, justify="left" if col == "objective" else "right")
    for name, direction, before, after in done.rows:
        saved = () if loaded is None else ("n/a" if name not in loaded else f"{loaded[name]:.4g}",)
        table.add_row(f"{_escape(name)} ({'min' if direction == 'minimize' else 'max'})",
                      "n/a" if before is None else f"{before:.4g}", *saved,
                      "n/a" if after is None else f"{after:.4g}")
    out.print(table)
    from paretolab.front_view import configuration_lines

    for line in configuration_lines(picked):
        out.print(_escape(line))
    if loaded is not None and picked.checkpoint is not None:
        weights = ", ".join(f"{k}={v:.3g}" for k, v in (picked.preference or {}).items())
        out.print(f"saved model: {_escape(str(picked.checkpoint))} (theta(a) of its one-run training at "
                  f"preference {weights}); retrained: a fixed-weight model with that preference as its "
                  "weights")
    if done.folder is not None:
        out.print(f"its folder (trial.json, logs, what it saved): {_escape(str(done.folder))}")
