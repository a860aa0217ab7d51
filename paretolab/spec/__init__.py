"""The study file: its models, reading it with clear errors, its JSON Schema, and the checks
that need the task.

``load_spec(path)`` reads and validates a file (:mod:`.loading`, :mod:`.models`);
``check_study(spec)`` checks it against the task, balancers, sampler and storage
(:mod:`.checks`); ``json_schema()`` is for editors (:mod:`.schema`); the fault defaults live in
:mod:`.defaults`. Importing this package imports neither torch nor Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paretolab.spec.defaults import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    MAX_CONSECUTIVE_FAILURES,
    MAX_RETRIES,
    STORAGE_PATIENCE_S,
)
from paretolab.spec.loading import MAX_FILE_BYTES, MAX_VALUES, load_spec, parse_spec
from paretolab.spec.models import (
    SAMPLERS,
    TRAIN_KNOBS,
    BalancerChoice,
    BudgetSpec,
    Choice,
    Constraint,
    FaultSpec,
    FloatRange,
    InitSpec,
    IntRange,
    Knob,
    LossesSpec,
    Objective,
    OneRunSpec,
    PruningSpec,
    SamplerSpec,
    SearchSpec,
    StudySpec,
    TaskSpec,
    TrainSpec,
    WeightsSpec,
    study_slug,
)
from paretolab.spec.resume import definition_changes
from paretolab.spec.schema import json_schema

if TYPE_CHECKING:
    from paretolab.spec.checks import CheckedStudy, check_study

__all__ = [
    "GRACE_PERIOD_S", "HEARTBEAT_INTERVAL_S", "MAX_CONSECUTIVE_FAILURES", "MAX_FILE_BYTES",
    "MAX_RETRIES", "MAX_VALUES", "SAMPLERS", "STORAGE_PATIENCE_S", "TRAIN_KNOBS", "BalancerChoice",
    "BudgetSpec", "CheckedStudy", "Choice", "Constraint", "FaultSpec", "FloatRange", "IntRange",
    "InitSpec", "Knob", "LossesSpec", "Objective", "OneRunSpec", "PruningSpec", "SamplerSpec", "SearchSpec",
    "StudySpec",
    "TaskSpec", "TrainSpec", "WeightsSpec", "check_study", "definition_changes", "json_schema", "load_spec",
    "parse_spec", "study_slug",
]


def __getattr__(name: str) -> Any:
    """``CheckedStudy`` and ``check_study`` load the task registry (torch) only when asked for."""
    if name in ("CheckedStudy", "check_study"):
        from paretolab.spec import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'paretolab.spec' has no attribute {name!r}")
