"""What a user's training code gets for one trial (:class:`TrialContext`) and how its reports
become curves and pruning decisions (:class:`ReportLog`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paretolab.errors import TrialFailure
from paretolab.search_space import TrialConfig


class ReportLog:
    """The steps a trial reported: curves (one column per metric, ``None`` where a step did not
    report it), the latest value of every metric, and the pruning hook fed at each report that
    carries every objective (the hook itself acts only at its rungs)."""

    def __init__(self, objectives: Sequence[str] = (),
                 on_eval: Callable[[int, dict[str, float]], None] | None = None):
        self.objectives = list(objectives)
        self.on_eval = on_eval
        self.curves: dict[str, list[Any]] = {"step": []}
        self.latest: dict[str, float] = {}
        self.start = time.perf_counter()

    @property
    def last_step(self) -> int | None:
        return self.curves["step"][-1] if self.curves["step"] else None

    def add(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Record one report; raises :class:`~paretolab.pruning.RungPruned` when the trial is
        stopped at a rung (its partial result then carries these curves)."""
        try:
            step = int(step)
            values = {str(k): float(v) for k, v in metrics.items()}
        except (TypeError, ValueError, OverflowError):
            raise TrialFailure(f"report at step {step!r}: the step must be a whole number and the metrics "
                               f"numbers a float can hold, got "
                               f"{dict(metrics)!r}") from None
        n = len(self.curves["step"])
        self.curves["step"].append(step)
        for key, value in values.items():
            self.curves.setdefault(key, [None] * n).append(value if math.isfinite(value) else None)
        for column in self.curves.values():
            if len(column) == n:
                column.append(None)
        self.latest.update(values)
        if self.on_eval is not None and all(name in values for name in self.objectives):
            from paretolab.pruning import RungPruned

            try:
                self.on_eval(step, dict(self.latest))
            except RungPruned as pruned:
                pruned.result.curves = self.curves
                pruned.result.wall_time_s = time.perf_counter() - self.start
                raise


def require_metrics(metrics: Mapping[str, Any], names: Sequence[str], what: str) -> None:
    """A TrialFailure naming the first objective or constraint metric ``what`` did not give."""
    import difflib

    for name in names:
        if name not in metrics:
            given = ", ".join(map(str, metrics))
            close = difflib.get_close_matches(name, [str(m) for m in metrics if m not in names], n=1)
            raise TrialFailure(f"{what} gave no metric {name!r}"
                               + (f" (did you mean {close[0]!r}?)" if close else "") + f"; it gave [{given}]")


@dataclass
class TrialContext:
    """One trial, as the user's training function sees it (``train(trial)``).

    ``weights``: loss name -> preference weight (the study's weight search); ``params``: every
    searched and fixed param (training settings such as ``lr`` and the trainer's own);
    ``seed``; ``device`` (the worker's, e.g. ``cuda:1`` or ``cpu``); ``dir``: a folder of the
    trial's own for checkpoints and logs; ``steps``: the study's step budget per trial;
    ``dry_run``: True in ``paretolab validate``'s short run (a few steps on CPU).
    """

    weights: dict[str, float]
    params: dict[str, Any]
    seed: int
    device: str
    dir: Path
    steps: int
    number: int = 0
    config: TrialConfig | None = None
    base_dir: Path | None = None
    log: ReportLog = field(default_factory=ReportLog)
    dry_run: bool = False  # the short trial run of ``paretolab validate`` (a few steps on CPU)

    def balancer(self) -> Any:
        """The trial's balancer (method, settings and these weights), ready for
        ``balancer.backward(losses, shared_params, head_params)`` in the user's loop."""
        from paretolab.recipe import Recipe

        if self.config is None:
            raise ValueError("this context has no trial configuration to build a balancer from")
        return Recipe(self.config, self.base_dir, "cpu").make_balancer()

    def report(self, step: int, **metrics: float) -> None:
        """Record the metrics at ``step`` (a curve point). At a pruning rung, raises
        :class:`paretolab.TrialPruned` when MO-ASHA stops the trial: let it propagate."""
        self.log.add(step, metrics)
