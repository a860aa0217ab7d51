"""One-run trials: one training of a Pareto manifold whose evaluated preferences become trials of
their own (:mod:`paretolab.one_run.trial`). Other one-run methods register beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from paretolab.kinds.base import OnEval, Outcome, RunContext
from paretolab.search_space import TrialConfig

if TYPE_CHECKING:
    from paretolab.records import TrialRecord
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import CheckedStudy

CHECKPOINT_FILE = "pick.pt"  # beside pick.yaml: the picked model of a one-run point (a state dict)


class OneRunKind:
    """Pareto manifold learning (``one_run: {method: pml}``) and rewarded soups (``method: soup``):
    one training whose evaluated preferences become trials (:mod:`paretolab.one_run.trial`)."""

    name = "one_run"
    uses_folder = False

    def applies(self, spec: StudySpec) -> bool:
        return spec.one_run is not None

    def stored(self, config: TrialConfig) -> bool:
        from paretolab.one_run.train import ONE_RUN_EXTRA

        return ONE_RUN_EXTRA in config.extra

    def hands_over(self, trial: optuna.Trial, spec: StudySpec) -> bool:
        """With ``then: sampler`` only the study's first trial is the run; the others are
        per-weight trials (:mod:`paretolab.one_run.refine`)."""
        from paretolab.one_run.refine import is_run

        return not is_run(trial, spec)

    def build_config(self, trial: optuna.Trial, checked: CheckedStudy) -> TrialConfig:
        from paretolab.one_run.trial import suggest_run_config

        config = suggest_run_config(trial, checked.spec, checked.balanced_names, checked.loss_groups)
        config.task = checked.task_ref
        return config

    def run(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext) -> Outcome:
        from paretolab.one_run.trial import run_one_run

        return run_one_run(trial, config, ctx.spec, ctx.device, ctx.start, dashboard=ctx.dashboard)

    def pick_fields(self, record: TrialRecord, config: TrialConfig) -> dict[str, Any]:
        link = record.one_run
        if link is None or link.role != "point":
            return {}
        # a point of a one-run study: its model is saved beside pick.yaml
        return {"preference": dict(link.preference), "one_run": {"run": link.run},
                "checkpoint": CHECKPOINT_FILE}

    def reproduce(self, config: TrialConfig, *, device: str, base_dir: Path | None, folder: Path,
                  number: int | None, required: list[str], on_eval: OnEval | None = None) -> Any:
        """A point retrains as a fixed-weight model with its preference as the weights."""
        from paretolab.trainer import train

        return train(config, device, base_dir=base_dir, on_eval=on_eval)
