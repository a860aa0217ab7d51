"""GradDrop (Chen et al., "Just Pick a Sign", NeurIPS 2020), torchjd."""

from __future__ import annotations

from typing import Any, ClassVar

from torchjd.aggregation import GradDrop

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import MatrixBalancer


class GradDropBalancer(MatrixBalancer):
    """GradDrop (Chen et al., "Just Pick a Sign", NeurIPS 2020), torchjd.

    Per coordinate, keeps only the positive or only the negative task gradients, chosen at random
    with the probability given by their sign purity; sums what is kept (the paper's convention).
    """

    name = "graddrop"
    source = "torchjd"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "each loss scaled by T*w_i before the sign dropout (uniform: the paper's)"

    def make_aggregator(self) -> Any:
        return GradDrop()
