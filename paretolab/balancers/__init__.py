"""Loss balancers: one interface (:class:`Balancer`) for every method; see ``available()``."""

from paretolab.balancers.base import Balancer, MissingDependencyError, Setting
from paretolab.balancers.registry import (
    available,
    describe_balancers,
    get_balancer_class,
    make_balancer,
    register,
)
from paretolab.balancers.static import StaticWeightedSum

__all__ = ["Balancer", "MissingDependencyError", "Setting", "StaticWeightedSum", "available",
           "describe_balancers", "get_balancer_class", "make_balancer", "register"]
