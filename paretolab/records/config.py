"""A trial's configuration as stored in its start record: :class:`TrialConfig`, with its balancer a
:class:`TrialBalancer`. The stored JSON is the dataclasses' fields (``dataclasses.asdict``), as
it has always been; readers get attributes, so a renamed field fails the type check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrialBalancer:
    """The trial's loss balancer: its method and settings (stored ``{"method", "settings"}``).

    ``balancer["method"]`` and ``balancer.get("settings")`` still read it, as they read the stored
    dict it replaced (a user's production script may)."""

    method: str
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_attr(cls, data: Mapping[str, Any]) -> TrialBalancer:
        """From the stored mapping (``KeyError`` without a method)."""
        return cls(method=data["method"], settings=dict(data.get("settings") or {}))

    @classmethod
    def read(cls, data: Any) -> TrialBalancer | None:
        """From a stored configuration's ``balancer`` (``None``: none stored, or no method)."""
        if isinstance(data, TrialBalancer):
            return data
        if not isinstance(data, Mapping) or data.get("method") is None:
            return None
        return cls.from_attr(data)

    def to_attr(self) -> dict[str, Any]:
        return {"method": self.method, "settings": dict(self.settings)}

    def __getitem__(self, key: str) -> Any:
        return self.to_attr()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_attr().get(key, default)


@dataclass
class TrialConfig:
    """Everything that defines one training run; stored with the trial, loaded by ``pick``."""

    weights: dict[str, float]
    balancer: TrialBalancer  # a mapping {"method", "settings"} is read into one
    train: dict[str, Any]
    task: str
    task_params: dict[str, Any]
    loss_groups: dict[str, dict[str, float]]
    seed: int
    steps: int
    eval_every: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.balancer, TrialBalancer):
            self.balancer = TrialBalancer.from_attr(self.balancer)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialConfig:
        return cls(**dict(data))
