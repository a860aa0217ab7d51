"""ConFIG (Liu et al., "ConFIG: Towards Conflict-free Training of PINNs", ICLR 2025), torchjd."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torchjd.aggregation import ConFIG

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import MatrixBalancer


class ConFIGBalancer(MatrixBalancer):
    """ConFIG (Liu et al., "ConFIG: Towards Conflict-free Training of PINNs", ICLR 2025), torchjd.

    The direction ``u`` whose cosines with the task gradients are proportional to the preference
    (torchjd's ``pref_vector``; uniform: equal angles), with length ``sum_i g_i . u`` as in the
    paper (a sum). Rows are not rescaled: the preference only sets the direction. Run in the
    row-space coordinates (exact; avoids torchjd's pseudo-inverse of the ``[T, D]`` matrix).
    """

    name = "config"
    source = "torchjd"
    in_row_space = True
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "cosine of the update with each task gradient, proportional to w_i"

    def make_aggregator(self) -> Any:
        return ConFIG()

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(preference)

    def prepare(self, preference: torch.Tensor) -> None:
        self.aggregator.pref_vector = preference.double()
