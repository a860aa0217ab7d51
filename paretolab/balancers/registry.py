"""Name -> balancer class; the one place that lists every method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paretolab.balancers.base import Balancer
from paretolab.balancers.static import StaticWeightedSum

_REGISTRY: dict[str, type[Balancer]] = {}


def register(cls: type[Balancer]) -> type[Balancer]:
    """Class decorator / function: make a balancer available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


register(StaticWeightedSum)


def available() -> dict[str, type[Balancer]]:
    return dict(_REGISTRY)


def get_balancer_class(name: str) -> type[Balancer]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown balancer {name!r}; valid: {', '.join(sorted(_REGISTRY))}") from None


def make_balancer(method: str, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                  settings: Mapping[str, Any] | None = None) -> Balancer:
    return get_balancer_class(method)(loss_names, weights, **dict(settings or {}))
