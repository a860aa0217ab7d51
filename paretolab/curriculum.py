"""A curriculum schedule: training progress in [0, 1] and a difficulty between ``initial`` and
``final`` (Bengio, Louradour, Collobert & Weston 2009, "Curriculum learning"), which the recipe
hands to a task that defines ``set_curriculum(progress, difficulty)`` before every batch.

``linear``: ``initial + (final - initial) * progress``. ``exponential``: the geometric path
``initial * (final / initial) ** progress`` (both ends positive): equal ratios in equal time.
``adaptive``: starts at ``initial`` and moves ``increment`` of the way to ``final`` each time an
evaluation's ``metric`` reaches ``target`` (at least it for ``maximize``, at most for
``minimize``), as in the self-paced curricula of post-training guides. ``none``: no schedule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("none", "linear", "exponential", "adaptive")


@dataclass
class Curriculum:
    """One run's schedule; :meth:`difficulty` reads it, :meth:`observe` feeds ``adaptive``."""

    schedule: str = "none"
    initial: float = 0.0
    final: float = 1.0
    metric: str | None = None
    target: float | None = None
    direction: str = "maximize"
    increment: float = 0.25
    level: float = 0.0  # adaptive: the fraction of the way from initial to final reached

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"curriculum must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.schedule == "exponential" and not (self.initial > 0 and self.final > 0):
            raise ValueError("an exponential curriculum needs positive curriculum_initial and "
                             f"curriculum_final, got {self.initial} and {self.final}")
        if self.schedule == "adaptive" and (self.metric is None or self.target is None):
            raise ValueError("an adaptive curriculum needs curriculum_metric and curriculum_target")

    @classmethod
    def from_train(cls, train: Mapping[str, Any]) -> Curriculum | None:
        """The schedule a trial's training settings declare, None for ``none`` (or none given:
        trials stored before curricula existed)."""
        schedule = str(train.get("curriculum") or "none")
        if schedule == "none":
            return None
        target = train.get("curriculum_target")
        return cls(schedule=schedule, initial=float(train.get("curriculum_initial", 0.0)),
                   final=float(train.get("curriculum_final", 1.0)),
                   metric=train.get("curriculum_metric"),
                   target=None if target is None else float(target),
                   direction=str(train.get("curriculum_direction", "maximize")),
                   increment=float(train.get("curriculum_increment", 0.25)))

    def difficulty(self, progress: float) -> float:
        """The difficulty at ``progress`` (the fraction of the run's steps done)."""
        p = min(max(float(progress), 0.0), 1.0)
        if self.schedule == "adaptive":
            p = self.level
        if self.schedule == "exponential":
            return self.initial * math.exp(p * math.log(self.final / self.initial))
        return self.initial + (self.final - self.initial) * p

    def observe(self, metrics: Mapping[str, float]) -> bool:
        """An evaluation's metrics: an adaptive schedule steps up when its metric met the target
        (True when it moved)."""
        if self.schedule != "adaptive" or self.metric is None or self.metric not in metrics or self.level >= 1.0:
            return False
        value, target = float(metrics[self.metric]), float(self.target or 0.0)
        if (value >= target) if self.direction == "maximize" else (value <= target):
            self.level = min(1.0, self.level + self.increment)
            return True
        return False

    def apply(self, task: Any, progress: float) -> None:
        """Tell ``task`` (when it defines ``set_curriculum``) where the schedule stands."""
        setter = getattr(task, "set_curriculum", None)
        if callable(setter):
            setter(min(max(float(progress), 0.0), 1.0), self.difficulty(progress))
