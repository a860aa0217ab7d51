"""GradVac (Wang et al., "Gradient Vaccine", ICLR 2021), torchjd."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchjd.aggregation import GradVacWeighting, Weighting

from paretolab._compat.torchjd_internals import gradvac_targets, load_gradvac_targets
from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import GramianBalancer


class GradVacBalancer(GramianBalancer):
    """GradVac (Wang et al., "Gradient Vaccine", ICLR 2021), torchjd.

    Like PCGrad, but each pair's cosine is raised to an EMA target rather than to 0; the
    corrected gradients are summed (the paper's convention). Keeps the EMA targets as state.
    """

    name = "gradvac"
    source = "torchjd"
    settings = {"beta": Setting(0.5, low=1e-3, high=1.0, log=True,
                                help="EMA rate of the target cosine similarities")}
    preference_meaning = "each loss scaled by T*w_i before the correction (uniform: the paper's)"

    def make_weighting(self) -> Weighting:
        return GradVacWeighting(beta=self.options["beta"])

    def state_dict(self) -> dict[str, Any]:
        phi = gradvac_targets(self.weighting)
        return {**super().state_dict(), "phi": None if phi is None else phi.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        assert isinstance(self.weighting, GradVacWeighting)  # make_weighting's
        self.weighting.reset()
        if state.get("phi") is not None:
            load_gradvac_targets(self.weighting, state["phi"].clone())
