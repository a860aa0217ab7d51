"""Task trials: paretolab's own trainer over a task object (built-in or the user's
``file.py:Task``), :func:`paretolab.trainer.train`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from paretolab.kinds.base import OnEval, RunContext, TrainingKind
from paretolab.records import TrialResult
from paretolab.search_space import TrialConfig, suggest_config
from paretolab.trainer import train

if TYPE_CHECKING:
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import CheckedStudy


class TaskKind(TrainingKind):
    """Our trainer over the study's task: the default kind."""

    name = "task"

    def applies(self, spec: StudySpec) -> bool:
        return spec.trainer is None and spec.one_run is None

    def stored(self, config: TrialConfig) -> bool:
        return not config.extra

    def build_config(self, trial: optuna.Trial, checked: CheckedStudy) -> TrialConfig:
        config = suggest_config(trial, checked.spec, checked.balanced_names, checked.loss_groups)
        config.task = checked.task_ref
        return config

    def train_once(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext, *,
                   folder_suffix: str = "", on_eval: OnEval | None = None,
                   rungs: tuple[int, ...] = ()) -> TrialResult:
        return TrialResult.from_training(train(config, ctx.device, base_dir=ctx.spec.base_dir,
                                               on_eval=on_eval, eval_steps=rungs))

    def reproduce(self, config: TrialConfig, *, device: str, base_dir: Path | None, folder: Path,
                  number: int | None, required: list[str], on_eval: OnEval | None = None) -> Any:
        return train(config, device, base_dir=base_dir, on_eval=on_eval)
