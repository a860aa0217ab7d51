"""Loss-weight schedules: let an objective gain importance during training.

Every balancer has three extra settings:

``schedule``         ``constant`` (default), ``linear_warmup`` or ``cosine``;
``schedule_warmup``  the fraction of training over which the scheduled losses ramp up (0.05-0.9);
``schedule_losses``  comma-separated names of the scheduled losses; empty means every loss but
                     the first (the usual "main task first, the others join later").

At progress ``s = step / total_steps`` the ramp is ``r = min(1, s / warmup)`` (linear) or
``(1 - cos(pi * min(1, s / warmup))) / 2`` (cosine). A scheduled loss's preference weight is
multiplied by ``r``; then all weights are rescaled so they keep their original sum (on the
simplex they stay on it). So at the start the unscheduled losses carry the whole weight, and from
the end of the warm-up on the preference is exactly the sampled one. If the unscheduled losses
have no weight the schedule changes nothing. The trainer reports progress with
``balancer.set_progress(step, total_steps)``; without it the schedule is at its end.
Two settings (kind and fraction) keep it searchable like any other knob.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paretolab.balancers.setting import Setting

SCHEDULE_KINDS = ("constant", "linear_warmup", "cosine")

SCHEDULE_SETTINGS: dict[str, Setting] = {
    "schedule": Setting("constant", choices=SCHEDULE_KINDS,
                        help="how the scheduled losses' weights ramp up during training"),
    "schedule_warmup": Setting(0.3, low=0.05, high=0.9,
                               help="fraction of training over which the scheduled losses ramp up"),
    "schedule_losses": Setting("", help="comma-separated scheduled losses; empty: all but the first"),
}


def ramp(kind: str, warmup: float, progress: tuple[int, int] | None) -> float:
    """The factor in [0, 1] applied to the scheduled losses' weights at ``progress``."""
    if kind == "constant" or progress is None:
        return 1.0
    step, total = progress
    x = min(1.0, step / total / warmup) if warmup > 0 else 1.0
    if kind == "linear_warmup":
        return x
    if kind == "cosine":
        return 0.5 * (1.0 - math.cos(math.pi * x))
    raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULE_KINDS)}")


@dataclass(frozen=True)
class Schedule:
    """A schedule bound to a balancer's losses."""

    kind: str
    warmup: float
    targets: tuple[str, ...]

    @classmethod
    def from_options(cls, options: Mapping[str, Any], loss_names: Sequence[str]) -> Schedule:
        warmup = float(options["schedule_warmup"])
        if not 0.0 < warmup <= 1.0:
            raise ValueError(f"schedule_warmup must be in (0, 1], got {warmup}")
        named = [n.strip() for n in str(options["schedule_losses"]).split(",") if n.strip()]
        unknown = sorted(set(named) - set(loss_names))
        if unknown:
            raise ValueError(f"schedule_losses names unknown losses {unknown}; "
                             f"losses: {list(loss_names)}")
        targets = tuple(named) if named else tuple(loss_names[1:])
        return cls(str(options["schedule"]), warmup, targets)

    def apply(self, weights: Mapping[str, float], progress: tuple[int, int] | None
              ) -> dict[str, float]:
        """The scheduled weights (a new dict; ``weights`` itself is left alone)."""
        factor = ramp(self.kind, self.warmup, progress)
        fixed_total = sum(w for n, w in weights.items() if n not in self.targets)
        if factor == 1.0 or fixed_total <= 0.0:
            return dict(weights)
        scaled = {n: w * factor if n in self.targets else w for n, w in weights.items()}
        rescale = sum(weights.values()) / sum(scaled.values())
        return {n: w * rescale for n, w in scaled.items()}
