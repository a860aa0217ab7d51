"""The task contract: everything paretolab needs from a user's model, and nothing more.

A task is any object with these members (subclassing :class:`Task` is optional but gives
defaults for the optional ones):

``losses``            tuple of loss names that :meth:`compute_losses` returns.
``metrics``           tuple of metric names that :meth:`evaluate` returns.
``build_model()``     a fresh ``torch.nn.Module`` (paretolab moves it to the trial's device).
``batches(batch_size, generator)``
                      an endless iterator of training batches; tensors (also inside tuples,
                      lists and dicts) are moved to the device by the trainer. Use ``generator``
                      (a seeded ``torch.Generator``) for every random choice so trials reproduce.
``compute_losses(model, batch)``
                      a mapping loss name -> scalar tensor.
``evaluate(model, device)``
                      a mapping metric name -> float, on held-out data; called under
                      ``torch.no_grad()`` with the model in eval mode.
``shared_parameters(model)`` (optional)
                      the parameters every loss depends on; gradient-level balancers combine
                      the task gradients of these. Default: all of the model's parameters.
``representation_module(model)`` (optional)
                      the submodule whose output is the shared representation, for balancers
                      that work on it (MGDA-UB); the trainer captures that output with a hook
                      during ``compute_losses``, so the losses depend on it.
``initial_state()`` (optional)
                      the shared starting checkpoint (a state dict of ``build_model()``'s model,
                      e.g. a pre-trained model read from a cache) that ``one_run: {method: soup}``
                      fine-tunes its specialists from; None, or absent: the model
                      ``build_model()`` gives at the trial's seed.

The study file names a task as a built-in name (``toy``), ``package.module:attr`` or
``path/to/file.py:attr``; ``attr`` is a class or a function called with the study's
``task.params`` as keyword arguments, once per trial.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn


class Task:
    """Base class for tasks; see the module docstring for the contract."""

    losses: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    def build_model(self) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must define build_model()")

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define batches()")

    def compute_losses(self, model: nn.Module, batch: Any) -> Mapping[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define compute_losses()")

    def evaluate(self, model: nn.Module, device: torch.device) -> Mapping[str, float]:
        raise NotImplementedError(f"{type(self).__name__} must define evaluate()")

    def shared_parameters(self, model: nn.Module) -> Sequence[nn.Parameter]:
        return [p for p in model.parameters() if p.requires_grad]

    def initial_state(self) -> Mapping[str, Any] | None:
        return None


def infinite_minibatches(
    tensors: Sequence[torch.Tensor], batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless shuffled minibatches over equally long tensors (reshuffled every epoch)."""
    n = len(tensors[0])
    batch_size = max(1, min(batch_size, n))
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            yield tuple(t[idx] for t in tensors)
