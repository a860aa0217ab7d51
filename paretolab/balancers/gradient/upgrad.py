"""UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024), torchjd."""

from __future__ import annotations

from typing import ClassVar

import torch
from torchjd.aggregation import UPGradWeighting, Weighting

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import GramianBalancer
from paretolab.balancers.projector import NNLSProjector


class UPGradBalancer(GramianBalancer):
    """UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024), torchjd.

    Each task gradient is projected onto the dual cone of all of them (so it conflicts with none)
    and the projections are combined with the preference: ``sum_i w_i pi(g_i)``. The projection QP
    is solved by :class:`~paretolab.balancers.projector.NNLSProjector` (same problem as torchjd's
    quadprog projector, SciPy only).
    """

    name = "upgrad"
    source = "torchjd"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = ("weights of the projected task gradients (torchjd's pref_vector): "
                          "without conflict the update is sum_i w_i g_i")

    def make_weighting(self) -> Weighting:
        return UPGradWeighting(projector=NNLSProjector())

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(preference)

    def prepare(self, preference: torch.Tensor) -> None:
        self.weighting.pref_vector = preference
