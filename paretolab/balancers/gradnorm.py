"""GradNorm (Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep
Multitask Networks", ICML 2018). Ours: torchjd does not ship it.

Loss weights ``w_i(t)`` (summing to ``T``) are learned so that each task's weighted gradient norm
``G_i = w_i |grad_W L_i|`` approaches ``mean(G) * r_i^alpha``, where ``r_i`` is the task's relative
inverse training rate ``(L_i(t)/L_i(0)) / mean_j(L_j(t)/L_j(0))``. As in the paper (Algorithm 1):
the model is updated with ``sum_i w_i(t) L_i`` (shared parameters and heads alike), then
``w`` takes one step on ``L_grad = sum_i |G_i - target_i|`` (target held constant) and is
renormalised to sum to ``T``. The step is taken by GradNorm's own Adam (``lr``), so
:meth:`parameters` is empty.

``norm_on="last"`` (default, the paper's choice) measures ``|grad_W L_i|`` on the last shared
weight matrix ``W`` (the last parameter of ``shared_params`` with two or more dimensions): a small
Jacobian plus one backward pass. ``norm_on="all"`` uses all shared parameters (the full task
Jacobian; conflict statistics are then free).

Preference (ours): the weights start at ``T w`` and the targets are scaled by ``T w_i``, so each
task's share of the gradient norm is proportional to its preference; uniform is the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import JacobianBalancer
from paretolab.balancers.jacobian import TaskJacobian


def last_weight(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The last parameter with two or more dimensions (the last weight matrix), else the last."""
    params = list(params)
    if not params:
        raise ValueError("a balancer needs at least one shared parameter")
    matrices = [p for p in params if p.dim() >= 2]
    return matrices[-1] if matrices else params[-1]


class GradNormBalancer(JacobianBalancer):
    """GradNorm; see the module docstring."""

    name = "gradnorm"
    source = "Chen et al., GradNorm, ICML 2018"
    settings = {
        "alpha": Setting(1.5, low=0.0, high=3.0, help="strength of the restoring force"),
        "lr": Setting(0.025, low=1e-3, high=0.1, log=True, help="learning rate of the weights"),
        "norm_on": Setting("last", choices=("last", "all"),
                           help="gradient norms on the last shared weight matrix or all shared"),
    }
    preference_meaning = ("each task's share of the weighted gradient norm (targets scaled by "
                          "T w_i); the weights start at T w")

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.loss_weights: torch.nn.Parameter | None = None
        self.optimizer: torch.optim.Adam | None = None
        self.initial_losses: torch.Tensor | None = None
        self._step_weights: torch.Tensor | None = None  # w(t) used by this step's update

    @property
    def conflict_stats_free(self) -> bool:
        return self.options["norm_on"] == "all"

    @classmethod
    def conflict_stats_cost(cls) -> str:
        return "free with norm_on=all, else extra pass"

    def _start(self, values: torch.Tensor, preference: torch.Tensor) -> None:
        if self.loss_weights is None:
            start = (len(values) * preference / preference.sum()).double().cpu()
            self.loss_weights = torch.nn.Parameter(start)
            self.optimizer = torch.optim.Adam([self.loss_weights], lr=self.options["lr"])
        if self.initial_losses is None:
            self.initial_losses = values.detach().double().cpu().clone()

    def current(self, like: torch.Tensor) -> torch.Tensor:
        """The weights of this step's update (before this step's weight update)."""
        assert self._step_weights is not None
        return self._step_weights.to(like)

    def fill_grads(self, losses: Mapping[str, torch.Tensor], shared_params: list[torch.Tensor],
                   task_params: Sequence[torch.Tensor] | None) -> TaskJacobian | None:
        values = self.stack(losses)
        self.require_positive(values, "uses the loss ratios L_i(t) / L_i(0)")
        preference = self.preference_tensor(values)
        self._start(values, preference)
        assert self.loss_weights is not None
        self._step_weights = self.loss_weights.detach().clone()
        if self.options["norm_on"] == "all":
            return super().fill_grads(losses, shared_params, task_params)
        tensors = self._loss_tensors(losses)
        jacobian = TaskJacobian.compute(tensors, [last_weight(shared_params)], retain_graph=True)
        norms = jacobian.gramian.diagonal().clamp_min(0).sqrt()
        params = [p for p in [*shared_params, *(task_params or [])] if p.requires_grad]
        total = (self.current(values) * torch.stack([t.reshape(()) for t in tensors])).sum()
        torch.autograd.backward(total, inputs=params)
        self._update_weights(values, preference, norms)
        return None

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        update = jacobian.combine(self.current(values))
        self._update_weights(values, preference, jacobian.gramian.diagonal().clamp_min(0).sqrt())
        return update

    def head_loss(self, tensors: Sequence[torch.Tensor], preference: torch.Tensor
                  ) -> torch.Tensor:
        stacked = torch.stack([t.reshape(()) for t in tensors])
        return (self.current(stacked) * stacked).sum()

    def _update_weights(self, values: torch.Tensor, preference: torch.Tensor,
                        norms: torch.Tensor) -> None:
        """One step on L_grad = sum_i |w_i n_i - target_i|, then renormalise to sum T."""
        assert self.loss_weights is not None and self.optimizer is not None
        assert self.initial_losses is not None
        t = len(values)
        n = norms.detach().double().cpu()
        w = self.loss_weights.detach()
        with torch.no_grad():
            weighted = w * n
            ratio = values.detach().double().cpu() / self.initial_losses
            inverse_rate = ratio / ratio.mean()
            share = t * preference.detach().double().cpu() / preference.sum().item()
            target = weighted.mean() * inverse_rate ** self.options["alpha"] * share
            self.loss_weights.grad = torch.sign(weighted - target) * n
        self.optimizer.step()
        self.loss_weights.grad = None
        with torch.no_grad():
            self.loss_weights.clamp_(min=0.0)
            total = self.loss_weights.sum()
            if total > 0:
                self.loss_weights.mul_(t / total)
            else:
                self.loss_weights.copy_(share)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "loss_weights": None if self.loss_weights is None else
                self.loss_weights.detach().clone(),
                "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
                "initial_losses": self.initial_losses}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.loss_weights, self.optimizer = None, None
        self.initial_losses = state.get("initial_losses")
        if state.get("loss_weights") is not None:
            self.loss_weights = torch.nn.Parameter(state["loss_weights"].clone().double())
            self.optimizer = torch.optim.Adam([self.loss_weights], lr=self.options["lr"])
            if state.get("optimizer") is not None:
                self.optimizer.load_state_dict(state["optimizer"])

    def stats(self) -> dict[str, float]:
        return self.named("weight", self.loss_weights)

