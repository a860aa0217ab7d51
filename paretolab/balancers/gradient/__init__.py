"""The torchjd gradient-level balancers, one module per method (their bases:
:mod:`paretolab.balancers.gradient_level`).

:class:`JacobianBalancer` computes the task Jacobian ``J`` (``[T, D]``, one row per loss, T
backward passes via :func:`torchjd.autojac.jac`) and writes one combined vector into the shared
parameters' ``.grad``; task-specific parameters get the gradient of the preference-weighted sum of
the losses. The torchjd aggregators below are used as torchjd ships them; how the preference
vector ``w`` enters each one is stated per class (``preference_meaning``).

Scale conventions (what the update is when all task gradients equal ``g`` and ``w`` is uniform),
each as in its paper: ``mean`` methods give ``g`` (UPGrad, DualProj, IMTL-G, MGDA; CAGrad gives
``(1 + c) g``, its ball being centred on the mean), ``sum`` methods give ``T g`` (PCGrad, GradDrop,
GradVac, ConFIG); Aligned-MTL rescales to the smallest singular value of ``J``. Row scaling by
``T w_i`` (used where a method has no preference of its own) makes a uniform preference reproduce
the published method exactly.
"""

from __future__ import annotations

# isort: off
# imported (so registered) in this order: the order of `paretolab balancers`
from paretolab.balancers.gradient.upgrad import UPGradBalancer
from paretolab.balancers.gradient.dualproj import DualProjBalancer
from paretolab.balancers.gradient.aligned_mtl import AlignedMTLBalancer
from paretolab.balancers.gradient.mgda import MGDABalancer
from paretolab.balancers.gradient.pcgrad import PCGradBalancer
from paretolab.balancers.gradient.imtl_g import IMTLGBalancer
from paretolab.balancers.gradient.gradvac import GradVacBalancer
from paretolab.balancers.gradient.cagrad import CAGradBalancer
from paretolab.balancers.gradient.graddrop import GradDropBalancer
from paretolab.balancers.gradient.config import ConFIGBalancer
from paretolab.balancers.gradient.nash_mtl import NashMTLBalancer
# isort: on

__all__ = ["UPGradBalancer", "DualProjBalancer", "AlignedMTLBalancer", "MGDABalancer", "PCGradBalancer",
           "IMTLGBalancer", "GradVacBalancer", "CAGradBalancer", "GradDropBalancer", "ConFIGBalancer",
           "NashMTLBalancer"]
