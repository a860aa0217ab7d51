"""``paretolab`` command line: thin wrappers that parse, call one function, and print."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from paretolab import __version__
from paretolab.errors import UserError

EXIT_CODES = ("Exit codes: 0 done; 1 no trial completed, or an output file could not be written; "
              "2 an error you can fix (study file, task, storage); 130 Ctrl-C and 143 SIGTERM "
              "(run the same command again to resume). See README, 'Faults and exit codes'.")


class _FlagsAsFlags:
    """Help shows a boolean flag as a flag, with no ``<bool>`` type column.

    Typer 0.29 prints every option's type in ``--help``, flags included (``--no-progress
    <bool>``, even ``--help <bool>``), which reads as if the flag took a value. An empty metavar
    makes that column blank for flags only; parsing is unchanged.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
            if param.param_type_name == "argument" and param.nargs == -1:  # not <list[str]>
                shown = f"<{_VARIADIC.get(param.name, 'value')}>..."
                param.display_type_rich = lambda ctx, shown=shown: shown
        return params


_VARIADIC = {"overrides": "key=value", "targets": "study"}  # the type column of variadic arguments


class Command(_FlagsAsFlags, TyperCommand):
    """Every ``paretolab`` command (see :class:`_FlagsAsFlags`)."""


class Group(_FlagsAsFlags, TyperGroup):
    """The ``paretolab`` command group (see :class:`_FlagsAsFlags`)."""


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  cls=Group, help="Find the trade-off front between competing training objectives.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"paretolab {__version__}")
        raise typer.Exit()


@app.callback(epilog=EXIT_CODES)
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Find the trade-off front between competing training objectives."""


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake prints one message and exits 2: no traceback, nothing half-written."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc.render()}", err=True)
            raise typer.Exit(code=exc.exit_code) from None

    return wrapper


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


OVERRIDES_HELP = ("study-file fields to set, dotted.key=value (values read as YAML), e.g. "
                  "budget.trials=60 sampler=tpe search.params.lr.high=0.1")


def _check(path: Path, overrides: list[str] | None = None, **updates: Any) -> Any:
    """Load and check a study file with command-line ``overrides`` (``key=value``); ``updates``
    (e.g. ``storage`` from a flag) replace fields."""
    from paretolab.spec import check_study, load_spec

    spec = load_spec(path, overrides or ())
    updates = {k: v for k, v in updates.items() if v is not None}
    if updates:
        spec = spec.model_copy(update=updates)
    return check_study(spec)


@app.command(cls=Command)
@user_errors
def validate(
    study: Annotated[Path, typer.Argument(help="the study file")],
    overrides: Annotated[list[str] | None, typer.Argument(help=OVERRIDES_HELP, show_default=False)] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="skip the trial run of the task (one "
                                         "batch and one evaluation on CPU)")] = False,
) -> None:
    """Check a study file (schema, task, losses, objectives, balancers, sampler, storage, and
    that a study it resumes is unchanged), then run the task once on CPU to check what it
    really returns."""
    checked = _check(study, overrides)
    spec = checked.spec
    from paretolab.spec.resume import check_stored_study

    check_stored_study(spec)
    trial = None
    if not no_run and spec.task is not None:
        from paretolab.spec.trial_run import trial_run

        trial = trial_run(checked)
    what = f"task {spec.task.ref}" if spec.task is not None else "trainer " + spec.trainer.kind
    out.print(f"[green]ok[/] {_escape(str(study))}: study {_escape(spec.name)!s}, "
              f"{_escape(what)}, losses {_escape(', '.join(checked.balanced_names))}, "
              f"objectives {_escape(', '.join(f'{o.name} ({o.direction})' for o in spec.objectives))}")
    if trial is not None:
        out.print(f"trial run on cpu ({trial.seconds:.1f} s): every loss and metric returned, all finite")


@app.command(cls=Command)
def schema() -> None:
    """Print the JSON Schema of study files (for editors)."""
    from paretolab.spec import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command(cls=Command)
@user_errors
def run(
    study: Annotated[Path, typer.Argument(help="the study file")],
    overrides: Annotated[list[str] | None, typer.Argument(help=OVERRIDES_HELP, show_default=False)] = None,
    workers: Annotated[str | None, typer.Option(help="worker processes (N or auto)")] = None,
    storage: Annotated[str | None, typer.Option(
        help="storage URL, e.g. postgresql://user:pass@host/db to share the study with "
        "'paretolab worker' on other machines (default: the file's, else SQLite in the study "
        "directory)")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
) -> None:
    """Run (or resume) a study to its trial budget, then print the front.

    Exit code: 0 done; 2 a user error (bad file, unreachable storage, a task failing every
    trial); 130 Ctrl-C, 143 SIGTERM (run again to resume); 1 no trial completed, or the tables
    or the report could not be written.
    """
    checked = _check(study, overrides, storage=storage)
    from paretolab.logs import setup_worker_logging
    from paretolab.runner import run_study
    from paretolab.spec.resume import check_stored_study
    from paretolab.worker import SignalsAsInterrupts, interrupt_signal

    check_stored_study(checked.spec)  # a resume that changes what a trial means stops before it starts

    setup_worker_logging(checked.spec.study_dir, 0)
    if not no_progress:
        from paretolab.locate import spec_target

        target = _escape(spec_target(checked.spec))
        err.print(f"[dim]the report can be regenerated at any time from storage, also while this runs: "
                  f"paretolab report {target}; progress from anywhere: paretolab status {target}[/]")
    try:
        with SignalsAsInterrupts():
            outcome = run_study(checked, workers=_workers(workers), progress=not no_progress, console=err)
    except KeyboardInterrupt as exc:  # before any trial started
        err.print("[yellow]interrupted[/]: run the same command again to resume.")
        raise typer.Exit(code=128 + interrupt_signal(exc)) from None
    print_outcome(outcome)
    for problem in outcome.problems:
        err.print(f"[red]error[/]: {_escape(problem)}")
    if outcome.interrupted:
        err.print("[yellow]interrupted[/]: run the same command again to resume.")
        raise typer.Exit(code=128 + (outcome.stop_signal or 2))
    if outcome.problems:
        raise typer.Exit(code=1)
    if not outcome.counts["COMPLETE"]:
        err.print("[red]error[/]: no trial completed; the reasons are above and in trials.csv "
                  "(column failure)")
        raise typer.Exit(code=1)


def _workers(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"--workers must be a positive number or 'auto', got {value!r}")
    return int(value)


def print_outcome(outcome: Any) -> None:
    """The front as a table, the counts, and where the files are."""
    from paretolab.front_view import balancer_searched, counts_line, front_table

    meta, front = outcome.meta, outcome.front
    c = outcome.counts
    by_number = {r.number: r for r in outcome.records}
    index = {n: i for i, n in enumerate(front.complete)}
    order = sorted(front.numbers, key=lambda n: front.values[index[n], 0],
                   reverse=meta.directions[0] == "maximize")
    complete = [by_number[n] for n in front.complete if n in by_number]
    out.print(front_table(meta, [by_number[n] for n in order if n in by_number],
                          title=f"Pareto front of {meta.name} {counts_line(meta, complete, front.numbers)}",
                          searched=balancer_searched(outcome.records)))
    ref = ", ".join(f"{r:.4g}" for r in front.ref_point)
    out.print(f"trials: {c['COMPLETE']} complete, {c['FAIL']} failed, {c['PRUNED']} pruned; "
              f"hypervolume {front.hypervolume:.6g} (reference point {ref})")
    if c["FAIL"]:
        for number, reason in outcome.failures[-5:]:
            out.print(f"  trial {number} failed: {_escape(reason)}")
    if not front.feasible.any() and c["COMPLETE"]:
        out.print("[yellow]no trial meets every constraint[/]: the front shows the least-violating trials")
    from paretolab.storage import redact

    out.print(f"study storage: {_escape(redact(outcome.storage_url))}")
    if outcome.tables:
        out.print(f"tables: {_escape(str(outcome.tables[0]))}  {_escape(str(outcome.tables[1]))}")
    html = outcome.study_dir / "report.html"
    if html.is_file():
        out.print(f"report: {_escape(str(html))}")
    if front.numbers:
        from paretolab.locate import storage_target

        target = storage_target(outcome.storage_url, meta.name, outcome.study_dir)
        out.print(f"next: paretolab pick {_escape(target)}   "
                  "(knee point; --method asf --prefer ... for a preference)")


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
    method: Annotated[str, typer.Option(help="knee, asf or pseudo-weights")] = "knee",
    prefer: Annotated[str | None, typer.Option(
        help="importance per objective, e.g. error=0.7,sparsity=0.3 (asf, pseudo-weights)")] = None,
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

    from paretolab.verify import verify as run_verify
    from paretolab.worker import SignalsAsInterrupts, interrupt_signal

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
    from paretolab.production import load_pick, retrain

    picked = load_pick(pick_file)
    done = retrain(picked, steps, device)
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


@app.command(cls=Command)
@user_errors
def worker(
    study: Annotated[Path, typer.Argument(help="the study file (the same one 'paretolab run' uses)")],
    overrides: Annotated[list[str] | None, typer.Argument(
        help=OVERRIDES_HELP + " (the same as the run's)", show_default=False)] = None,
    storage: Annotated[str | None, typer.Option(
        help="the shared storage URL, e.g. postgresql://user:pass@host/db (default: the file's)")] = None,
    device: Annotated[str | None, typer.Option(
        help="auto, cpu, cuda, cuda:1, ... (default: the file's)")] = None,
    heartbeat_interval: Annotated[int | None, typer.Option(help="seconds between heartbeats")] = None,
    grace_period: Annotated[int | None, typer.Option(
        help="seconds without heartbeat after which a trial counts as lost")] = None,
    max_retries: Annotated[int | None, typer.Option(help="re-runs of a lost trial's params")] = None,
    storage_patience: Annotated[float | None, typer.Option(
        help="seconds to keep retrying a lost storage before stopping")] = None,
) -> None:
    """Join a running study as one more worker (another machine, same storage) until its budget."""
    import os
    import socket

    from paretolab.devices import resolve_device
    from paretolab.logs import setup_worker_logging
    from paretolab.storage import redact
    from paretolab.worker import (
        SignalsAsInterrupts,
        WorkerOptions,
        interrupt_signal,
        open_worker_study,
        run_worker,
    )

    checked = _check(study, overrides, storage=storage, device=device)
    spec = checked.spec
    if spec.storage_url.startswith("sqlite"):
        err.print("[yellow]note[/]: SQLite storage: only workers on this machine can share it; "
                  "use --storage postgresql://... for several machines")
    options = WorkerOptions.from_spec(spec, heartbeat_interval=heartbeat_interval,
                                      grace_period=grace_period, max_retries=max_retries,
                                      storage_patience=storage_patience)
    label = f"{socket.gethostname()}-{os.getpid()}"
    setup_worker_logging(spec.study_dir, label)
    try:
        with SignalsAsInterrupts():
            opened = open_worker_study(checked, options, label)  # the study must exist
            err.print(f"worker {_escape(label)} joined study {_escape(spec.name)} at "
                      f"{_escape(redact(spec.storage_url))}")
            stopped = run_worker(checked, options, device=resolve_device(spec.device), worker=label,
                                 opened=opened)
    except KeyboardInterrupt as exc:
        stopped = interrupt_signal(exc)
    if stopped:
        err.print("[yellow]interrupted[/]: this worker's trial is redone by the study.")
        raise typer.Exit(code=128 + stopped)
    err.print("budget reached: worker done.")


@app.command(cls=Command)
@user_errors
def compare(
    targets: Annotated[list[str], typer.Argument(
        help="two or more studies: study directories, study files or storage URLs", show_default=False)],
    study: Annotated[list[str] | None, typer.Option(
        "--study", metavar="<name>", help="the study's name with a storage URL: once for all, or once per "
        "study")] = None,
    output: Annotated[Path, typer.Option("--out", help="the comparison page to write")] = Path("compare.html"),
) -> None:
    """Compare studies of the same objectives: hypervolume against one reference point, the
    training spent, dominated points, and a page with the fronts and attainment surfaces."""
    from paretolab.compare import compare as compare_studies
    from paretolab.report.compare_page import write_compare

    c = compare_studies(targets, study or [])
    table = Table(title=f"{len(c.studies)} studies against one reference point "
                  f"({', '.join(f'{v:.4g}' for v in c.ref_point)})", title_justify="left")
    for col in ("study", "trials", "steps", "time (s)", "front", "hypervolume", "dominated by another"):
        table.add_column(col, justify="left" if col in ("study", "dominated by another") else "right")
    for s in c.studies:
        hit = {n: by for n, by in s.dominated_by.items() if by}
        table.add_row(_escape(s.label), str(s.trials), str(s.steps), f"{s.seconds:.1f}", str(len(s.front)),
                      f"{s.hypervolume:.6g}", f"{len(hit)} of {len(s.front)}" + "".join(
                          f"\n trial {n}: {_escape(', '.join(by))}" for n, by in hit.items()))
    out.print(table)
    best = max(c.studies, key=lambda s: s.hypervolume)
    out.print(f"largest hypervolume: {_escape(best.label)}")
    if c.eaf_note:
        out.print(f"[dim]{_escape(c.eaf_note)}[/]")
    out.print(f"report: {_escape(str(write_compare(c, output)))}")


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
