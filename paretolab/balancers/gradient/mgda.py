"""MGDA (Désidéri 2012; Frank-Wolfe solver of Sener & Koltun, NeurIPS 2018), torchjd."""

from __future__ import annotations

import torch
from torchjd.aggregation import MGDAWeighting, Weighting

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import GramianBalancer


class MGDABalancer(GramianBalancer):
    """MGDA (Désidéri 2012; Frank-Wolfe solver of Sener & Koltun, NeurIPS 2018), torchjd.

    The minimum-norm point of the convex hull of the task gradients. The preference enters by
    scaling the rows to ``g_i / (T w_i)`` (tasks with ``w_i = 0`` are left out): the min-norm
    direction ``d`` then satisfies ``g_i . d >= T w_i |d|^2``, i.e. every loss decreases at a
    first-order rate at least proportional to its weight. A uniform preference is plain MGDA.
    (Scaling rows by ``w_i`` instead would favour the tasks with the *smaller* weights.)
    """

    name = "mgda"
    source = "torchjd"
    settings = {
        "max_iters": Setting(100, help="Frank-Wolfe iterations of torchjd's MGDA solver"),
        "epsilon": Setting(1e-3, help="Frank-Wolfe stops when its step is below this"),
    }
    preference_meaning = ("guaranteed first-order decrease rate of each loss, proportional to "
                          "w_i (rows scaled by 1/(T w_i)); w_i = 0 drops the loss")

    drop_zero_rows = True

    def make_weighting(self) -> Weighting:
        return MGDAWeighting(epsilon=self.options["epsilon"], max_iters=self.options["max_iters"])

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        scale = torch.zeros_like(preference)
        positive = preference > 0
        scale[positive] = 1.0 / (len(preference) * preference[positive])
        return scale
