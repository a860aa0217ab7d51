"""DualProj (Lopez-Paz & Ranzato, GEM, 2017, Eq. 11), torchjd."""

from __future__ import annotations

from torchjd.aggregation import DualProjWeighting, Weighting

from paretolab.balancers.gradient.upgrad import UPGradBalancer
from paretolab.balancers.projector import NNLSProjector


class DualProjBalancer(UPGradBalancer):
    """DualProj (Lopez-Paz & Ranzato, GEM, 2017, Eq. 11), torchjd.

    The preference-weighted sum ``sum_i w_i g_i`` projected onto the dual cone of the task
    gradients (the closest vector that conflicts with no task).
    """

    name = "dualproj"
    preference_meaning = ("weights of the sum that is projected onto the dual cone "
                          "(torchjd's pref_vector): without conflict sum_i w_i g_i")

    def make_weighting(self) -> Weighting:
        return DualProjWeighting(projector=NNLSProjector())
