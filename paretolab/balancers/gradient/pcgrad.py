"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020), torchjd."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import PCGradWeighting, Weighting

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import GramianBalancer


class PCGradBalancer(GramianBalancer):
    """PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020), torchjd.

    Each task gradient is projected onto the normal plane of every gradient it conflicts with
    (random order); the results are summed, as in the paper.
    """

    name = "pcgrad"
    source = "torchjd"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "each loss scaled by T*w_i before the surgery (uniform: the paper's sum)"

    def make_weighting(self) -> Weighting:
        return PCGradWeighting()
