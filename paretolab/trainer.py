"""The short training loop every trial runs (and ``paretolab train`` reuses with a longer budget).

The trial's :class:`~paretolab.recipe.Recipe` (seeding, optimizer, lr schedule, loss groups,
balancer, gradient clipping, the NaN/inf guard) plus what a study records: curves of every
metric every ``eval_every`` steps, gradient-conflict statistics and the balancer's numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from paretolab.balancers import Balancer
from paretolab.errors import TrialFailure
from paretolab.recipe import Recipe, torch_device
from paretolab.search_space import TrialConfig


@dataclass
class TrainResult:
    """What a training run measured."""

    metrics: dict[str, float]
    curves: dict[str, list[float]]  # "step" plus every metric and every balanced loss
    wall_time_s: float
    device: str
    steps: int
    balancer_state: dict[str, Any] = field(default_factory=dict)
    conflict: dict[str, list[Any]] = field(default_factory=dict)  # "step", "cos:a|b" per record
    norm_ratio: dict[str, list[Any]] = field(default_factory=dict)  # "step", "ratio:a|b"
    balancer_stats: dict[str, list[float]] = field(default_factory=dict)  # "step", method numbers


def wants_conflict_stats(mode: str, balancer: Balancer) -> bool:
    """``auto``: record when it is free (gradient-level methods); ``on``: always; ``off``: never."""
    if mode == "on":
        return True
    return mode == "auto" and balancer.conflict_stats_free


def _append(series: dict[str, list[Any]], step: int, values: Mapping[str, Any], prefix: str) -> None:
    series.setdefault("step", []).append(step)
    for key, value in values.items():
        series.setdefault(f"{prefix}{key}", []).append(value)


def train(config: TrialConfig, device: str | torch.device = "auto", *,
          base_dir: Path | None = None,
          on_eval: Callable[[int, dict[str, float]], None] | None = None,
          balancer: Balancer | None = None, eval_steps: Iterable[int] = ()) -> TrainResult:
    """Run one training run as ``config`` says and return the measured metrics and curves.

    The run is the trial's :class:`~paretolab.recipe.Recipe` step after step; it evaluates
    every ``config.eval_every`` steps, at the last step and at each of ``eval_steps`` (the
    pruning rungs), calling ``on_eval(step, metrics)`` there (progress, pruning). Raises
    :class:`TrialFailure` for a NaN/inf loss or metric, and for running out of GPU memory (the
    memory is released so the worker goes on with its next trial); other exceptions from the
    task propagate.
    """
    try:
        return _train(config, device, base_dir=base_dir, on_eval=on_eval, balancer=balancer,
                      eval_steps=eval_steps)
    except torch.OutOfMemoryError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise TrialFailure(f"out of GPU memory: {message[:300]}" if message
                           else "out of GPU memory") from None


def _train(config: TrialConfig, device: str | torch.device = "auto", *,
           base_dir: Path | None = None,
           on_eval: Callable[[int, dict[str, float]], None] | None = None,
           balancer: Balancer | None = None, eval_steps: Iterable[int] = ()) -> TrainResult:
    start = time.perf_counter()
    recipe = Recipe(config, base_dir, torch_device(device))
    task = recipe.make_task()
    model = recipe.build_model(task)
    run = recipe.start(model, task, balancer=balancer)
    balancer = run.balancer
    batches = recipe.batches(task)
    names = recipe.loss_names

    record_conflict = len(names) > 1 and wants_conflict_stats(
        str(config.train.get("conflict_stats", "auto")), balancer)
    conflict: dict[str, list[Any]] = {}
    norm_ratio: dict[str, list[Any]] = {}
    balancer_stats: dict[str, list[float]] = {}
    rungs = set(eval_steps)  # e.g. pruning rungs
    curves: dict[str, list[float]] = {"step": []}
    loss_sums = {n: 0.0 for n in names}
    loss_count = 0
    metrics: dict[str, float] = {}
    for step in range(1, config.steps + 1):
        losses = run.losses(next(batches))
        evaluating = step % config.eval_every == 0 or step == config.steps or step in rungs
        stats = run.step(losses, conflict_stats=evaluating and record_conflict)
        if stats:
            _append(conflict, step, stats["cosine"], "cos:")
            _append(norm_ratio, step, stats["norm_ratio"], "ratio:")
        for n in names:
            loss_sums[n] += float(losses[n].detach())
        loss_count += 1
        if evaluating:
            extra_stats = balancer.stats()
            if extra_stats:
                _append(balancer_stats, step, extra_stats, "")
            metrics = run.evaluate()
            curves["step"].append(step)
            for k, v in metrics.items():
                curves.setdefault(k, []).append(v)
            for n in names:
                curves.setdefault(f"loss:{n}", []).append(loss_sums[n] / max(1, loss_count))
                loss_sums[n] = 0.0
            loss_count = 0
            if on_eval is not None:
                on_eval(step, metrics)
    return TrainResult(metrics=metrics, curves=curves, wall_time_s=time.perf_counter() - start,
                       device=str(recipe.torch_device), steps=config.steps,
                       balancer_state=balancer.to_config(), conflict=conflict,
                       norm_ratio=norm_ratio, balancer_stats=balancer_stats)
