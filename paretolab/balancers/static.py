"""The static weighted sum: the baseline every other balancer is compared with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from paretolab.balancers.base import Balancer


class StaticWeightedSum(Balancer):
    """Minimise ``sum_i w_i * L_i`` with the preference vector as the fixed weights ``w``."""

    name = "static"
    level = "loss"
    settings = {}
    preference_meaning = "the fixed weight of each loss in the sum"

    def backward(self, losses: Mapping[str, torch.Tensor], shared_params: Sequence[torch.Tensor],
                 task_params: Sequence[torch.Tensor] | None = None) -> None:
        stacked = self.stack(losses)
        (self.preference_tensor(stacked) * stacked).sum().backward()
