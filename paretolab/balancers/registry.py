"""Name -> balancer class; the one place that lists every method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paretolab.balancers.base import Balancer
from paretolab.balancers.dbmtl import DBMTLBalancer
from paretolab.balancers.gradient_level import (
    AlignedMTLBalancer,
    CAGradBalancer,
    ConFIGBalancer,
    DualProjBalancer,
    GradDropBalancer,
    GradVacBalancer,
    IMTLGBalancer,
    MGDABalancer,
    NashMTLBalancer,
    PCGradBalancer,
    UPGradBalancer,
)
from paretolab.balancers.gradnorm import GradNormBalancer
from paretolab.balancers.lagrangian import LagrangianBalancer
from paretolab.balancers.loss_level import (
    ChebyshevBalancer,
    DWABalancer,
    FAMOBalancer,
    GLSBalancer,
    RLWBalancer,
    STCHBalancer,
    UncertaintyBalancer,
)
from paretolab.balancers.mgda_ub import MGDAUBBalancer
from paretolab.balancers.rgb import RGBBalancer
from paretolab.balancers.static import StaticWeightedSum

_REGISTRY: dict[str, type[Balancer]] = {}


def register(cls: type[Balancer]) -> type[Balancer]:
    """Class decorator / function: make a balancer available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (
    # loss level
    StaticWeightedSum, ChebyshevBalancer, STCHBalancer, UncertaintyBalancer, DWABalancer,
    RLWBalancer, GLSBalancer, FAMOBalancer, LagrangianBalancer,
    # gradient level
    UPGradBalancer, MGDABalancer, PCGradBalancer, CAGradBalancer, NashMTLBalancer, IMTLGBalancer,
    AlignedMTLBalancer, DualProjBalancer, GradDropBalancer, GradVacBalancer, ConFIGBalancer,
    GradNormBalancer, DBMTLBalancer, MGDAUBBalancer, RGBBalancer,
):
    register(_cls)


def available() -> dict[str, type[Balancer]]:
    """Every registered method (see :func:`describe_balancers` for which are installed)."""
    return dict(_REGISTRY)


def get_balancer_class(name: str) -> type[Balancer]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown balancer {name!r}; valid: {', '.join(sorted(_REGISTRY))}") from None


def make_balancer(method: str, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                  settings: Mapping[str, Any] | None = None) -> Balancer:
    return get_balancer_class(method)(loss_names, weights, **dict(settings or {}))


def describe_balancers() -> list[dict[str, Any]]:
    """One JSON-serialisable dict per method, for ``paretolab balancers``.

    Keys: ``name``, ``level`` ("loss" / "gradient"), ``settings`` (name -> ``kind``, ``default``,
    ``low``, ``high``, ``log``, ``choices``, ``help``; the schedule settings included),
    ``preference_meaning``, ``source`` ("torchjd" or the paper we follow), ``installed`` and
    ``install_hint`` (what to pip install when an optional dependency is missing), and
    ``conflict_stats`` (what recording gradient-conflict statistics costs: "free" when the
    method computes the task gradients anyway, else "extra pass") and ``needs_representation``
    (the trainer must pass ``representation=``).
    """
    rows = []
    for name, cls in _REGISTRY.items():
        missing = cls.missing_dependencies()
        rows.append({
            "name": name,
            "level": cls.level,
            "settings": {k: s.describe() for k, s in cls.settings.items()},
            "preference_meaning": cls.preference_meaning,
            "source": cls.source,
            "installed": not missing,
            "install_hint": cls.install_hint if missing else None,
            "conflict_stats": cls.conflict_stats_cost(),
            "needs_representation": cls.needs_representation,
        })
    return rows
