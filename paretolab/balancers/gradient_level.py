"""Gradient-level balancers' bases: combine the per-loss gradients of the shared parameters.

:class:`JacobianBalancer` computes the task Jacobian ``J`` (``[T, D]``, one row per loss, T
backward passes via :func:`torchjd.autojac.jac`) and writes one combined vector into the shared
parameters' ``.grad``; task-specific parameters get the gradient of the preference-weighted sum of
the losses. The torchjd aggregators (one module per method in :mod:`paretolab.balancers.gradient`)
are used as torchjd ships them; how the preference vector ``w`` enters each one is stated per class
(``preference_meaning``).

Scale conventions (what the update is when all task gradients equal ``g`` and ``w`` is uniform),
each as in its paper: ``mean`` methods give ``g`` (UPGrad, DualProj, IMTL-G, MGDA; CAGrad gives
``(1 + c) g``, its ball being centred on the mean), ``sum`` methods give ``T g`` (PCGrad, GradDrop,
GradVac, ConFIG); Aligned-MTL rescales to the smallest singular value of ``J``. Row scaling by
``T w_i`` (used where a method has no preference of its own) makes a uniform preference reproduce
the published method exactly.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchjd.aggregation import (
    Weighting,
)

from paretolab.balancers.base import Balancer
from paretolab.balancers.jacobian import TaskJacobian, accumulate_grads, backward_heads

#: how to install the optional solvers (cvxpy, clarabel, ecos) of CAGrad and Nash-MTL
SOLVERS_HINT = "pip install 'paretolab[solvers]'  (cvxpy with the clarabel and ecos solvers)"


class JacobianBalancer(Balancer):
    """Base of the methods that combine the task Jacobian of the shared parameters."""

    level = "gradient"

    @property
    def conflict_stats_free(self) -> bool:
        return True

    @classmethod
    def conflict_stats_cost(cls) -> str:
        return "free"

    def fill_grads(self, losses: Mapping[str, torch.Tensor], shared_params: list[torch.Tensor],
                   task_params: Sequence[torch.Tensor] | None) -> TaskJacobian | None:
        tensors = self._loss_tensors(losses)
        heads = [p for p in task_params or [] if p.requires_grad]
        jacobian = TaskJacobian.compute(tensors, shared_params, retain_graph=bool(heads))
        values = torch.stack([t.detach().reshape(()) for t in tensors])
        preference = self.preference_tensor(values)
        with torch.no_grad():
            update = self.shared_update(jacobian, values, preference)
        accumulate_grads(shared_params, update)
        if heads:
            backward_heads(self.head_loss(tensors, preference), heads)
        return jacobian

    @abstractmethod
    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        """The update of the shared parameters, one tensor per parameter."""

    def head_loss(self, tensors: Sequence[torch.Tensor], preference: torch.Tensor
                  ) -> torch.Tensor:
        """The loss whose gradient the task-specific parameters get: ``sum_i w_i L_i``."""
        return (preference * torch.stack([t.reshape(()) for t in tensors])).sum()


class GramianBalancer(JacobianBalancer):
    """A torchjd :class:`~torchjd.aggregation.Weighting` of the Gramian of the scaled Jacobian.

    The Jacobian rows are scaled by ``row_scale(w)`` (``T w_i`` unless a subclass says otherwise),
    the weighting maps the Gramian ``C G C`` to row weights ``a``, and the update is
    ``(a * c) @ J``: exactly the torchjd aggregator applied to ``C J``, without copying ``J``.
    """

    #: leave tasks whose row scale is 0 out of the weighting (else they stay as zero rows)
    drop_zero_rows = False

    @abstractmethod
    def make_weighting(self) -> Weighting:
        """The torchjd weighting of the Gramian."""

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.weighting = self.make_weighting()
        self.last_weights: torch.Tensor | None = None

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return len(preference) * preference

    def prepare(self, preference: torch.Tensor) -> None:
        """Give the weighting this step's (scheduled) preference, when it takes one."""

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        gramian = jacobian.gramian
        preference = preference.to(gramian)
        scale = self.row_scale(preference)
        active = scale > 0 if self.drop_zero_rows else torch.ones_like(scale, dtype=torch.bool)
        weights = torch.zeros_like(scale)
        if active.any():
            c = scale[active]
            self.prepare(preference)
            sub = gramian[active][:, active] * c[:, None] * c[None, :]
            weights[active] = self.weighting(sub).to(gramian) * c
        self.last_weights = weights
        return jacobian.combine(weights)

    def stats(self) -> dict[str, float]:
        return self.named("weight", self.last_weights)



class MatrixBalancer(JacobianBalancer):
    """A torchjd aggregator that needs the Jacobian matrix itself (rows scaled by ``T w_i``).

    Subclasses whose aggregator is invariant to an orthogonal change of coordinates set
    ``in_row_space``: it then runs on the ``[T, r]`` coordinates of the rows in their own span
    (:meth:`TaskJacobian.coordinates`), which is exact and avoids the ``[T, D]`` matrix.
    """

    in_row_space = False

    @abstractmethod
    def make_aggregator(self) -> Any:
        """The torchjd aggregator of the (scaled) Jacobian."""

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.aggregator = self.make_aggregator()

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return len(preference) * preference

    def prepare(self, preference: torch.Tensor) -> None:
        """Give the aggregator this step's preference, when it takes one."""

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        self.prepare(preference)
        if not self.in_row_space:
            matrix = jacobian.matrix
            scale = self.row_scale(preference).to(matrix)
            return jacobian.split(self.aggregator(matrix * scale[:, None]))
        coordinates, back = jacobian.coordinates()
        if coordinates.shape[1] == 0:  # every gradient is zero
            return jacobian.combine(torch.zeros(len(values)))
        scale = self.row_scale(preference).to(coordinates)
        aggregated = self.aggregator(coordinates * scale[:, None])
        return jacobian.combine(back @ aggregated)
