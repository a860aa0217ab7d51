"""The helper a command trial's program uses (``trainer: {command: [...]}``): no dependencies.

``config()`` is the trial's configuration (``trial.json``: weights, params, seed, steps,
balancer); ``report(step, **metrics)`` appends one JSON line to the metrics file paretolab
reads while the program runs (at a pruning rung it may decide to stop the trial);
``should_stop()`` says whether paretolab asked the program to stop (it also sends SIGTERM).
Run outside paretolab (no ``PARETOLAB_*`` environment), ``config()`` is empty and ``report``
does nothing, so the same script runs on its own. This module imports only the standard
library: a script that has neither torch nor Optuna can use it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

__all__ = ["config", "dry_run", "report", "should_stop", "trial_dir"]


def trial_dir() -> str | None:
    """The trial's own folder (checkpoints, logs), or None outside paretolab."""
    return os.environ.get("PARETOLAB_TRIAL_DIR")


def config() -> dict[str, Any]:
    """The trial's configuration (``trial.json``), or ``{}`` outside paretolab."""
    path = os.environ.get("PARETOLAB_CONFIG")
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dry_run() -> bool:
    """Is this the short trial run of ``paretolab validate`` (a few steps on CPU)? A program may
    then skip slow set-up, but must still report every metric the study names."""
    return bool(config().get("dry_run"))


def report(step: int, **metrics: float) -> None:
    """Record the metrics at ``step``: one line ``{"step": step, "name": value, ...}``."""
    path = os.environ.get("PARETOLAB_METRICS")
    if not path:
        return
    values = {k: float(v) for k, v in metrics.items()}
    line = json.dumps({"step": int(step), **{k: (v if math.isfinite(v) else str(v))
                                             for k, v in values.items()}})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


def should_stop() -> bool:
    """Has paretolab asked this trial to stop (pruned or timed out)?"""
    folder = trial_dir()
    if not folder:
        return False
    return os.path.exists(os.path.join(folder, "stop"))
