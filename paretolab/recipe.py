"""A trial's training recipe, shared by the trainer and production training.

A :class:`Recipe` turns a :class:`~paretolab.search_space.TrialConfig` into the pieces of its
training run: the task and its model (each built right after seeding Python, NumPy and torch
with the trial's seed, so the model starts from the trial's weights without the caller having
to remember it), the data order, the balancer, the optimizer, the learning-rate schedule and
the loss groups. :meth:`Recipe.start` returns a :class:`TrainingRun` whose :meth:`~TrainingRun.step`
is one training step (zero_grad, balancer backward, gradient clipping, optimizer step, schedule
step), after which a task with ``set_curriculum(progress, difficulty)`` hears where the trial's
curriculum (``train.curriculum``, :mod:`paretolab.curriculum`) stands for the next batch.
``paretolab.trainer.train`` is this recipe plus evaluation and records, so a loop written with
it reproduces the trial exactly (same device, same step count).
"""

from __future__ import annotations

import functools
import math
import operator
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from paretolab.curriculum import Curriculum
from paretolab.errors import TrialFailure
from paretolab.search_space import TrialConfig

if TYPE_CHECKING:
    from paretolab.balancers import Balancer


# --- the pieces -----------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so the same trial number and seed give the same result."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def torch_device(device: str | torch.device) -> torch.device:
    """The torch device for a study file's ``device`` (``auto``: a GPU when present, else the CPU),
    as :func:`paretolab.devices.resolve_device` defines it for every part of paretolab."""
    if isinstance(device, torch.device):
        return device
    from paretolab.devices import resolve_device as study_device

    return torch.device(study_device(device))


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
    """The optimizer ``train`` names (adam, adamw, sgd) with its lr, weight decay, momentum."""
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
        out[group] = functools.reduce(operator.add, (coef * raw[t] for t, coef in members.items())) \
            if len(members) > 1 else raw[next(iter(members))] * next(iter(members.values()))
    return out


def evaluate(task: Any, model: torch.nn.Module, device: torch.device, step: int | None = None
             ) -> dict[str, float]:
    """The task's metrics under ``torch.no_grad()`` in eval mode (the model goes back to train
    mode); a :class:`TrialFailure` for a NaN/inf metric."""
    model.eval()
    with torch.no_grad():
        metrics = {k: float(v) for k, v in task.evaluate(model, device).items()}
    model.train()
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        at = f" at step {step}" if step is not None else ""
        raise TrialFailure(f"metric {bad[0]} became {metrics[bad[0]]}{at}")
    return metrics


# --- the recipe -----------------------------------------------------------------------------
@dataclass
class Recipe:
    """How one trial trains, from its :class:`TrialConfig`; see the module docstring.

    ``base_dir`` is where a relative task path (``mytask.py:Task``) starts; ``device`` is where
    the model and batches go (``auto``: CUDA when present).
    """

    config: TrialConfig
    base_dir: Path | None = None
    device: str | torch.device = "auto"

    @property
    def train(self) -> dict[str, Any]:
        """The training hyperparameters (lr, optimizer, batch_size, grad_clip, ...)."""
        return dict(self.config.train)

    @property
    def loss_names(self) -> list[str]:
        """The balanced losses, in the order the trial used."""
        return list(self.config.loss_groups)

    @property
    def torch_device(self) -> torch.device:
        return torch_device(self.device)

    def seed(self) -> None:
        """Seed Python, NumPy and torch with the trial's seed."""
        seed_everything(self.config.seed)

    def make_task(self) -> Any:
        """The trial's task (built-in or the user's, with its params), built right after seeding."""
        from paretolab.tasks import make_task

        self.seed()
        return make_task(self.config.task, self.config.task_params, self.base_dir)

    def build_model(self, task: Any) -> torch.nn.Module:
        """``task.build_model()`` right after seeding with the trial's seed (so it starts from
        the trial's initial weights), on the recipe's device, in train mode."""
        self.seed()
        model = task.build_model().to(self.torch_device)
        model.train()
        return model

    def batches(self, task: Any) -> Iterator[Any]:
        """The trial's training batches (its batch size and data order), on the recipe's device."""
        generator = torch.Generator().manual_seed(self.config.seed)
        device = self.torch_device
        return (to_device(batch, device)
                for batch in task.batches(int(self.config.train["batch_size"]), generator))

    def make_balancer(self, loss_names: Sequence[str] | None = None) -> Balancer:
        """A fresh balancer of the trial's class, with its settings and preference weights."""
        from paretolab.balancers import make_balancer

        names = list(loss_names) if loss_names is not None else self.loss_names
        return make_balancer(self.config.balancer.method, names, self.config.weights,
                             self.config.balancer.settings, base_dir=self.base_dir)

    def optimizer(self, params: Iterable[Any], balancer: Balancer | None = None) -> torch.optim.Optimizer:
        """The trial's optimizer over ``params`` (tensors or param groups), plus the balancer's
        own learnable parameters when it has any."""
        items = list(params)
        groups = items if items and isinstance(items[0], Mapping) else [{"params": items}]
        extra = list(balancer.parameters()) if balancer is not None else []
        if extra:
            groups = [*groups, {"params": extra}]
        return build_optimizer(groups, self.config.train)

    def scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int | None = None
                  ) -> torch.optim.lr_scheduler.LambdaLR:
        """The trial's learning-rate schedule over ``total_steps`` (default: the trial's)."""
        total = int(total_steps or self.config.steps)
        schedule, warmup = self.config.train["lr_schedule"], int(self.config.train["warmup_steps"])
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_factor(s, total, schedule, warmup))

    def group_losses(self, raw: Mapping[str, torch.Tensor], step: int = 0) -> dict[str, torch.Tensor]:
        """The task's loss terms summed into the balanced losses, as in the trial."""
        return combine_groups(raw, self.config.loss_groups, step)

    def start(self, model: torch.nn.Module, task: Any = None, *, total_steps: int | None = None,
              balancer: Balancer | None = None, shared_params: Iterable[torch.nn.Parameter] | None = None,
              representation_module: torch.nn.Module | None = None) -> TrainingRun:
        """Everything one training run needs, ready for :meth:`TrainingRun.step`.

        ``task`` gives the shared parameters (``task.shared_parameters(model)``, default all)
        and, when it defines ``representation_module(model)``, the shared representation that
        some balancers (MGDA-UB) read. Without a task, pass ``shared_params`` (and
        ``representation_module``) yourself. ``total_steps`` (default: the trial's) sets the
        lr schedule and the balancer's loss-weight schedule; ``balancer`` replaces the trial's.
        """
        total = int(total_steps or self.config.steps)
        if total < 1:
            raise ValueError(f"total_steps must be positive, got {total}")
        from paretolab.threads import use_recorded

        use_recorded(self.config)  # the trial's torch thread count: CPU results depend on it
        if shared_params is None:
            shared_params = (task.shared_parameters(model) if task is not None
                             and hasattr(task, "shared_parameters")
                             else [p for p in model.parameters() if p.requires_grad])
        shared = list(shared_params)
        shared_ids = {id(p) for p in shared}
        heads = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
        if balancer is None:
            balancer = self.make_balancer()
        if representation_module is None and task is not None and hasattr(task, "representation_module"):
            representation_module = task.representation_module(model)
        try:  # a no-op except for methods that read the shared representation (MGDA-UB)
            balancer.attach(model, representation_module)
        except ValueError as exc:
            raise TrialFailure(str(exc)) from None
        optimizer = self.optimizer(shared + heads, balancer)
        run = TrainingRun(model=model, task=task, recipe=self, balancer=balancer, shared=shared,
                          heads=heads, optimizer=optimizer, schedule=self.scheduler(optimizer, total),
                          total_steps=total, curriculum=self.curriculum())
        run.tell_curriculum()
        return run

    def curriculum(self) -> Curriculum | None:
        """The trial's curriculum schedule (``train.curriculum``), None without one."""
        try:
            return Curriculum.from_train(self.config.train)
        except ValueError as exc:  # searched ends that this schedule cannot run
            raise TrialFailure(str(exc)) from None


@dataclass
class TrainingRun:
    """One training run of a :class:`Recipe`: call :meth:`step` once per batch."""

    model: torch.nn.Module
    task: Any
    recipe: Recipe
    balancer: Balancer
    shared: list[torch.nn.Parameter]
    heads: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    total_steps: int
    done: int = 0  # steps taken
    curriculum: Curriculum | None = None

    def tell_curriculum(self) -> None:
        """Hand the task the curriculum's progress and difficulty for the next batch (a task
        that defines ``set_curriculum(progress, difficulty)``; nothing without a curriculum)."""
        if self.curriculum is not None and self.task is not None:
            self.curriculum.apply(self.task, self.done / self.total_steps)

    def losses(self, batch: Any) -> dict[str, torch.Tensor]:
        """The task's losses on ``batch``, summed into the balanced losses (NaN/inf checked)."""
        if self.task is None:
            raise ValueError("this run has no task: compute the losses yourself and group them "
                             "with recipe.group_losses(raw)")
        raw = self.task.compute_losses(self.model, batch)
        return self.recipe.group_losses(raw, self.done + 1)

    def step(self, losses: Mapping[str, torch.Tensor], *, conflict_stats: bool = False
             ) -> dict[str, Any] | None:
        """One training step on the balanced ``losses`` of one batch: zero_grad, the balancer's
        backward, gradient clipping (``grad_clip``), optimizer step, lr schedule step.

        With ``conflict_stats`` it returns this step's gradient-conflict statistics (cosine
        similarities and norm ratios of the task gradients), else None.
        """
        number = self.done + 1
        self.optimizer.zero_grad(set_to_none=True)
        self.balancer.set_progress(self.done, self.total_steps)
        stats = self.balancer.backward(losses, self.shared, self.heads, conflict_stats=conflict_stats)
        clip = self.recipe.config.train.get("grad_clip")
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(self.shared + self.heads, float(clip))
            if not torch.isfinite(norm):
                raise TrialFailure(f"gradient became non-finite at step {number}")
        self.optimizer.step()
        self.schedule.step()
        self.done = number
        self.tell_curriculum()
        return stats

    def evaluate(self, task: Any = None) -> dict[str, float]:
        """The task's metrics now (under no_grad, in eval mode; back to train mode after)."""
        task = task if task is not None else self.task
        metrics = evaluate(task, self.model, self.recipe.torch_device, self.done)
        if self.curriculum is not None and self.curriculum.observe(metrics):
            self.tell_curriculum()  # an adaptive schedule moved on what it measured
        return metrics
