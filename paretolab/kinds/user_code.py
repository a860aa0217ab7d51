"""Trials that run the user's own training code (``trainer:`` in the study file): the shared part
of the function and command kinds (:mod:`paretolab.trials.run` dispatches to either)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from paretolab.kinds.base import OnEval, RunContext, TrainingKind
from paretolab.records import TrialResult
from paretolab.search_space import TrialConfig, suggest_config
from paretolab.trials import trial_dir
from paretolab.trials.run import run_trainer, trainer_entry, trial_params

if TYPE_CHECKING:
    from paretolab.records import TrialRecord
    from paretolab.spec.checks import CheckedStudy


class UserCodeKind(TrainingKind):
    """A trainer trial: its configuration keeps the trainer entry (``extra['trainer']``) so a pick
    runs it again; each trial runs in ``<study folder>/trials/<number>``."""

    uses_folder = True
    entry_key = ""  # the key of ``extra['trainer']`` naming this kind ("function" / "command")

    def stored(self, config: TrialConfig) -> bool:
        entry = config.extra.get("trainer")
        return isinstance(entry, dict) and self.entry_key in entry

    def build_config(self, trial: optuna.Trial, checked: CheckedStudy) -> TrialConfig:
        spec = checked.spec
        config = suggest_config(trial, spec, checked.balanced_names, checked.loss_groups)
        config.extra["trainer"] = trainer_entry(spec, checked.task_ref)
        return config

    def train_once(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext, *,
                   folder_suffix: str = "", on_eval: OnEval | None = None,
                   rungs: tuple[int, ...] = ()) -> TrialResult:
        spec = ctx.spec
        required = [*spec.objective_names, *(c.metric for c in spec.constraints)]
        folder = trial_dir(spec, trial.number)
        return run_trainer(config, folder / folder_suffix if folder_suffix else folder,
                           device=ctx.device, number=trial.number, objectives=spec.objective_names,
                           required=required, on_eval=on_eval, timeout=spec.budget.trial_timeout)

    def pick_fields(self, record: TrialRecord, config: TrialConfig) -> dict[str, Any]:
        return {"params": trial_params(config)}  # every param your code got, in one place

    def reproduce(self, config: TrialConfig, *, device: str, base_dir: Path | None, folder: Path,
                  number: int | None, required: list[str], on_eval: OnEval | None = None) -> Any:
        return run_trainer(config, folder, device=device, number=number, objectives=required,
                           required=required, on_eval=on_eval)
