"""The Optuna objective: sample a configuration, train, record everything through :mod:`paretolab.records`."""

from __future__ import annotations

import traceback

import optuna

from paretolab import kinds, measure, threads
from paretolab.errors import TrialFailure
from paretolab.kinds.repeat import mean_metrics, repeat_seed
from paretolab.pruning import RungPruned, make_pruner
from paretolab.records import (
    FailureRecord,
    RepeatRecord,
    TrialStart,
    dashboard_constraints,
    interrupted,
    write_constraints,
)
from paretolab.spec.checks import CheckedStudy
from paretolab.storage import storage_failure

__all__ = ["Objective", "mean_metrics", "repeat_seed"]


class Objective:
    """Trains one trial and returns its objective values; one instance per worker process. The
    worker loop (:func:`paretolab.worker.run_trial`) calls it with the trial it created, not
    ``study.optimize``: the loop owns the budget, the study lock and the interrupts.

    With ``pruning`` in the study file the trial records its objectives at every rung and may
    end PRUNED there (:mod:`paretolab.pruning`). Failures keep their reason (a
    :class:`~paretolab.records.FailureRecord`) and re-raise (Optuna marks the trial FAIL and the
    study goes on; the failure counts toward the budget). That includes a task whose
    ``evaluate()`` leaves out a metric an objective or a constraint names, or returns a value that
    is not finite. Ctrl-C records an interrupted failure, so the trial is redone on resume
    instead of counting toward the budget.

    Storage writes are bundled: one start record before training (configuration, worker, host;
    plus the weights one by one for optuna-dashboard) and one result record after it, whether
    the trial completed or was pruned; this is the only writer of the result.
    A trial re-run after its worker was lost (same params, re-enqueued by the heartbeat
    callback) inherits the lost attempt's start and trains with the same seed.

    With ``budget.repeats: K`` the configuration trains K times, with seeds :func:`repeat_seed`
    of the trial seed (the first is the trial seed), and its objectives and constraints are
    those of the metrics' means; each seed's metrics are kept in the result (``seeds``). With
    pruning, the rungs judge the first seed's training. A repeat trial (``paretolab verify``,
    :class:`~paretolab.records.RepeatRecord`) trains its recorded seed once, never pruned.

    In a study with ``one_run`` the trial is a run (:mod:`paretolab.one_run.trial`): it trains a
    Pareto manifold or a soup, adds one trial per evaluated preference and records its own cost
    once; with ``then: sampler`` only the first is (:mod:`paretolab.one_run.refine`). With
    ``init`` a trial starts from its nearest completed trial (:mod:`paretolab.kinds.warm_start`).

    What a trial samples and trains is its kind's (:mod:`paretolab.kinds`: task, function,
    command, one-run, repeat); this class only dispatches and writes what every kind writes.
    """

    def __init__(self, checked: CheckedStudy, device: str, worker: int | str = 0, host: str | None = None):
        self.checked = checked
        self.device = device
        self.worker = worker
        self.host = host
        self.pruner = make_pruner(checked.spec)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        spec = self.checked.spec
        dashboard = dashboard_constraints(trial.study)
        try:
            kind = kinds.for_trial(spec, RepeatRecord.read(trial), trial)
            config = kind.build_config(trial, self.checked)
            config.extra[threads.KEY] = threads.current()  # results depend on it: pick trains with it
            lost = TrialStart.read(trial)  # a retry of a lost attempt: same seed
            if lost is not None and lost.seed is not None:
                config.seed = lost.seed
            start = TrialStart(config.to_dict(), self.worker, self.host)
            start.write(trial)
            ctx = kinds.RunContext(self.checked, self.device, start, dashboard, self.pruner)
            result, values, violations = kind.run(trial, config, ctx)
        except RungPruned as pruned:
            pruned.result.write(trial)
            try:  # the last rung's feasibility, for the tables
                write_constraints(trial, measure.violations(pruned.result.metrics, spec.constraints),
                                  dashboard=dashboard)
            except TrialFailure:
                pass
            raise
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (interrupts.Terminated: signum 15)
            interrupted(getattr(exc, "signum", 2)).write(trial)
            raise
        except TrialFailure as exc:
            FailureRecord(str(exc)).write(trial)
            raise
        except Exception as exc:  # the task (user code) raised: keep the message, go on
            if storage_failure(exc):  # the storage, not the task: the worker retries, no budget used
                raise
            FailureRecord(f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8)).write(trial)
            raise
        result.write(trial)
        write_constraints(trial, violations, dashboard=dashboard)
        return values
