"""The two-objective toy landscape of CAGrad (Liu et al. 2021), also used by Nash-MTL and FAMO.

The "model" is a single point x in R^2. The papers give the Pareto set as the segment
x2 = -8.3552, x1 in [-7, 7]; it is in fact a slightly bent curve between the two losses' minima,
from x2 = -8.3551 at x1 = 0 to x2 = -8.4345 at |x1| = 7 (:func:`pareto_x2`), and
:func:`pareto_distance` measures the distance to that curve. With ``scale`` (s) = 1 the mean-loss
optimum is (0, -8.3551), where both losses are about -15.09; s = 0.1 gives the badly scaled pair
of the Nash-MTL / FAMO papers (scaling one loss leaves the Pareto set unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import brentq, minimize_scalar
from torch import nn

from paretolab.errors import TaskError
from paretolab.tasks.base import Task

PARETO_X2 = -8.3552
"""x2 of the Pareto set as the CAGrad paper rounds it (the exact set is :func:`pareto_x2`)."""
PARETO_X1_RANGE = (-7.0, 7.0)
"""x1 extent of the Pareto set: from the minimum of loss2 (x1 = -7) to that of loss1 (x1 = 7)."""
_X2_BRACKET = (-9.0, -8.0)  # holds the Pareto set's x2 for every x1 in PARETO_X1_RANGE
_GRID_STEP = 0.01
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


def _gradient_cross(x1: np.ndarray | float, x2: np.ndarray | float) -> np.ndarray | float:
    """The 2-D cross product of the two losses' gradients, divided by c2 > 0 (x2 < 0).

    Below x2 = 0 the losses are L_i = c(x2) q_i(x) with c = tanh(-x2 / 2) (c1 = 0 there), so
    with a_i = dq_i/dx1 and g = dq_i/dx2 (the same for both):
    ``dL1 x dL2 = c (c' (a1 q2 - a2 q1) + c g (a1 - a2))``.  It is 0 exactly where the gradients
    are parallel; between the two minima (|x1| < 7) their x1 parts have opposite signs, so there
    they are anti-parallel: the Pareto-critical points (a positive scale on loss1 changes nothing).
    """
    t = np.tanh(-np.asarray(x2) / 2)
    dc = -0.5 * (1 - t**2)
    q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    a1, a2 = (x1 - 7) / 5, (x1 + 7) / 5
    g = 0.02 * (x2 + 8)
    return dc * (a1 * q2 - a2 * q1) + t * g * (a1 - a2)


def pareto_x2(x1: float) -> float:
    """x2 of the toy's Pareto set at ``x1`` (|x1| <= 7): where the two gradients are anti-parallel.

    Solved to machine precision (Brent's method on :func:`_gradient_cross`); the set is symmetric
    in x1, -8.35511 at x1 = 0 and -8.43446 at the ends, each end being one loss's minimum.
    """
    lo, hi = PARETO_X1_RANGE
    if not lo <= x1 <= hi:
        raise ValueError(f"the Pareto set spans x1 in [{lo}, {hi}], got {x1}")
    return float(brentq(lambda x2: float(_gradient_cross(x1, x2)), *_X2_BRACKET, xtol=1e-14, rtol=1e-15))


@lru_cache(maxsize=1)
def _pareto_grid() -> tuple[np.ndarray, np.ndarray]:
    """The Pareto curve sampled every 0.01 in x1 (vectorised bisection), to locate the nearest part."""
    lo, hi = PARETO_X1_RANGE
    x1 = np.linspace(lo, hi, int(round((hi - lo) / _GRID_STEP)) + 1)
    a, b = np.full_like(x1, _X2_BRACKET[0]), np.full_like(x1, _X2_BRACKET[1])
    fa = _gradient_cross(x1, a)
    for _ in range(60):
        mid = (a + b) / 2
        fm = _gradient_cross(x1, mid)
        same = np.sign(fm) == np.sign(fa)
        a, fa = np.where(same, mid, a), np.where(same, fm, fa)
        b = np.where(same, b, mid)
    return x1, (a + b) / 2


def pareto_distance(x: Sequence[float] | torch.Tensor) -> float:
    """Euclidean distance from ``x`` to the toy's Pareto set (the curve :func:`pareto_x2`, |x1| <= 7).

    The nearest sample of the curve (every 0.01 in x1) brackets the nearest point, which is then
    found on the exact curve by a bounded scalar minimisation.
    """
    x1, x2 = (float(v) for v in x)
    grid_x1, grid_x2 = _pareto_grid()
    i = int(np.argmin((grid_x1 - x1) ** 2 + (grid_x2 - x2) ** 2))
    left, right = grid_x1[max(i - 1, 0)], grid_x1[min(i + 1, len(grid_x1) - 1)]

    def squared(t: float) -> float:
        return (t - x1) ** 2 + (pareto_x2(t) - x2) ** 2

    best = minimize_scalar(squared, bounds=(left, right), method="bounded", options={"xatol": 1e-12})
    ends = [squared(t) for t in (left, right)]
    return math.sqrt(max(min(float(best.fun), *ends), 0.0))


def _point(model: nn.Module) -> torch.Tensor:
    """The point ``x`` of a :class:`ToyPoint` (``nn.Module`` attributes are typed loosely)."""
    x = model.x
    assert isinstance(x, torch.Tensor)
    return x


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
        loss1, loss2 = toy_losses(_point(model), self.scale)
        return {"loss1": loss1, "loss2": loss2}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Both losses at the final point and its distance to the Pareto set."""
        x = _point(model).detach()
        loss1, loss2 = toy_losses(x, self.scale)
        return {"loss1": float(loss1), "loss2": float(loss2), "pareto_distance": pareto_distance(x.cpu())}
