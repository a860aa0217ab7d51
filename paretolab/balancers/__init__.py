"""Loss balancers: one interface (:class:`Balancer`) for every method; see ``available()``."""

from paretolab.balancers import gradient  # noqa: F401 - the torchjd methods, registered in their order
from paretolab.balancers.base import Balancer
from paretolab.balancers.checks import BalancerCheckFailed, check_balancer
from paretolab.balancers.gradient_level import GramianBalancer, JacobianBalancer
from paretolab.balancers.jacobian import TaskJacobian
from paretolab.balancers.loss_level import ScalarizingBalancer
from paretolab.balancers.registry import (
    BalancerRefError,
    available,
    describe_balancers,
    get_balancer_class,
    make_balancer,
)
from paretolab.balancers.setting import MissingDependencyError, Setting
from paretolab.balancers.static import StaticWeightedSum

__all__ = ["Balancer", "BalancerCheckFailed", "BalancerRefError", "GramianBalancer", "JacobianBalancer",
           "MissingDependencyError", "ScalarizingBalancer", "Setting", "StaticWeightedSum",
           "TaskJacobian", "available", "describe_balancers", "get_balancer_class",
           "check_balancer", "make_balancer"]
