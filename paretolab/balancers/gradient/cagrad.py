"""CAGrad (Liu et al., "Conflict-Averse Gradient Descent", NeurIPS 2021), torchjd."""

from __future__ import annotations

from torchjd.aggregation import Weighting

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import SOLVERS_HINT, GramianBalancer


class CAGradBalancer(GramianBalancer):
    """CAGrad (Liu et al., "Conflict-Averse Gradient Descent", NeurIPS 2021), torchjd.

    Maximises the worst task improvement within a ball of radius ``c |g_0|`` around the average
    gradient ``g_0``. Rows are scaled by ``T w_i``, so ``g_0 = sum_i w_i g_i``.
    torchjd solves the inner problem with cvxpy + Clarabel.
    """

    name = "cagrad"
    source = "torchjd"
    requires = ("cvxpy", "clarabel")
    install_hint = SOLVERS_HINT
    settings = {"c": Setting(0.5, low=0.0, high=1.0, help="radius of the ball around the mean")}
    preference_meaning = "the centre of the ball: g_0 = sum_i w_i g_i (rows scaled by T*w_i)"

    def make_weighting(self) -> Weighting:
        from torchjd.aggregation import CAGradWeighting

        return CAGradWeighting(c=self.options["c"])
