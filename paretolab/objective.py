"""The Optuna objective: sample a configuration, train, record everything in trial attributes."""

from __future__ import annotations

import traceback

import optuna

from paretolab.errors import TrialFailure
from paretolab.pruning import make_pruner
from paretolab.records import RESULT_KEY, START_KEY
from paretolab.search_space import suggest_config
from paretolab.spec_check import CheckedStudy
from paretolab.storage import storage_failure
from paretolab.trainer import train


class Objective:
    """Callable for ``study.optimize``; one instance per worker process.

    With ``pruning`` in the study file the trial records its objectives at every rung and may
    end PRUNED there (:mod:`paretolab.pruning`). Failures keep their message in the
    ``failure`` attribute and re-raise (Optuna marks the trial FAIL and the study goes on);
    Ctrl-C additionally sets ``interrupted`` so the trial is redone on resume instead of
    counting toward the budget.

    Storage writes are bundled: one ``start`` attribute before training (configuration, worker,
    host) and one ``result`` attribute after it (``records.trial_attrs`` reads them back flat),
    so a trial costs two attribute round trips whatever it records.
    A trial re-run after its worker was lost (same params, re-enqueued by the heartbeat
    callback) inherits the lost attempt's ``start`` and trains with the same seed.
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
        try:
            config = suggest_config(trial, spec, self.checked.balanced_names, self.checked.loss_groups)
            config.task = self.checked.task_ref
            lost = trial.user_attrs.get(START_KEY)  # a retry of a lost attempt: same seed
            if isinstance(lost, dict) and isinstance(lost.get("config"), dict) and "seed" in lost["config"]:
                config.seed = int(lost["config"]["seed"])
            start = {"config": config.to_dict(), "worker": self.worker}
            if self.host:
                start["host"] = self.host
            trial.set_user_attr(START_KEY, start)
            on_eval = None
            if self.pruner is not None:
                # evaluate exactly at the rungs (a trainer that honours extra["eval_steps"] does;
                # otherwise each rung is judged at the first evaluation after it, the same step
                # for every trial of the study)
                config.extra["eval_steps"] = list(self.pruner.rungs)
                on_eval = self.pruner.hook(trial)
            result = train(config, self.device, base_dir=spec.base_dir, on_eval=on_eval)
        except optuna.TrialPruned:
            metrics = (trial.user_attrs.get(RESULT_KEY) or {}).get("metrics") or {}
            for constraint in spec.constraints:  # the last rung's feasibility, for the tables
                if constraint.metric in metrics:
                    trial.set_constraint(str(constraint), constraint.violation(metrics[constraint.metric]))
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("failure", "interrupted (Ctrl-C); redone on resume")
            raise
        except TrialFailure as exc:
            trial.set_user_attr("failure", str(exc))
            raise
        except Exception as exc:  # the task (user code) raised: keep the message, go on
            if storage_failure(exc):  # the storage, not the task: the worker retries, no budget used
                raise
            trial.set_user_attr("failure", f"{type(exc).__name__}: {exc}")
            trial.set_user_attr("traceback", traceback.format_exc(limit=8)[-4000:])
            raise
        finally:
            self.current = None
        record = {"metrics": result.metrics, "curves": result.curves, "wall_time_s": result.wall_time_s,
                  "device": result.device, "steps": result.steps}
        for key, series in (("conflict", result.conflict), ("grad_norm_ratio", result.norm_ratio),
                            ("balancer_stats", result.balancer_stats)):
            if series:
                record[key] = series
        trial.set_user_attr(RESULT_KEY, record)
        for constraint in spec.constraints:
            trial.set_constraint(str(constraint), constraint.violation(result.metrics[constraint.metric]))
        return [result.metrics[name] for name in spec.objective_names]
