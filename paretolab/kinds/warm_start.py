"""Warm-started trials (``init: {from: nearest}``): a task trial that starts from the final model of
the completed trial nearest in preference space (Pareto continuation, Ma, Du and Matusik, ICML
2020; the rule and the checkpoints are :mod:`paretolab.warm_start`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from paretolab.kinds.base import OnEval, RunContext
from paretolab.kinds.task import TaskKind
from paretolab.records import TrialResult
from paretolab.search_space import TrialConfig
from paretolab.trainer import train
from paretolab.warm_start import WarmStartRecord, choose_source, recorded_source, save_final, source_state

if TYPE_CHECKING:
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import CheckedStudy


class WarmStartKind(TaskKind):
    """A task trial that continues its nearest completed trial, and keeps its own final model
    for the trials after it. Its pick retrains from scratch, as a task trial (``stored`` is
    never true: the task kind reproduces it)."""

    name = "warm_start"

    def applies(self, spec: StudySpec) -> bool:
        return spec.trainer is None and spec.one_run is None and spec.init is not None

    def stored(self, config: TrialConfig) -> bool:
        return False

    def build_config(self, trial: optuna.Trial, checked: CheckedStudy) -> TrialConfig:
        config = super().build_config(trial, checked)
        choose_source(trial, config, checked.spec)  # recorded in the config before the start record
        return config

    def train_once(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext, *,
                   folder_suffix: str = "", on_eval: OnEval | None = None,
                   rungs: tuple[int, ...] = ()) -> TrialResult:
        source = recorded_source(config)
        init_state = None
        if source is not None:
            frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == source)
            init_state = source_state(ctx.spec, trial.study, frozen)
        done = train(config, ctx.device, base_dir=ctx.spec.base_dir, on_eval=on_eval, eval_steps=rungs,
                     init_state=init_state, keep_state=not folder_suffix)
        if done.state is not None:  # a later trial's warm start (a repeat's other seeds keep none)
            save_final(ctx.spec, trial.number, done.state)
            if source is not None:
                WarmStartRecord(source, done.start_metrics).write(trial)
        return TrialResult.from_training(done)
