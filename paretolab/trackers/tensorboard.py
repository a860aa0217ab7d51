"""TensorBoard: event files per trial (step curves, params as hparams, objectives) and the front.

Written with PyTorch's ``SummaryWriter`` (TensorBoard's own event format; it needs the
``tensorboard`` package). Each trial is one run folder ``trial-<number>`` under the log folder,
so ``tensorboard --logdir <dir>`` lists the trials side by side and its HPARAMS tab compares
params with objectives; ``front`` holds each front trial's objectives (step = trial number) and
the hypervolume (rewritten at each end). A trial whose folder exists was logged already and is
skipped.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import tensorboard  # noqa: F401 - ImportError here: the library is not installed
from torch.utils.tensorboard import SummaryWriter

from paretolab.records import StudyMeta, TrialRecord
from paretolab.trackers import trial_curves, trial_params, trial_values


def _hparam(value: object) -> object:
    """TensorBoard's hparams take numbers, strings and booleans only."""
    return value if isinstance(value, (int, float, str, bool)) else json.dumps(value, default=str)


class TensorboardTracker:
    """Writes a study's trials as TensorBoard runs under ``folder``."""

    def __init__(self, meta: StudyMeta, folder: Path):
        self.meta, self.folder = meta, Path(folder)

    def on_trial(self, record: TrialRecord) -> None:
        run = self.folder / f"trial-{record.number}"
        if record.state not in ("COMPLETE", "PRUNED", "FAIL") or run.exists():
            return
        writer = SummaryWriter(log_dir=str(run))
        try:
            steps, curves = trial_curves(record)
            for name, series in curves.items():
                for step, value in zip(steps, series):
                    writer.add_scalar(f"curve/{name}", value, step)
            values = trial_values(record, self.meta)
            last = max(steps) if steps else 0
            for name, value in values.items():
                writer.add_scalar(name.replace(".", "/", 1), value, last)
            params = {k: _hparam(v) for k, v in trial_params(record).items()}
            params["state"] = record.state
            writer.add_hparams(params, {f"hparam/{k}": v for k, v in values.items()}, run_name=".")
        finally:
            writer.close()

    def on_study_end(self, front: list[TrialRecord], hypervolume: float) -> None:
        shutil.rmtree(self.folder / "front", ignore_errors=True)  # the latest front only (a resumed run)
        writer = SummaryWriter(log_dir=str(self.folder / "front"))
        try:
            for record in sorted(front, key=lambda r: r.number):
                for name, value in zip(self.meta.objectives, record.values or []):
                    writer.add_scalar(f"front/{name}", float(value), record.number)
            writer.add_scalar("front/hypervolume", float(hypervolume), len(front))
            rows = ["| trial | " + " | ".join(self.meta.objectives) + " |",
                    "|---|" + "---|" * len(self.meta.objectives)]
            rows += [f"| {r.number} | " + " | ".join(f"{v:.6g}" for v in r.values or []) + " |"
                     for r in sorted(front, key=lambda r: r.number)]
            writer.add_text("front", "\n".join(rows))
        finally:
            writer.close()
