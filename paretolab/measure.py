"""A trial's objective vector and constraint violations, read from the metrics ``evaluate()`` returned.

A metric the study file names but the task does not return, or a value that is not finite, is the
trial's own failure (:class:`~paretolab.errors.TrialFailure`, recorded and counted toward the
budget), never an error the worker loop mistakes for a lost worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from paretolab.errors import TrialFailure


def metric(metrics: Mapping[str, float], name: str) -> float:
    """``metrics[name]`` as a float, or a TrialFailure naming what ``evaluate()`` returned."""
    if name not in metrics:
        returned = ", ".join(map(str, metrics))
        raise TrialFailure(f"evaluate() returned no metric {name!r}; it returned [{returned}]")
    try:
        return float(metrics[name])
    except (TypeError, ValueError):
        raise TrialFailure(f"evaluate() returned {metrics[name]!r} for metric {name!r}, "
                           "not a number") from None


def objective_values(metrics: Mapping[str, float], names: Sequence[str]) -> list[float]:
    """The objective vector, in the study file's order; every value finite."""
    values = [metric(metrics, name) for name in names]
    for name, value in zip(names, values):
        if not math.isfinite(value):
            raise TrialFailure(f"objective {name!r} is not finite ({value})")
    return values


def violations(metrics: Mapping[str, float], constraints: Sequence[Any]) -> dict[str, float]:
    """Each constraint's violation (feasible when <= 0) by its text, in the study file's order."""
    out: dict[str, float] = {}
    for c in constraints:
        value = metric(metrics, c.metric)
        if math.isnan(value):
            raise TrialFailure(f"metric {c.metric!r} of constraint '{c}' is not a number ({value})")
        out[str(c)] = float(c.violation(value))
    return out


def total_violation(metrics: Mapping[str, float], constraints: Sequence[Any]) -> float:
    """The sum of the positive violations (0 when every constraint holds)."""
    return float(sum(max(0.0, v) for v in violations(metrics, constraints).values()))
