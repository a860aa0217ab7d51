"""MGDA-UB (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
Section 3.3). Ours around torchjd's MGDA weighting.

MGDA's min-norm problem is solved on the gradients of the losses with respect to the shared
representation ``Z`` (the encoder's output) instead of all shared parameters: an upper bound
whose Jacobian costs a backward pass through the task heads only. The resulting convex weights
``a`` then scale the losses, and one ordinary backward pass of ``sum_i a_i L_i`` updates the
shared parameters: about the cost of the static weighted sum.

``attach(model, representation_module)`` registers a forward hook on the representation module
(for a task, ``task.representation_module(model)``): each forward pass's output is kept, and
``backward`` uses the one of the same forward pass as the losses. ``normalization`` rescales each
representation gradient before the min-norm problem as the paper's code does (``l2``: by its
norm, ``loss``: by the loss value, ``loss+``: both). The preference enters as for
:class:`~paretolab.balancers.gradient.mgda.MGDABalancer` (rows ``/ (T w_i)``); task-specific
parameters get the gradient of ``sum_i w_i L_i``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle
from torchjd.aggregation import MGDAWeighting
from torchjd.autojac import jac

from paretolab.balancers.base import Balancer, Setting
from paretolab.balancers.jacobian import TaskJacobian, backward_heads

_NEEDS = ("balancer 'mgda_ub' needs the shared representation: call "
          "balancer.attach(model, representation_module) before training (a task defines "
          "representation_module(model), the module whose output the losses share)")

#: rows of the representation Jacobian differentiated at once (torchjd's ``parallel_chunk_size``):
#: all of them in one ``torch.vmap`` call through the heads, measured faster than one pass per loss
CHUNK: int | None = None


class MGDAUBBalancer(Balancer):
    """MGDA with the gradients of the shared representation; see the module docstring."""

    name = "mgda_ub"
    level = "gradient"
    needs_representation = True
    source = "Sener & Koltun, NeurIPS 2018 (MGDA-UB)"
    settings = {
        "normalization": Setting("none", choices=("none", "l2", "loss", "loss+"),
                                 help="rescaling of each task's representation gradient"),
        "max_iters": Setting(100, help="Frank-Wolfe iterations of torchjd's MGDA solver"),
        "epsilon": Setting(1e-3, help="Frank-Wolfe stops when its step is below this"),
    }
    preference_meaning = ("as mgda, on representation gradients: each loss's guaranteed decrease "
                          "rate proportional to w_i; w_i = 0 drops the loss")

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.weighting = MGDAWeighting(epsilon=self.options["epsilon"],
                                       max_iters=self.options["max_iters"])
        self.last_weights: torch.Tensor | None = None
        self._hook: RemovableHandle | None = None
        self._representation: torch.Tensor | None = None

    def attach(self, model: nn.Module, representation_module: nn.Module | None = None) -> None:
        """Keep the output of ``representation_module`` of every forward pass (a forward hook)."""
        if representation_module is None:
            raise ValueError(_NEEDS)
        self.detach()
        self._hook = representation_module.register_forward_hook(self._capture)

    def detach(self) -> None:
        """Remove the forward hook of :meth:`attach` (if any)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _capture(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            raise ValueError("mgda_ub: the representation module must return one tensor, got "
                             f"{type(output).__name__}")
        self._representation = output

    def use_representation(self, representation: torch.Tensor) -> None:
        self._representation = representation

    def fill_grads(self, losses: Mapping[str, torch.Tensor], shared_params: list[torch.Tensor],
                   task_params: Sequence[torch.Tensor] | None) -> TaskJacobian | None:
        representation, self._representation = self._representation, None
        if representation is None:
            raise ValueError(_NEEDS if self._hook is None else
                             "mgda_ub: no forward pass through the representation module since "
                             "the last backward; compute the losses with the attached model")
        if not representation.requires_grad:
            raise ValueError("mgda_ub: the representation does not require grad; pass the "
                             "encoder output of the same forward pass as the losses (not detached)")
        tensors = [t.reshape(()) for t in self._loss_tensors(losses)]
        values = torch.stack([t.detach() for t in tensors])
        rows = jac(tensors, [representation], retain_graph=True, parallel_chunk_size=CHUNK)[0]
        rows = rows.reshape(len(tensors), -1)
        if not bool(rows.any()):
            raise ValueError("mgda_ub: the losses do not depend on the representation (all its "
                             "gradients are zero); pass the tensor used to compute the losses")
        with torch.no_grad():
            gramian = rows @ rows.T
            self.last_weights = self.loss_weights(gramian, values, self.preference_tensor(values))
        total = (self.last_weights.to(values) * torch.stack(tensors)).sum()
        heads = [p for p in task_params or [] if p.requires_grad]
        shared = [p for p in shared_params if p.requires_grad]
        torch.autograd.backward(total, inputs=shared, retain_graph=bool(heads))
        if heads:
            backward_heads((self.preference_tensor(values) * torch.stack(tensors)).sum(), heads)
        return None

    def loss_weights(self, gramian: torch.Tensor, values: torch.Tensor,
                     preference: torch.Tensor) -> torch.Tensor:
        """The coefficients ``k`` of ``sum_i k_i L_i`` from the representation Gramian."""
        kind = self.options["normalization"]
        norms = gramian.diagonal().clamp_min(0).sqrt()
        if kind == "l2":
            factor = norms
        elif kind == "loss":
            factor = values.to(norms)
        elif kind == "loss+":
            factor = values.to(norms) * norms
        else:
            factor = torch.ones_like(norms)
        preference = preference.to(norms)
        active = (preference > 0) & (factor.abs() > 1e-12)
        weights = torch.zeros_like(norms)
        if active.any():
            scale = 1.0 / (len(preference) * preference[active] * factor[active])
            sub = gramian[active][:, active] * scale[:, None] * scale[None, :]
            weights[active] = self.weighting(sub).to(norms) * scale
        return weights

    def stats(self) -> dict[str, float]:
        return self.named("weight", self.last_weights)
