"""Aligned-MTL (Senushkin et al., "Independent Component Alignment for MTL", CVPR 2023), torchjd."""

from __future__ import annotations

from torchjd.aggregation import AlignedMTLWeighting, Weighting

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient.upgrad import UPGradBalancer


class AlignedMTLBalancer(UPGradBalancer):
    """Aligned-MTL (Senushkin et al., "Independent Component Alignment for MTL", CVPR 2023),
    torchjd.

    The Jacobian is replaced by its closest matrix with orthogonal rows of equal norm (the
    balance transformation, scaled by the smallest / median / mean singular value); the
    preference weights the aligned rows.
    """

    name = "alignedmtl"
    settings = {"scale_mode": Setting("min", choices=("min", "median", "rmse"),
                                      help="singular value that sets the aligned gradients' norm")}
    preference_meaning = "weights of the aligned (orthogonalised) task gradients (pref_vector)"

    def make_weighting(self) -> Weighting:
        return AlignedMTLWeighting(scale_mode=self.options["scale_mode"])
