"""Weights & Biases: one run per finished trial and a front run, when ``wandb`` is installed.

paretolab does not depend on ``wandb``; with it installed (and logged in, or ``mode: offline``)
each finished trial becomes a run of the project (config: params, weights, balancer; history:
the step curves; summary: the final objectives), grouped by study, and ``front`` a run with the
hypervolume and the front's trials as a table.
"""

from __future__ import annotations

from pathlib import Path

import wandb  # ImportError here: the library is not installed

from paretolab.records import StudyMeta, TrialRecord
from paretolab.trackers import trial_curves, trial_params, trial_values


class WandbTracker:
    """Logs a study's trials into one W&B project, grouped by the study's name."""

    def __init__(self, meta: StudyMeta, project: str, entity: str | None, mode: str, folder: Path):
        self.meta, self.project, self.entity, self.mode, self.folder = meta, project, entity, mode, folder

    def _init(self, name: str, **kwargs: object) -> wandb.sdk.wandb_run.Run:
        self.folder.mkdir(parents=True, exist_ok=True)
        return wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(self.folder),
                          group=self.meta.name, name=name, reinit="create_new", **kwargs)

    def on_trial(self, record: TrialRecord) -> None:
        if record.state not in ("COMPLETE", "PRUNED", "FAIL"):
            return
        run = self._init(f"trial {record.number}", config=trial_params(record),
                         tags=[record.state.lower()])
        try:
            steps, curves = trial_curves(record)
            for i, step in enumerate(steps):
                run.log({f"curve/{k}": v[i] for k, v in curves.items() if i < len(v)}, step=step)
            run.summary.update(trial_values(record, self.meta))
        finally:
            run.finish(exit_code=1 if record.state == "FAIL" else 0)

    def on_study_end(self, front: list[TrialRecord], hypervolume: float) -> None:
        run = self._init("front")
        try:
            table = wandb.Table(columns=["trial", *self.meta.objectives])
            for r in sorted(front, key=lambda r: r.number):
                table.add_data(r.number, *(r.values or []))
            run.log({"front": table, "hypervolume": float(hypervolume)})
        finally:
            run.finish()
