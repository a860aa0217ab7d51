"""The balancer interface: several named losses and a preference vector -> one parameter update.

Every balancer is built from ``(loss_names, weights, **settings)`` and offers

``backward(losses, shared_params, task_params=None)``
    fills ``.grad`` of ``shared_params`` (and of ``task_params``) from the named losses of one
    batch; the caller then steps its optimizer. Returns ``None``.
``parameters()``   learnable parameters of the method itself (added to the optimizer).
``state_dict()`` / ``load_state_dict()``   the method's running state.
``on_epoch_end()`` hook for methods that update once per epoch (DWA, FAMO, ...).
``to_config()`` / ``from_config()``   exact round trip, so a picked point can be rebuilt.

``weights`` is the preference vector (a mapping loss name -> non-negative float). Each
method documents what it means for it; for the static weighted sum it is the weight of each loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch


@dataclass(frozen=True)
class Setting:
    """One setting of a balancer: its default and the range a study searches by default."""

    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    help: str = ""

    @property
    def kind(self) -> str:
        if self.choices is not None:
            return "categorical"
        if isinstance(self.default, bool):
            return "categorical"
        if isinstance(self.default, int):
            return "int"
        return "float"


class Balancer:
    """Base class. Subclasses set ``name``, ``level`` ("loss" or "gradient") and ``settings``."""

    name: ClassVar[str] = ""
    level: ClassVar[str] = "loss"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning: ClassVar[str] = ""

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        self.loss_names = tuple(loss_names)
        if not self.loss_names:
            raise ValueError("a balancer needs at least one loss")
        weights = dict(weights) if weights is not None else {n: 1.0 / len(self.loss_names)
                                                              for n in self.loss_names}
        unknown = set(weights) - set(self.loss_names)
        if unknown:
            raise ValueError(f"weights for unknown losses: {sorted(unknown)}")
        self.weights = {n: float(weights.get(n, 0.0)) for n in self.loss_names}
        bad = sorted(set(settings) - set(self.settings))
        if bad:
            raise ValueError(f"{self.name} has no setting(s) {bad}; valid: {sorted(self.settings)}")
        self.options = {k: settings.get(k, s.default) for k, s in self.settings.items()}

    # --- interface -------------------------------------------------------------------------
    def backward(self, losses: Mapping[str, torch.Tensor], shared_params: Sequence[torch.Tensor],
                 task_params: Sequence[torch.Tensor] | None = None) -> None:
        raise NotImplementedError

    def parameters(self) -> list[torch.nn.Parameter]:
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None

    def on_epoch_end(self) -> None:
        return None

    def to_config(self) -> dict[str, Any]:
        return {"method": self.name, "losses": list(self.loss_names), "weights": dict(self.weights),
                "settings": dict(self.options)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Balancer:
        from paretolab.balancers.registry import get_balancer_class

        klass = get_balancer_class(config["method"]) if cls is Balancer else cls
        weights = config.get("weights") or None
        names = list(config.get("losses") or (weights or {}).keys())
        return klass(names, weights, **dict(config.get("settings") or {}))

    # --- helpers ---------------------------------------------------------------------------
    def preference_tensor(self, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor([self.weights[n] for n in self.loss_names], dtype=like.dtype,
                            device=like.device)

    def stack(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [n for n in self.loss_names if n not in losses]
        if missing:
            raise KeyError(f"losses missing for the balancer: {missing}")
        return torch.stack([losses[n] for n in self.loss_names])
