"""One setting of a balancer (default, search range, help) and the error for a missing extra.

Kept apart from :mod:`paretolab.balancers.base` so that the schedule settings
(:mod:`paretolab.balancers.schedules`) and the base class can both use it without importing
each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from paretolab.errors import UserError


class MissingDependencyError(UserError, ImportError):
    """A balancer needs an optional package that is not installed."""


@dataclass(frozen=True)
class Setting:
    """One setting of a balancer: its default and the range a study searches by default.

    A setting with ``choices`` (or a boolean default) is categorical; a number with both ``low``
    and ``high`` is searched in that range (``log`` for a log-uniform search); anything else
    (for example a loss name) is ``fixed``: set it in the study file, it is not searched.
    """

    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    help: str = ""

    @property
    def kind(self) -> str:
        """``categorical``, ``int``, ``float`` or ``fixed`` (not searched)."""
        if self.choices is not None:
            return "categorical"
        if isinstance(self.default, bool):
            return "categorical"
        if self.low is None or self.high is None or isinstance(self.default, str):
            return "fixed"
        if isinstance(self.default, int):
            return "int"
        return "float"

    @property
    def searchable(self) -> bool:
        return self.kind != "fixed"

    def coerce(self, name: str, value: Any) -> Any:
        """Check ``value`` and give it this setting's type, so configs round-trip exactly."""
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"setting {name}={value!r} is not one of {list(self.choices)}")
            return value
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"setting {name} must be true or false, got {value!r}")
            return value
        if isinstance(self.default, str):
            if not isinstance(value, str):
                raise ValueError(f"setting {name} must be a string, got {value!r}")
            return value
        if isinstance(self.default, int):
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                raise ValueError(f"setting {name} must be an integer, got {value!r}")
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"setting {name} must be a finite number, got {value!r}")
        return float(value)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "default": self.default, "low": self.low, "high": self.high,
                "log": self.log, "choices": list(self.choices) if self.choices else None,
                "help": self.help}
