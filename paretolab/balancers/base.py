"""The balancer interface: several named losses and a preference vector -> one parameter update.

Every balancer is built from ``(loss_names, weights, **settings)`` and offers

``backward(losses, shared_params, task_params=None, representation=None)``
    fills ``.grad`` of ``shared_params`` (and of ``task_params``) from the named losses of one
    batch, accumulating like ``loss.backward()``; the caller then steps its optimizer. Task
    parameters (heads) get the gradient of the preference-weighted sum of the losses unless the
    method says otherwise. ``representation`` is only read by methods that work on the shared
    representation (MGDA-UB); every other method ignores it.
``set_progress(step, total_steps)``  called by the trainer before each backward; drives the
    loss-weight schedule (see :mod:`paretolab.balancers.schedules`).
``parameters()``   learnable parameters of the method itself (added to the optimizer).
``state_dict()`` / ``load_state_dict()``   the method's running state.
``on_epoch_end()`` hook for methods that update once per epoch (DWA).
``conflict_stats(losses, shared_params)``  pairwise cosine similarities and norm ratios of the
    task gradients (see :attr:`Balancer.conflict_stats_free` for what it costs).
``stats()``        a few method-specific numbers worth logging (learned weights, dual variables).
``to_config()`` / ``from_config()``   exact round trip, so a picked point can be rebuilt.

``weights`` is the preference vector (a mapping loss name -> non-negative float; studies sample it
on the simplex). Each method documents what it means for it in ``preference_meaning``; for the
static weighted sum it is the weight of each loss.
"""

from __future__ import annotations

import math
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, ClassVar

import torch

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


class Balancer(ABC):
    """Base class. Subclasses set ``name``, ``level`` ("loss" or "gradient") and ``settings``.

    The schedule settings of :mod:`paretolab.balancers.schedules` are added to every subclass's
    ``settings``, so every method can let an objective gain importance during training.
    """

    name: ClassVar[str] = ""
    level: ClassVar[str] = "loss"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning: ClassVar[str] = ""
    #: "torchjd" when the method is torchjd's, else the paper our implementation follows.
    source: ClassVar[str] = ""
    #: importable modules the method needs, and how to install them when they are missing.
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    #: True when ``backward`` needs ``representation=`` (the shared representation; MGDA-UB).
    needs_representation: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from paretolab.balancers.schedules import SCHEDULE_SETTINGS

        own = cls.__dict__.get("settings")
        if own is not None:
            cls.settings = {**own, **SCHEDULE_SETTINGS}

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        missing = self.missing_dependencies()
        if missing:
            raise MissingDependencyError(
                f"balancer {self.name!r} needs {', '.join(missing)}, which is not installed",
                hint=self.install_hint or f"pip install {' '.join(missing)}")
        self.loss_names = tuple(loss_names)
        if not self.loss_names:
            raise ValueError("a balancer needs at least one loss")
        if len(set(self.loss_names)) != len(self.loss_names):
            raise ValueError(f"duplicate loss names: {list(self.loss_names)}")
        weights = dict(weights) if weights is not None else {n: 1.0 / len(self.loss_names)
                                                              for n in self.loss_names}
        unknown = set(weights) - set(self.loss_names)
        if unknown:
            raise ValueError(f"weights for unknown losses: {sorted(unknown)}")
        self.weights = {n: float(weights.get(n, 0.0)) for n in self.loss_names}
        bad_weights = {n: w for n, w in self.weights.items() if not (math.isfinite(w) and w >= 0)}
        if bad_weights:
            raise ValueError(f"preference weights must be finite and >= 0, got {bad_weights}")
        if not any(self.weights.values()):
            raise ValueError("at least one preference weight must be positive")
        bad = sorted(set(settings) - set(self.settings))
        if bad:
            raise ValueError(f"{self.name} has no setting(s) {bad}; valid: {sorted(self.settings)}")
        self.options = {k: s.coerce(k, settings.get(k, s.default)) for k, s in self.settings.items()}
        self.progress: tuple[int, int] | None = None
        # (weak references to the losses, their Gramian) of the last backward, for diagnostics;
        # weak so that keeping them does not keep that step's autograd graph alive
        self._last_gramian: tuple[tuple[weakref.ref, ...], torch.Tensor] | None = None
        from paretolab.balancers.schedules import Schedule

        self.schedule = Schedule.from_options(self.options, self.loss_names)

    @classmethod
    def missing_dependencies(cls) -> list[str]:
        """The modules in ``requires`` that cannot be imported here."""
        return [m for m in cls.requires if find_spec(m) is None]

    # --- interface -------------------------------------------------------------------------
    @abstractmethod
    def backward(self, losses: Mapping[str, torch.Tensor], shared_params: Sequence[torch.Tensor],
                 task_params: Sequence[torch.Tensor] | None = None,
                 representation: torch.Tensor | None = None) -> None:
        """Fill the ``.grad`` of the parameters from the named losses (see the module doc)."""

    def set_progress(self, step: int, total_steps: int) -> None:
        """Tell the balancer where training is (``0 <= step <= total_steps``); drives schedules.

        Never called means "end of the schedule" (full preference weights).
        """
        if total_steps <= 0 or step < 0:
            raise ValueError(f"need 0 <= step and total_steps > 0, got {step}/{total_steps}")
        self.progress = (int(step), int(total_steps))

    def parameters(self) -> list[torch.nn.Parameter]:
        return []

    def state_dict(self) -> dict[str, Any]:
        return {"progress": self.progress}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        progress = state.get("progress")
        self.progress = tuple(progress) if progress is not None else None  # type: ignore[assignment]

    def on_epoch_end(self) -> None:
        return None

    def stats(self) -> dict[str, float]:
        """Method-specific numbers worth recording (learned weights, dual variables, ...)."""
        return {}

    def named(self, prefix: str, values: torch.Tensor | None) -> dict[str, float]:
        """``{"prefix|loss": value}`` for a per-loss tensor (empty for None), for :meth:`stats`."""
        if values is None:
            return {}
        return {f"{prefix}|{n}": float(v) for n, v in zip(self.loss_names, values.detach())}

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

    # --- diagnostics -----------------------------------------------------------------------
    @property
    def conflict_stats_free(self) -> bool:
        """True when :meth:`conflict_stats` reuses gradients this method computes anyway."""
        return False

    @classmethod
    def conflict_stats_cost(cls) -> str:
        """What :meth:`conflict_stats` costs with the default settings, in words."""
        return "extra pass"

    def conflict_stats(self, losses: Mapping[str, torch.Tensor],
                       shared_params: Sequence[torch.Tensor]) -> dict[str, Any]:
        """Pairwise cosine similarity and norm ratio of the task gradients on ``shared_params``.

        Call it on the steps you record, before :meth:`backward` on the same ``losses``.
        Methods with :attr:`conflict_stats_free` (gradient-level methods that compute the task
        Jacobian anyway) then pay nothing extra: ``backward`` reuses the Jacobian. Otherwise it
        costs one extra Jacobian (about T backward passes). Right after ``backward`` it also
        works when that backward computed the Gramian (it is read back, free); else the graph is
        gone and it raises. Returns the dict of :func:`paretolab.balancers.diagnostics.summarize`.
        """
        from paretolab.balancers.diagnostics import summarize
        from paretolab.balancers.jacobian import TaskJacobian

        tensors = self._loss_tensors(losses)
        if self._last_gramian is not None and _same(
                tuple(ref() for ref in self._last_gramian[0]), tensors):
            return summarize(self.loss_names, self._last_gramian[1], free=True)
        try:
            jacobian = TaskJacobian.compute(tensors, shared_params, retain_graph=True)
        except RuntimeError as exc:
            raise RuntimeError(
                f"conflict_stats for balancer {self.name!r} needs the autograd graph of these "
                "losses: call it before backward()") from exc
        free = self._offer_jacobian(tensors, jacobian)
        return summarize(self.loss_names, jacobian.gramian, free=free)

    def _offer_jacobian(self, tensors: tuple[torch.Tensor, ...], jacobian: Any) -> bool:
        """Keep a Jacobian computed by ``conflict_stats`` for the next backward; True if used."""
        return False

    # --- helpers ---------------------------------------------------------------------------
    def current_weights(self) -> dict[str, float]:
        """The preference weights after the schedule, at the last ``set_progress``."""
        return self.schedule.apply(self.weights, self.progress)

    def preference_tensor(self, like: torch.Tensor) -> torch.Tensor:
        """The scheduled preference as a tensor in ``loss_names`` order."""
        current = self.current_weights()
        return torch.tensor([current[n] for n in self.loss_names], dtype=like.dtype,
                            device=like.device)

    def _loss_tensors(self, losses: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        missing = [n for n in self.loss_names if n not in losses]
        if missing:
            raise KeyError(f"losses missing for the balancer: {missing}")
        tensors = tuple(losses[n] for n in self.loss_names)
        not_scalar = [n for n, t in zip(self.loss_names, tensors) if t.numel() != 1]
        if not_scalar:
            raise ValueError(f"losses must be scalar tensors; not scalar: {not_scalar}")
        return tensors

    def require_positive(self, values: torch.Tensor, why: str) -> None:
        """Raise a clear error when a method that needs ``L_i > 0`` gets other losses."""
        bad = [n for n, v in zip(self.loss_names, values.detach().tolist()) if not v > 0]
        if bad:
            raise ValueError(f"balancer {self.name!r} {why}, so the losses must be > 0; "
                             f"not positive: {bad}")

    def stack(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The losses as one ``[T]`` tensor in ``loss_names`` order."""
        return torch.stack([t.reshape(()) for t in self._loss_tensors(losses)])


def _same(a: tuple[torch.Tensor | None, ...], b: tuple[torch.Tensor, ...]) -> bool:
    """Whether two tuples hold the very same tensor objects (the same step's losses)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))
