"""``check_balancer(cls)``: the balancer contract's property checks, run on any balancer class
(a user's own included), as scikit-learn's ``check_estimator`` does for estimators.

On a small multi-task network (a shared trunk, one linear head per loss, MSE losses) it checks
that the class's settings' defaults coerce to themselves, that ``backward`` fills finite
gradients of every parameter and adds to an existing ``.grad`` as ``loss.backward()`` does, that
its config survives JSON and :meth:`Balancer.from_config`, and that it is deterministic given a
seed and continues exactly from ``state_dict``. A failed property raises
:class:`BalancerCheckFailed` (an ``AssertionError``) naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from paretolab.balancers.base import Balancer

LOSSES = ("a", "b", "c")
PREFERENCE = {"a": 0.5, "b": 0.3, "c": 0.2}


class BalancerCheckFailed(AssertionError):
    """A balancer class lacks a property of the contract (the message names which)."""


class _Net(nn.Module):
    """A shared trunk and one linear head per loss, on a fixed random batch (MSE: positive losses)."""

    def __init__(self, tasks: int = len(LOSSES), seed: int = 0, batch: int = 16):
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(6, 1) for _ in range(tasks))
        g = torch.Generator().manual_seed(seed + 1)
        self.x = torch.randn(batch, 5, generator=g)
        self.y = torch.randn(tasks, batch, 1, generator=g)

    def losses(self, names: Sequence[str] = LOSSES) -> dict[str, torch.Tensor]:
        z = self.trunk(self.x)
        return {n: ((h(z) - y) ** 2).mean() for n, h, y in zip(names, self.heads, self.y)}

    def grads(self) -> torch.Tensor:
        return torch.cat([p.grad.flatten() for p in self.parameters() if p.grad is not None])


def _fresh(cls: type[Balancer], settings: Mapping[str, object] | None = None) -> tuple[Balancer, _Net]:
    net = _Net()
    balancer = cls(list(LOSSES), dict(PREFERENCE), **dict(settings or {}))
    balancer.attach(net, net.trunk)
    return balancer, net


def _step(balancer: Balancer, net: _Net, k: int = 0, zero: bool = True) -> None:
    if zero:
        net.zero_grad(set_to_none=True)
    balancer.set_progress(k, 10)
    balancer.backward(net.losses(), list(net.trunk.parameters()), list(net.heads.parameters()))


def _settings_coerce(cls: type[Balancer]) -> None:
    for key, setting in cls.settings.items():
        if setting.coerce(key, setting.default) != setting.default:
            raise BalancerCheckFailed(f"setting {key!r}: its default does not coerce to itself")


def _finite_gradients(cls: type[Balancer]) -> None:
    balancer, net = _fresh(cls)
    for k in range(3):
        torch.manual_seed(k)
        _step(balancer, net, k)
        for name, p in net.named_parameters():
            if p.grad is None or not torch.isfinite(p.grad).all():
                raise BalancerCheckFailed(f"step {k}: the gradient of {name} is missing or not finite")
        if not net.grads().abs().sum() > 0:
            raise BalancerCheckFailed(f"step {k}: every gradient is zero")


def _accumulates(cls: type[Balancer]) -> None:
    first, net1 = _fresh(cls)
    second, net2 = _fresh(cls)
    torch.manual_seed(3)
    _step(first, net1)
    alone = net1.grads()
    for p in net2.parameters():
        p.grad = torch.full_like(p, 0.25)
    torch.manual_seed(3)
    _step(second, net2, zero=False)
    if not torch.allclose(net2.grads(), alone + 0.25, atol=1e-6):
        raise BalancerCheckFailed("backward replaced an existing .grad instead of adding to it "
                                  "(as loss.backward() does)")


def _config_round_trip(cls: type[Balancer]) -> None:
    balancer = cls(list(LOSSES), dict(PREFERENCE), schedule="cosine", schedule_warmup=0.4)
    config = json.loads(json.dumps(balancer.to_config()))
    rebuilt = Balancer.from_config(config)
    if type(rebuilt) is not type(balancer) or rebuilt.to_config() != balancer.to_config():
        raise BalancerCheckFailed(f"Balancer.from_config(to_config()) gave {type(rebuilt).__name__} "
                                  f"with {rebuilt.to_config()}, not {balancer.to_config()}")
    if cls.from_config(config).to_config() != balancer.to_config():
        raise BalancerCheckFailed(f"{cls.__name__}.from_config(to_config()) differs from the original")


def _deterministic(cls: type[Balancer]) -> None:
    runs = []
    for _ in range(2):
        balancer, net = _fresh(cls)
        torch.manual_seed(11)
        for k in range(3):
            _step(balancer, net, k)
        runs.append((net.grads(), balancer))
    if not torch.equal(runs[0][0], runs[1][0]):
        raise BalancerCheckFailed("two runs with the same seed gave different gradients")
    original = runs[0][1]
    rebuilt = Balancer.from_config(original.to_config())
    rebuilt.load_state_dict(original.state_dict())
    nets = [_Net(), _Net()]
    for b, n in zip((original, rebuilt), nets):
        b.attach(n, n.trunk)
        torch.manual_seed(5)
        _step(b, n, 3)
    if not torch.allclose(nets[0].grads(), nets[1].grads(), atol=1e-6):
        raise BalancerCheckFailed("a balancer rebuilt from to_config() and state_dict() does not "
                                  "continue exactly as the original")


CHECKS: dict[str, Callable[[type[Balancer]], None]] = {
    "settings coerce": _settings_coerce,
    "finite gradients": _finite_gradients,
    "accumulation": _accumulates,
    "config round trip": _config_round_trip,
    "determinism": _deterministic,
}
"""Each property of the contract by name, in the order :func:`check_balancer` runs them."""


def check_balancer(cls: type[Balancer], checks: Sequence[str] | None = None) -> None:
    """Run the contract's property checks (all, or those named in ``checks``; see
    :data:`CHECKS`) on the balancer class ``cls``; raise :class:`BalancerCheckFailed` naming the
    first property it lacks."""
    if not (isinstance(cls, type) and issubclass(cls, Balancer)):
        raise TypeError(f"check_balancer takes a Balancer subclass, not {cls!r}")
    for name in checks or CHECKS:
        try:
            CHECKS[name](cls)
        except BalancerCheckFailed as exc:
            raise BalancerCheckFailed(f"{cls.__name__} ({cls.name!r}) fails '{name}': {exc}") from None
