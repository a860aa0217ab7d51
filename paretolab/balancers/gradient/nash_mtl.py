"""Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022), torchjd."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from paretolab._compat.torchjd_internals import rebuild_nash_mtl_problem
from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import SOLVERS_HINT, MatrixBalancer
from paretolab.balancers.jacobian import TaskJacobian


class NashMTLBalancer(MatrixBalancer):
    """Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022), torchjd.

    The Nash bargaining solution ``G a = 1 / a``. It is invariant to rescaling any loss, so the
    preference vector has no effect on it (rows scaled by ``T w_i`` only for uniformity; a
    zero weight still removes a task). torchjd solves it with cvxpy + ECOS. Run in the row-space
    coordinates (exact: it only uses the Gramian and the norm of the update).
    """

    name = "nashmtl"
    source = "torchjd"
    in_row_space = True
    requires = ("cvxpy", "ecos")
    install_hint = SOLVERS_HINT
    settings = {
        "update_weights_every": Setting(1, low=1, high=10,
                                        help="solve the bargaining problem every k steps"),
        "max_norm": Setting(1.0, low=0.1, high=10.0, log=True,
                            help="clip the update's norm to this (0: no clipping)"),
    }
    preference_meaning = "none: Nash-MTL is invariant to loss scaling (w_i = 0 removes a loss)"

    def make_aggregator(self) -> Any:
        from torchjd.aggregation import NashMTL

        return NashMTL(n_tasks=len(self.loss_names), max_norm=self.options["max_norm"],
                       update_weights_every=self.options["update_weights_every"])

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        if len(values) > 1:
            return super().shared_update(jacobian, values, preference)
        # one loss: G a = 1 / a gives a = 1 / |g|, the unit gradient (torchjd's solver needs T > 1)
        norm = float(jacobian.gramian64[0, 0].clamp_min(0).sqrt())
        if norm == 0.0:
            return jacobian.combine(torch.zeros(1))
        max_norm = self.options["max_norm"]
        length = min(1.0, max_norm) if max_norm > 0 else 1.0
        return jacobian.combine(torch.tensor([length / norm]))

    def state_dict(self) -> dict[str, Any]:
        w = self.aggregator.weighting
        return {**super().state_dict(), "step": float(w.step),
                "prvs_alpha": torch.as_tensor(w.prvs_alpha).clone(),
                "normalization_factor": torch.as_tensor(w.normalization_factor).clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        w = self.aggregator.weighting
        w.reset()
        if state.get("step"):
            w.prvs_alpha = state["prvs_alpha"].numpy().copy()
            w.normalization_factor = state["normalization_factor"].numpy().copy()
            rebuild_nash_mtl_problem(w)
            w.step = float(state["step"])
