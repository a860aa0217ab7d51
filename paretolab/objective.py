"""The Optuna objective: sample a configuration, train, record everything through :mod:`paretolab.records`."""

from __future__ import annotations

import traceback
from dataclasses import replace

import optuna

from paretolab import measure, threads
from paretolab.errors import TrialFailure
from paretolab.pruning import RungPruned, make_pruner
from paretolab.records import (
    FailureRecord,
    RepeatRecord,
    TrialResult,
    TrialStart,
    dashboard_constraints,
    interrupted,
    write_constraints,
)
from paretolab.search_space import mixed_seed, suggest_config
from paretolab.spec.checks import CheckedStudy
from paretolab.storage import storage_failure
from paretolab.trainer import train


def repeat_seed(seed: int, k: int) -> int:
    """The seed of a configuration's ``k``-th training (``k = 0``: the trial's own seed, so a
    study with ``budget.repeats: 1`` trains exactly as before)."""
    return int(seed) if k == 0 else mixed_seed(int(seed), 7919, int(k))


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the seeds (metrics every seed returned as numbers)."""
    keys = [k for k in runs[0] if all(isinstance(r.get(k), int | float) for r in runs)]
    return {k: float(sum(float(r[k]) for r in runs) / len(runs)) for k in keys}


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
    Pareto manifold, adds one trial per evaluated preference and records its own cost once.
    """

    def __init__(self, checked: CheckedStudy, device: str, worker: int = 0, host: str | None = None):
        self.checked = checked
        self.device = device
        self.worker = worker
        self.host = host
        self.pruner = make_pruner(checked.spec)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        spec = self.checked.spec
        dashboard = dashboard_constraints(trial.study)
        try:
            if spec.one_run is not None:  # one training run, many points (paretolab.one_run)
                from paretolab.one_run.trial import suggest_run_config

                config = suggest_run_config(trial, spec, self.checked.balanced_names,
                                            self.checked.loss_groups)
            else:
                config = suggest_config(trial, spec, self.checked.balanced_names, self.checked.loss_groups)
            if spec.trainer is not None:  # the user's own training code (paretolab.trials)
                from paretolab.trials.run import trainer_entry

                config.extra["trainer"] = trainer_entry(spec, self.checked.task_ref)
            else:
                config.task = self.checked.task_ref
            config.extra[threads.KEY] = threads.current()  # results depend on it: pick trains with it
            lost = TrialStart.read(trial)  # a retry of a lost attempt: same seed
            if lost is not None and lost.seed is not None:
                config.seed = lost.seed
            repeat = RepeatRecord.read(trial)
            if repeat is not None:
                config.seed = repeat.seed
            start = TrialStart(config.to_dict(), self.worker, self.host)
            start.write(trial)
            if spec.one_run is not None:
                from paretolab.one_run.trial import run_one_run

                result, values, violations = run_one_run(trial, config, spec, self.device, start,
                                                         dashboard=dashboard)
                result.write(trial)
                write_constraints(trial, violations, dashboard=dashboard)
                return values
            on_eval, rungs = None, ()
            if self.pruner is not None and repeat is None:
                # evaluate exactly at the rungs, so every trial is judged at the same step
                on_eval, rungs = self.pruner.hook(trial), tuple(self.pruner.rungs)
            n_seeds = 1 if repeat is not None else int(getattr(spec.budget, "repeats", 1))

            def run_once(cfg, folder_suffix: str = "", on_eval=None, rungs=()) -> TrialResult:
                if spec.trainer is not None:
                    from paretolab.trials import trial_dir
                    from paretolab.trials.run import run_trainer

                    required = [*spec.objective_names, *(c.metric for c in spec.constraints)]
                    folder = trial_dir(spec, trial.number)
                    return run_trainer(cfg, folder / folder_suffix if folder_suffix else folder,
                                       device=self.device, number=trial.number,
                                       objectives=spec.objective_names, required=required, on_eval=on_eval,
                                       timeout=spec.budget.trial_timeout)
                return TrialResult.from_training(train(cfg, self.device, base_dir=spec.base_dir,
                                                       on_eval=on_eval, eval_steps=rungs))

            result = run_once(config, on_eval=on_eval, rungs=rungs)
            seeds = [{"seed": config.seed, "metrics": dict(result.metrics)}]
            for k in range(1, n_seeds):  # budget.repeats: the objectives are the seeds' means
                again = run_once(replace(config, seed=repeat_seed(config.seed, k)), f"seed-{k}")
                seeds.append({"seed": repeat_seed(config.seed, k), "metrics": dict(again.metrics)})
            metrics = mean_metrics([s["metrics"] for s in seeds]) if n_seeds > 1 else result.metrics
            values = measure.objective_values(metrics, spec.objective_names)
            violations = measure.violations(metrics, spec.constraints)
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
        if n_seeds > 1:
            result.metrics, result.seeds = dict(metrics), seeds
            result.wall_time_s = None  # the K trainings' wall time: the trial's duration
        result.write(trial)
        write_constraints(trial, violations, dashboard=dashboard)
        return values
