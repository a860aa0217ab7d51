"""Loss balancers: one interface (:class:`Balancer`) for every method; see ``available()``."""

from paretolab.balancers.base import Balancer, Setting
from paretolab.balancers.registry import available, get_balancer_class, make_balancer, register
from paretolab.balancers.static import StaticWeightedSum

__all__ = ["Balancer", "Setting", "StaticWeightedSum", "available", "get_balancer_class",
           "make_balancer", "register"]
