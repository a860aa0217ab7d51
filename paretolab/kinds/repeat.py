"""Repeated trials: a configuration trained again with other seeds, as ``budget.repeats: K`` asks
(its objectives: the means over the K seeds) and as a repeat trial of ``paretolab verify``
(:class:`~paretolab.records.RepeatRecord`: the recorded seed, trained once, never pruned). It
wraps the study's own training kind (task, function or command)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from paretolab.kinds.base import OnEval, Outcome, RunContext, TrainingKind, TrialKind, measured, pruning_hook
from paretolab.search_space import TrialConfig, mixed_seed

if TYPE_CHECKING:
    from paretolab.records import RepeatRecord, TrialRecord
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import CheckedStudy


def repeat_seed(seed: int, k: int) -> int:
    """The seed of a configuration's ``k``-th training (``k = 0``: the trial's own seed, so a
    study with ``budget.repeats: 1`` trains exactly as before)."""
    return int(seed) if k == 0 else mixed_seed(int(seed), 7919, int(k))


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the seeds (metrics every seed returned as numbers)."""
    keys = [k for k in runs[0] if all(isinstance(r.get(k), int | float) for r in runs)]
    return {k: float(sum(float(r[k]) for r in runs) / len(runs)) for k in keys}


class Repeated:
    """``inner``'s training ``seeds`` times (``budget.repeats``), or once with the seed of a
    verify repeat (``repeat``). With pruning, the rungs judge the first seed's training; a verify
    repeat is never pruned. Around a kind that is not one training (one-run), a verify repeat
    only sets the seed."""

    name = "repeat"

    def __init__(self, inner: TrialKind, seeds: int = 1, repeat: RepeatRecord | None = None):
        self.inner = inner
        self.seeds = 1 if repeat is not None else int(seeds)
        self.repeat = repeat
        self.uses_folder = bool(getattr(inner, "uses_folder", False))

    def applies(self, spec: StudySpec) -> bool:
        return self.inner.applies(spec)

    def stored(self, config: TrialConfig) -> bool:
        return self.inner.stored(config)

    def build_config(self, trial: optuna.Trial, checked: CheckedStudy) -> TrialConfig:
        config = self.inner.build_config(trial, checked)
        if self.repeat is not None:
            config.seed = self.repeat.seed
        return config

    def run(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext) -> Outcome:
        if not isinstance(self.inner, TrainingKind):
            return self.inner.run(trial, config, ctx)
        on_eval, rungs = pruning_hook(trial, ctx) if self.repeat is None else (None, ())
        result = self.inner.train_once(trial, config, ctx, on_eval=on_eval, rungs=rungs)
        runs = [dict(result.metrics)]
        for k in range(1, self.seeds):  # the objectives are the seeds' means
            again = self.inner.train_once(trial, replace(config, seed=repeat_seed(config.seed, k)), ctx,
                                          folder_suffix=f"seed-{k}")
            runs.append(dict(again.metrics))
        seeds: list[dict[str, Any]] = [{"seed": repeat_seed(config.seed, k), "metrics": m}
                                       for k, m in enumerate(runs)]
        metrics = mean_metrics(runs) if self.seeds > 1 else result.metrics
        values, violations = measured(metrics, ctx.spec)
        if self.seeds > 1:
            result.metrics, result.seeds = dict(metrics), seeds
            result.wall_time_s = None  # the K trainings' wall time: the trial's duration
        return result, values, violations

    def pick_fields(self, record: TrialRecord, config: TrialConfig) -> dict[str, Any]:
        return self.inner.pick_fields(record, config)

    def reproduce(self, config: TrialConfig, *, device: str, base_dir: Path | None, folder: Path,
                  number: int | None, required: list[str], on_eval: OnEval | None = None) -> Any:
        return self.inner.reproduce(config, device=device, base_dir=base_dir, folder=folder,
                                    number=number, required=required, on_eval=on_eval)
