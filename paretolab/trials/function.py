"""Function trials: call the user's ``train(trial)`` in the worker process.

The function gets a :class:`~paretolab.trials.context.TrialContext` and returns the final
metrics (a mapping). Its exceptions propagate to the objective, which records them as the
trial's failure, as it does for a task's; pruning raises through ``trial.report``. Its
``sys.exit`` and a ``KeyboardInterrupt`` it raises itself are its failure too
(:mod:`paretolab.trials.user_exits`); a real Ctrl-C or SIGTERM interrupts the trial.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paretolab.errors import TrialFailure
from paretolab.records import TrialResult
from paretolab.tasks.loader import load_task_factory
from paretolab.trials.context import TrialContext
from paretolab.trials.user_exits import call_trainer


def run_function(ref: str, ctx: TrialContext, base_dir: Path | None = None) -> TrialResult:
    """Run ``ref`` (``file.py:attr`` or ``package.module:attr``) on ``ctx``; its returned
    mapping is the final metrics, the reports are the curves."""
    fn = load_task_factory(ref, base_dir, where="trainer.function")
    ctx.dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    out: Any = call_trainer(fn, ctx)
    if not isinstance(out, Mapping):
        raise TrialFailure(f"the trainer function returned {type(out).__name__}, not a mapping "
                           "of final metrics")
    try:
        metrics = {str(k): float(v) for k, v in out.items()}
    except (TypeError, ValueError):
        raise TrialFailure(f"the trainer function returned metrics that are not numbers: {dict(out)!r}") \
            from None
    curves = ctx.log.curves
    if not curves["step"]:  # nothing reported: the final metrics are the one curve point
        ctx.log.on_eval = None
        ctx.log.add(ctx.steps, metrics)
    return TrialResult(metrics=metrics, curves=curves, steps=ctx.log.last_step or ctx.steps,
                       wall_time_s=time.perf_counter() - start, device=ctx.device)
