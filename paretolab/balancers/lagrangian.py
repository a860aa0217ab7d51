"""Lagrangian balancer: keep constraint losses under a threshold with dual variables.

The "safety-constrained training" case: minimise the preference-weighted sum of the losses
subject to ``L_c <= threshold`` for each constrained loss ``c``. Gradient descent on the model and
projected gradient ascent on the multipliers of the Lagrangian

    L(theta, lambda) = sum_i w_i L_i(theta) + sum_c lambda_c (L_c(theta) - threshold)

(Arrow, Hurwicz & Uzawa, "Studies in Linear and Non-linear Programming", 1958; for neural networks
Platt & Barr, "Constrained Differential Optimization", NeurIPS 1987). After each backward,
``lambda_c <- max(0, lambda_c + dual_lr * (L_c - threshold))`` with the batch's loss value: the
multiplier grows while the constraint is violated and decays to 0 once it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from paretolab.balancers.base import Setting
from paretolab.balancers.loss_level import ScalarizingBalancer


class LagrangianBalancer(ScalarizingBalancer):
    """Weighted sum plus dual-ascent multipliers for the constrained losses (see module doc)."""

    name = "lagrangian"
    source = "Arrow, Hurwicz & Uzawa (1958); Platt & Barr, NeurIPS 1987"
    settings = {
        "constraint": Setting("", help="comma-separated constrained losses; empty: the last loss"),
        "threshold": Setting(0.0, help="each constrained loss is kept <= this value"),
        "dual_lr": Setting(0.05, low=1e-3, high=1.0, log=True,
                           help="step size of the multipliers' ascent"),
        "dual_init": Setting(0.0, help="initial value of the multipliers"),
    }
    preference_meaning = ("weights of the objective sum_i w_i L_i; constrained losses are also "
                          "held under the threshold by their multipliers (weight 0: pure constraint)")

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        named = [n.strip() for n in self.options["constraint"].split(",") if n.strip()]
        unknown = sorted(set(named) - set(self.loss_names))
        if unknown:
            raise ValueError(f"constraint names unknown losses {unknown}; "
                             f"losses: {list(self.loss_names)}")
        self.constrained = tuple(named) if named else (self.loss_names[-1],)
        if self.options["dual_init"] < 0:
            raise ValueError("dual_init must be >= 0")
        self.index = torch.tensor([self.loss_names.index(n) for n in self.constrained])
        self.duals = torch.full((len(self.constrained),), self.options["dual_init"],
                                dtype=torch.float64)
        self.last_violation: torch.Tensor | None = None

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        constrained = values[self.index.to(values.device)]
        excess = constrained - self.options["threshold"]
        duals = self.duals.to(values)
        objective = (preference * values).sum() + (duals * excess).sum()
        with torch.no_grad():  # projected dual ascent with this batch's constraint values
            violation = excess.detach().double().cpu()
            self.duals = (self.duals + self.options["dual_lr"] * violation).clamp_min(0.0)
            self.last_violation = violation
        return objective

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "duals": self.duals.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.duals = state["duals"].clone().to(torch.float64)

    def stats(self) -> dict[str, float]:
        out = {f"dual|{n}": float(v) for n, v in zip(self.constrained, self.duals)}
        if self.last_violation is not None:
            out.update({f"violation|{n}": float(v)
                        for n, v in zip(self.constrained, self.last_violation)})
        return out
