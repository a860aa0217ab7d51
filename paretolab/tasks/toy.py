"""The two-objective toy landscape of CAGrad (Liu et al. 2021), also used by Nash-MTL and FAMO.

The "model" is a single point x in R^2; the two losses have a Pareto set on the segment
x2 = -8.3552, x1 in [-7, 7]. With ``scale`` (s) = 1 the mean-loss optimum is (0, -8.3552), where
both losses are about -15.09; s = 0.1 gives the badly scaled pair of the Nash-MTL / FAMO papers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from paretolab.errors import TaskError
from paretolab.tasks.base import Task

PARETO_X2 = -8.3552
"""x2 coordinate of the Pareto set (from the CAGrad paper)."""
PARETO_X1_RANGE = (-7.0, 7.0)
"""x1 extent of the Pareto set."""
_LOG_FLOOR = 5e-6


def toy_losses(x: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (loss1, loss2) of the CAGrad toy landscape (Liu et al. 2021) at point ``x`` (shape (2,))."""
    x1, x2 = x[0], x[1]
    f1 = torch.log(torch.clamp(torch.abs(0.5 * (-x1 - 7) - torch.tanh(-x2)), min=_LOG_FLOOR)) + 6
    f2 = torch.log(torch.clamp(torch.abs(0.5 * (-x1 + 3) + torch.tanh(-x2) + 2), min=_LOG_FLOOR)) + 6
    c1 = torch.clamp(torch.tanh(x2 / 2), min=0)
    c2 = torch.clamp(torch.tanh(-x2 / 2), min=0)
    q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    loss1 = scale * (c1 * f1 + c2 * q1)
    loss2 = c1 * f2 + c2 * q2
    return loss1, loss2


def pareto_distance(x: Sequence[float] | torch.Tensor) -> float:
    """Euclidean distance from ``x`` to the toy Pareto set (segment x2 = -8.3552, |x1| <= 7)."""
    x1, x2 = (float(v) for v in x)
    lo, hi = PARETO_X1_RANGE
    dx = max(lo - x1, 0.0, x1 - hi)
    return math.hypot(dx, x2 - PARETO_X2)


class ToyPoint(nn.Module):
    """A 2-parameter "model": the point x the toy losses are evaluated at."""

    def __init__(self, start: Sequence[float]):
        super().__init__()
        self.x = nn.Parameter(torch.tensor([float(v) for v in start], dtype=torch.float32))

    def forward(self) -> torch.Tensor:
        """Return the current point x."""
        return self.x


class ToyTask(Task):
    """Built-in task ``toy``: the CAGrad two-objective landscape with no data (batches are None)."""

    losses = ("loss1", "loss2")
    metrics = ("loss1", "loss2", "pareto_distance")

    def __init__(self, start: Sequence[float] = (-8.5, 7.5), scale: float = 1.0):
        start = list(start)
        if len(start) != 2 or not all(math.isfinite(float(v)) for v in start):
            raise TaskError(f"start must be two finite numbers, got {start!r}", where="task.params.start")
        if not math.isfinite(float(scale)) or float(scale) <= 0:
            raise TaskError(f"scale must be a positive number, got {scale!r}", where="task.params.scale")
        self.start = [float(v) for v in start]
        self.scale = float(scale)

    def build_model(self) -> nn.Module:
        """A fresh point at ``start`` (deterministic; the global RNG is not used)."""
        return ToyPoint(self.start)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[None]:
        """Yield None forever: the toy losses need no data."""
        while True:
            yield None

    def compute_losses(self, model: nn.Module, batch: None) -> dict[str, torch.Tensor]:
        """The two toy losses at the model's point."""
        loss1, loss2 = toy_losses(model.x, self.scale)
        return {"loss1": loss1, "loss2": loss2}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Both losses at the final point and its distance to the Pareto set."""
        x = model.x.detach()
        loss1, loss2 = toy_losses(x, self.scale)
        return {"loss1": float(loss1), "loss2": float(loss2), "pareto_distance": pareto_distance(x.cpu())}
