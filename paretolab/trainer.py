"""The short training loop every trial runs (and ``paretolab train`` reuses with a longer budget).

Seeded per trial, with gradient clipping, an lr schedule, a NaN/inf guard that names the loss and
the step, and curves of every metric recorded every ``eval_every`` steps.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paretolab.balancers import Balancer, make_balancer
from paretolab.errors import TrialFailure
from paretolab.search_space import TrialConfig
from paretolab.tasks import make_task


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


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so the same trial number and seed give the same result."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors (also inside tuples, lists and dicts) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [to_device(v, device) for v in batch]
        return type(batch)(moved) if isinstance(batch, list) else tuple(moved)
    return batch


def build_optimizer(params: list[dict[str, Any]], train: Mapping[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = train["optimizer"], float(train["lr"]), float(train["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(train["momentum"]), weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def lr_factor(step: int, total: int, schedule: str, warmup: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based): warm-up, then the schedule."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 1.0


def combine_groups(raw: Mapping[str, torch.Tensor], groups: Mapping[str, Mapping[str, float]],
                   step: int) -> dict[str, torch.Tensor]:
    """Check every loss term is finite, then sum terms into the balanced losses."""
    for name, value in raw.items():
        if not torch.isfinite(value).all():
            kind = "NaN" if torch.isnan(value).any() else "inf"
            raise TrialFailure(f"loss {name} became {kind} at step {step}")
    out = {}
    for group, members in groups.items():
        missing = [t for t in members if t not in raw]
        if missing:
            raise TrialFailure(f"the task did not return loss(es) {missing} at step {step}; "
                               f"it returned {sorted(raw)}")
        out[group] = sum(coef * raw[t] for t, coef in members.items()) if len(members) > 1 \
            else raw[next(iter(members))] * next(iter(members.values()))
    return out


def _evaluate(task: Any, model: torch.nn.Module, device: torch.device, step: int) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        metrics = {k: float(v) for k, v in task.evaluate(model, device).items()}
    model.train()
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise TrialFailure(f"metric {bad[0]} became {metrics[bad[0]]} at step {step}")
    return metrics


def train(config: TrialConfig, device: str | torch.device = "auto", *,
          base_dir: Path | None = None,
          on_eval: Callable[[int, dict[str, float]], None] | None = None,
          balancer: Balancer | None = None) -> TrainResult:
    """Run one training run as ``config`` says and return the measured metrics and curves.

    ``on_eval(step, metrics)`` is called at every evaluation (progress, pruning). Raises
    :class:`TrialFailure` for a NaN/inf loss or metric, and for running out of GPU memory (the
    memory is released so the worker goes on with its next trial); other exceptions from the
    task propagate.
    """
    try:
        return _train(config, device, base_dir=base_dir, on_eval=on_eval, balancer=balancer)
    except torch.OutOfMemoryError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise TrialFailure(f"out of GPU memory: {message[:300]}" if message
                           else "out of GPU memory") from None


def _train(config: TrialConfig, device: str | torch.device = "auto", *,
           base_dir: Path | None = None,
           on_eval: Callable[[int, dict[str, float]], None] | None = None,
           balancer: Balancer | None = None) -> TrainResult:
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    start = time.perf_counter()
    seed_everything(config.seed)
    task = make_task(config.task, config.task_params, base_dir)
    model = task.build_model().to(dev)
    model.train()
    shared = list(task.shared_parameters(model))
    shared_ids = {id(p) for p in shared}
    task_params = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
    names = list(config.loss_groups)
    if balancer is None:
        balancer = make_balancer(config.balancer["method"], names, config.weights,
                                 config.balancer.get("settings"), base_dir=base_dir)
    param_groups = [{"params": shared + task_params}]
    extra = list(balancer.parameters())
    if extra:
        param_groups.append({"params": extra})
    train_cfg = config.train
    optimizer = build_optimizer(param_groups, train_cfg)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.steps, train_cfg["lr_schedule"],
                                       int(train_cfg["warmup_steps"])))
    generator = torch.Generator().manual_seed(config.seed)
    batches = task.batches(int(train_cfg["batch_size"]), generator)
    representation = getattr(task, "representation_module", None)
    try:
        balancer.attach(model, representation(model) if representation is not None else None)
    except ValueError as exc:
        raise TrialFailure(str(exc)) from None
    clip = train_cfg.get("grad_clip")
    all_params = [p for g in param_groups[:1] for p in g["params"]]

    record_conflict = len(names) > 1 and wants_conflict_stats(
        str(train_cfg.get("conflict_stats", "auto")), balancer)
    conflict: dict[str, list[Any]] = {}
    norm_ratio: dict[str, list[Any]] = {}
    balancer_stats: dict[str, list[float]] = {}
    eval_steps = set(config.extra.get("eval_steps", ()))  # e.g. pruning rungs
    curves: dict[str, list[float]] = {"step": []}
    loss_sums = {n: 0.0 for n in names}
    loss_count = 0
    metrics: dict[str, float] = {}
    for step in range(1, config.steps + 1):
        batch = to_device(next(batches), dev)
        raw = task.compute_losses(model, batch)
        losses = combine_groups(raw, config.loss_groups, step)
        optimizer.zero_grad(set_to_none=True)
        evaluating = step % config.eval_every == 0 or step == config.steps or step in eval_steps
        balancer.set_progress(step - 1, config.steps)
        stats = balancer.backward(losses, shared, task_params,
                                  conflict_stats=evaluating and record_conflict)
        if stats is not None:
            _append(conflict, step, stats["cosine"], "cos:")
            _append(norm_ratio, step, stats["norm_ratio"], "ratio:")
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(all_params, float(clip))
            if not torch.isfinite(norm):
                raise TrialFailure(f"gradient became non-finite at step {step}")
        optimizer.step()
        schedule.step()
        for n in names:
            loss_sums[n] += float(losses[n].detach())
        loss_count += 1
        if evaluating:
            extra_stats = balancer.stats()
            if extra_stats:
                _append(balancer_stats, step, extra_stats, "")
            metrics = _evaluate(task, model, dev, step)
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
                       device=str(dev), steps=config.steps,
                       balancer_state=balancer.to_config(), conflict=conflict,
                       norm_ratio=norm_ratio, balancer_stats=balancer_stats)
