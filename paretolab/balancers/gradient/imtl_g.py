"""IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021), torchjd's weighting."""

from __future__ import annotations

from typing import ClassVar

import torch
from torchjd.aggregation import Weighting

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import GramianBalancer


class IMTLGBalancer(GramianBalancer):
    """IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021), torchjd's weighting
    extended with a preference.

    IMTL-G picks the combination ``d = sum_i a_i g_i`` (``sum a = 1``) whose projections on the
    unit task gradients are equal. With a preference we ask for projections proportional to
    ``w_i``: ``a ~ G^+ (|g| * w)``; a uniform ``w`` gives torchjd's ``IMTLGWeighting`` exactly.
    (Scaling the rows would not do: IMTL-G's direction is invariant to it.)
    """

    name = "imtlg"
    source = "torchjd (preference extension: ours)"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "projection of the update on each unit task gradient, proportional to w_i"

    def make_weighting(self) -> Weighting:
        return _PreferenceIMTLGWeighting()

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(preference)

    def prepare(self, preference: torch.Tensor) -> None:
        self.weighting.pref = preference


class _PreferenceIMTLGWeighting(Weighting):
    """torchjd's ``IMTLGWeighting`` with the target projections ``|g_i|`` scaled by ``w_i``."""

    def __init__(self) -> None:
        super().__init__()
        self.pref: torch.Tensor | None = None

    def forward(self, gramian: torch.Tensor, /) -> torch.Tensor:
        d = torch.sqrt(torch.diagonal(gramian).clamp_min(0.0))
        target = d if self.pref is None else d * self.pref.to(d)
        v = torch.linalg.pinv(gramian) @ target
        total = v.sum()
        return torch.zeros_like(v) if total.abs() < 1e-12 else v / total
