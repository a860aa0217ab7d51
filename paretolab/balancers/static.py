"""The static weighted sum: the baseline every other balancer is compared with."""

from __future__ import annotations

from typing import ClassVar

import torch

from paretolab.balancers.base import Setting
from paretolab.balancers.loss_level import ScalarizingBalancer


class StaticWeightedSum(ScalarizingBalancer):
    """Minimise ``sum_i w_i * L_i`` with the preference vector as the fixed weights ``w``."""

    name = "static"
    level = "loss"
    source = "weighted sum (linear scalarization)"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "the fixed weight of each loss in the sum"

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        return (preference * values).sum()
