"""DB-MTL (Lin et al., "Dual-Balancing Multi-Task Learning", 2023, arXiv:2308.12029). Ours:
torchjd does not ship it; follows the LibMTL implementation by the paper's authors.

Loss-scale balancing: every loss is replaced by ``log(L_i + 1e-8)`` (so the losses must be
positive). Gradient-magnitude balancing: an EMA ``m_i`` of each log-loss gradient
(``m_i <- beta_t m_i + (1 - beta_t) grad log L_i``, ``beta_t = beta / t^beta_sigma``, from zero)
is rescaled to the largest EMA norm, and the rescaled EMAs are summed:
``sum_i (max_j |m_j| / |m_i|) m_i``. Keeps the ``[T, D]`` EMA as state.

Preference (ours): the rescaled EMAs are weighted by ``T w_i`` (uniform: the paper's sum), and
task-specific parameters get the gradient of ``sum_i T w_i log(L_i + 1e-8)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import JacobianBalancer
from paretolab.balancers.jacobian import TaskJacobian

LOG_EPS = 1e-8


class DBMTLBalancer(JacobianBalancer):
    """DB-MTL; see the module docstring."""

    name = "dbmtl"
    source = "Lin et al., Dual-Balancing Multi-Task Learning, arXiv:2308.12029 (2023)"
    settings = {
        "beta": Setting(0.9, low=0.5, high=0.99, help="EMA rate of the log-loss gradients"),
        "beta_sigma": Setting(0.0, low=0.0, high=1.0,
                              help="decay of the EMA rate: beta_t = beta / t^beta_sigma"),
    }
    preference_meaning = "weights T w_i of the norm-equalised log-loss gradient EMAs"

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.step = 0
        self.buffer: list[torch.Tensor] | None = None  # [T, numel] per shared parameter

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        self.require_positive(values, "takes logarithms of the losses")
        self.step += 1
        beta = self.options["beta"] / self.step ** self.options["beta_sigma"]
        scale = (1.0 / (values + LOG_EPS)).to(jacobian.blocks[0])[:, None]
        if self.buffer is None:
            self.buffer = [torch.zeros_like(b) for b in jacobian.blocks]
        for buf, block in zip(self.buffer, jacobian.blocks):
            buf.mul_(beta).add_(block * scale, alpha=1.0 - beta)
        norms = sum(torch.linalg.vector_norm(buf, dim=1) ** 2 for buf in self.buffer).sqrt()
        balance = norms.max() / (norms + 1e-8)
        coefficients = balance * (len(values) * preference).to(balance)
        return [(coefficients @ buf).reshape(shape)
                for buf, shape in zip(self.buffer, jacobian.shapes)]

    def head_loss(self, tensors: Sequence[torch.Tensor], preference: torch.Tensor
                  ) -> torch.Tensor:
        logs = torch.log(torch.stack([t.reshape(()) for t in tensors]) + LOG_EPS)
        return (len(tensors) * preference * logs).sum()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "step": self.step,
                "buffer": None if self.buffer is None else [b.clone() for b in self.buffer]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.step = int(state.get("step", 0))
        buffer = state.get("buffer")
        self.buffer = None if buffer is None else [b.clone() for b in buffer]
