"""One real pass of the task on CPU before a study starts (``paretolab validate``).

The checks in :mod:`paretolab.spec.checks` trust what the task declares (``losses``,
``metrics``); a task whose ``compute_losses`` or ``evaluate`` returns other names, or NaN, then
fails every trial of the study. Here the task is built, given one batch, and evaluated once
(a few seconds for the built-in tasks), and every mismatch is reported at once.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from paretolab.errors import TaskError
from paretolab.spec.checks import CheckedStudy


@dataclass(frozen=True)
class TrialRunResult:
    """What the trial run saw: the names returned, and how long it took."""

    losses: dict[str, float]
    metrics: dict[str, float]
    seconds: float


def _name_problems(kind: str, call: str, expected: Iterable[str], returned: Mapping[str, Any],
                   declared_by: Mapping[str, str]) -> list[str]:
    """One line per expected name that ``call`` did not return, with the closest returned name."""
    problems = []
    got = sorted(returned)
    for name in expected:
        if name in returned:
            continue
        close = difflib.get_close_matches(name, [g for g in got if g not in expected], n=1)
        line = f"{call} returned no {kind} {name!r} ({declared_by[name]})"
        line += f"; did you mean {close[0]!r}?" if close else ""
        problems.append(f"{line} It returned {got}")
    return problems


def _value(value: Any) -> float | None:
    """A returned loss or metric as a float (None when it is not a single number)."""
    try:
        if hasattr(value, "detach"):
            if value.numel() != 1:
                return None
            value = value.detach()
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _step(what: str, where: str, func: Any, *args: Any) -> Any:
    """Call one part of the task; an exception becomes a TaskError naming the user's line."""
    from paretolab.userfiles import describe_exception

    try:
        return func(*args)
    except TaskError:
        raise
    except Exception as exc:  # the task's own code raised
        raise TaskError(f"trial run: {what} raised {describe_exception(exc)}",
                        where=where, hint="fix the task, or skip the trial run with --no-run") from None


def trial_run(checked: CheckedStudy) -> TrialRunResult:
    """Build the task on CPU, compute the losses of one batch and evaluate once; raise one
    TaskError listing every loss or metric that is declared but not returned (with the closest
    returned name) or that is not a finite number."""
    import torch

    from paretolab.tasks.loader import make_task

    spec = checked.spec
    assert spec.task is not None  # a trial run is of a task (trainers are checked otherwise)
    start = time.perf_counter()
    task = make_task(checked.task_ref, spec.task.params, spec.base_dir, where=spec.where("task"))
    torch.manual_seed(spec.seed)
    where = spec.where("task")
    model = _step("build_model()", where, task.build_model)
    model.train()
    generator = torch.Generator().manual_seed(spec.seed)
    batches = _step("batches()", where, lambda: iter(task.batches(int(spec.train.batch_size), generator)))
    batch = _step("the first batch", where, next, batches)
    raw = _step("compute_losses()", where, task.compute_losses, model, batch)
    raw = dict(raw) if isinstance(raw, Mapping) else {}

    loss_source = {name: "declared by the task" for name in task.losses}
    for term in spec.losses.terms or ():
        loss_source[term] = "named in losses"
    for group, members in spec.losses.groups.items():
        for term in members:
            loss_source.setdefault(term, f"in loss group {group!r}")
    problems = _name_problems("loss", "compute_losses()", loss_source, raw, loss_source)
    losses: dict[str, float] = {}
    for name, value in raw.items():
        number = _value(value)
        if number is None:
            problems.append(f"compute_losses() returned loss {name!r} as {type(value).__name__}, "
                            "not a scalar tensor")
        elif not math.isfinite(number):
            problems.append(f"compute_losses() returned loss {name!r} = {number} (not finite)")
        else:
            losses[name] = number

    model.eval()
    with torch.no_grad():
        measured = _step("evaluate()", where, task.evaluate, model, torch.device("cpu"))
    measured = dict(measured) if isinstance(measured, Mapping) else {}
    metric_source = {name: "declared by the task" for name in task.metrics}
    for i, objective in enumerate(spec.objectives):
        metric_source[objective.name] = f"objective {i}"
    for constraint in spec.constraints:
        metric_source[constraint.metric] = f"constraint '{constraint}'"
    problems += _name_problems("metric", "evaluate()", metric_source, measured, metric_source)
    metrics: dict[str, float] = {}
    for name, value in measured.items():
        number = _value(value)
        if number is None:
            problems.append(f"evaluate() returned metric {name!r} as {type(value).__name__}, not a number")
        elif not math.isfinite(number):
            problems.append(f"evaluate() returned metric {name!r} = {number} (not finite)")
        else:
            metrics[name] = number
    if problems:
        head = "a trial run of the task (one batch, one evaluation, on CPU) found "
        head += "a problem:" if len(problems) == 1 else f"{len(problems)} problems:"
        raise TaskError(head + "".join(f"\n  - {p}" for p in problems), where=where,
                        hint="make the task return every loss and metric it declares and the study "
                        "names, as finite numbers (or skip this check with --no-run)")
    return TrialRunResult(losses, metrics, time.perf_counter() - start)
