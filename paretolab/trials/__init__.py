"""Trials that run the user's own training code instead of a task object.

* :mod:`paretolab.trials.function` calls ``train(trial)`` in the worker process with a
  :class:`~paretolab.trials.context.TrialContext` (define-by-run, as Optuna's objectives are);
* :mod:`paretolab.trials.command` runs a program per trial (under :mod:`paretolab.trials.supervise`,
  which leaves none of its processes behind) and reads the metrics it appends to a JSON-lines
  file (as W&B sweeps and Syne Tune read a script's logs).

Both give a :class:`~paretolab.records.TrialResult` (curves from the reported steps) that the
objective records as it records a task's; pruning works through the reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def trial_dir(spec: Any, number: int) -> Path:
    """The trial's own folder: ``<study folder>/trials/<number>`` (absolute)."""
    return (Path(spec.study_dir) / "trials" / str(int(number))).resolve()
