"""The trial-kind seam: the one protocol every kind of trial implements.

A kind says how a trial of its studies samples its configuration (:meth:`TrialKind.build_config`),
trains and measures it, writing its own records through :mod:`paretolab.records`
(:meth:`TrialKind.run`), and how ``pick`` and production reproduce a stored configuration
(:meth:`TrialKind.pick_fields`, :meth:`TrialKind.reproduce`). The objective
(:mod:`paretolab.objective`) only dispatches: it writes the start record before ``run`` and the
result and constraints after it, the same for every kind. :mod:`paretolab.kinds.registry` maps a
study file (and a stored configuration) to its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import optuna

from paretolab import measure
from paretolab.records import TrialResult, TrialStart
from paretolab.search_space import TrialConfig

if TYPE_CHECKING:
    from paretolab.pruning import MOASHA
    from paretolab.records import TrialRecord
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import CheckedStudy

#: what a trial reports: its result (written by the objective), objective values, violations
Outcome = tuple[TrialResult, list[float], dict[str, float]]
OnEval = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class RunContext:
    """What one trial runs with: the checked study, the worker's device, its start record, the
    constraint format (``dashboard``) and the study's pruner (``None`` without pruning)."""

    checked: CheckedStudy
    device: str
    start: TrialStart
    dashboard: bool
    pruner: MOASHA | None = None

    @property
    def spec(self) -> StudySpec:
        return self.checked.spec


class TrialKind(Protocol):
    """One kind of trial (task, function, command, one-run, repeat); see the module docstring."""

    name: str
    uses_folder: bool  # a retrained pick runs in a folder of its own (the user's code does)

    def applies(self, spec: StudySpec) -> bool:
        """Are this study file's trials of this kind?"""
        ...

    def stored(self, config: TrialConfig) -> bool:
        """Was this stored configuration trained by this kind (``pick``, ``paretolab train``)?"""
        ...

    def build_config(self, trial: optuna.Trial, checked: CheckedStudy) -> TrialConfig:
        """Sample the trial's configuration."""
        ...

    def run(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext) -> Outcome:
        """Train and measure the trial, writing its kind's own records."""
        ...

    def pick_fields(self, record: TrialRecord, config: TrialConfig) -> dict[str, Any]:
        """What ``pick.yaml`` adds for this kind, after the configuration's fields."""
        ...

    def reproduce(self, config: TrialConfig, *, device: str, base_dir: Path | None, folder: Path,
                  number: int | None, required: list[str], on_eval: OnEval | None = None) -> Any:
        """Train ``config`` again (``paretolab train``; ``on_eval(step, metrics)`` at each
        evaluation); returns a result with ``metrics``, ``wall_time_s`` and ``device``."""
        ...


def measured(metrics: Mapping[str, float], spec: StudySpec) -> tuple[list[float], dict[str, float]]:
    """The objective values and constraint violations of ``metrics`` (a missing or non-finite
    objective fails the trial)."""
    return measure.objective_values(metrics, spec.objective_names), measure.violations(metrics, spec.constraints)


class TrainingKind:
    """A kind whose trial is one training run judged at the pruning rungs (task, function,
    command); :class:`~paretolab.kinds.repeat.Repeated` trains it again with other seeds."""

    name = "training"
    uses_folder = False  # the trial runs in its own folder (``trials/<number>``)

    def train_once(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext, *,
                   folder_suffix: str = "", on_eval: OnEval | None = None,
                   rungs: tuple[int, ...] = ()) -> TrialResult:
        """One training of ``config``."""
        raise NotImplementedError

    def run(self, trial: optuna.Trial, config: TrialConfig, ctx: RunContext) -> Outcome:
        on_eval, rungs = pruning_hook(trial, ctx)
        result = self.train_once(trial, config, ctx, on_eval=on_eval, rungs=rungs)
        values, violations = measured(result.metrics, ctx.spec)
        return result, values, violations

    def pick_fields(self, record: TrialRecord, config: TrialConfig) -> dict[str, Any]:
        return {}


def pruning_hook(trial: optuna.Trial, ctx: RunContext) -> tuple[OnEval | None, tuple[int, ...]]:
    """The pruner's ``on_eval`` and its rungs (evaluated exactly there, so every trial is judged at
    the same step); ``(None, ())`` without pruning."""
    if ctx.pruner is None:
        return None, ()
    return ctx.pruner.hook(trial), tuple(ctx.pruner.rungs)
