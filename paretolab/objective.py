"""The Optuna objective: sample a configuration, train, record everything through :mod:`paretolab.records`."""

from __future__ import annotations

import traceback

import optuna

from paretolab import measure
from paretolab.errors import TrialFailure
from paretolab.pruning import RungPruned, make_pruner
from paretolab.records import (FailureRecord, TrialResult, TrialStart, dashboard_constraints,
                               interrupted, write_constraints)
from paretolab.search_space import suggest_config
from paretolab.spec_check import CheckedStudy
from paretolab.storage import storage_failure
from paretolab.trainer import train


class Objective:
    """Callable for ``study.optimize``; one instance per worker process.

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
    """

    def __init__(self, checked: CheckedStudy, device: str, worker: int = 0, host: str | None = None):
        self.checked = checked
        self.device = device
        self.worker = worker
        self.host = host
        self.current: optuna.Trial | None = None
        self.pruner = make_pruner(checked.spec)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        spec = self.checked.spec
        self.current = trial
        dashboard = dashboard_constraints(trial.study)
        try:
            config = suggest_config(trial, spec, self.checked.balanced_names, self.checked.loss_groups)
            if spec.trainer is not None:  # the user's own training code (paretolab.trials)
                from paretolab.trials.run import trainer_entry

                config.extra["trainer"] = trainer_entry(spec, self.checked.task_ref)
            else:
                config.task = self.checked.task_ref
            lost = TrialStart.read(trial)  # a retry of a lost attempt: same seed
            if lost is not None and lost.seed is not None:
                config.seed = lost.seed
            TrialStart(config.to_dict(), self.worker, self.host).write(trial)
            on_eval, rungs = None, ()
            if self.pruner is not None:
                # evaluate exactly at the rungs, so every trial is judged at the same step
                on_eval, rungs = self.pruner.hook(trial), tuple(self.pruner.rungs)
            if spec.trainer is not None:
                from paretolab.trials import trial_dir
                from paretolab.trials.run import run_trainer

                required = [*spec.objective_names, *(c.metric for c in spec.constraints)]
                result = run_trainer(config, trial_dir(spec, trial.number), device=self.device,
                                     number=trial.number, objectives=spec.objective_names,
                                     required=required, on_eval=on_eval, timeout=spec.budget.trial_timeout)
            else:
                result = TrialResult.from_training(train(config, self.device, base_dir=spec.base_dir,
                                                         on_eval=on_eval, eval_steps=rungs))
            values = measure.objective_values(result.metrics, spec.objective_names)
            violations = measure.violations(result.metrics, spec.constraints)
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
        except KeyboardInterrupt:
            interrupted().write(trial)
            raise
        except TrialFailure as exc:
            FailureRecord(str(exc)).write(trial)
            raise
        except Exception as exc:  # the task (user code) raised: keep the message, go on
            if storage_failure(exc):  # the storage, not the task: the worker retries, no budget used
                raise
            FailureRecord(f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8)).write(trial)
            raise
        finally:
            self.current = None
        result.write(trial)
        write_constraints(trial, violations, dashboard=dashboard)
        return values
