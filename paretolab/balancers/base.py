"""The balancer contract: several named losses and a preference vector -> one parameter update.

A balancer is built from ``(loss_names, weights, **settings)``; ``weights`` is the preference
vector (loss name -> non-negative float; studies sample it on the simplex), whose meaning for
each method is stated in ``preference_meaning``. One training step is::

    balancer.attach(model, representation_module)      # once, before training
    ...
    balancer.set_progress(step, total_steps)           # drives the loss-weight schedule
    stats = balancer.backward(losses, shared_params, task_params, conflict_stats=record)
    optimizer.step()

``backward`` fills ``.grad`` of ``shared_params`` (and of ``task_params``) from the named losses
of one batch, accumulating like ``loss.backward()``; task parameters (heads) get the gradient of
the preference-weighted sum of the losses unless the method says otherwise. With
``conflict_stats=True`` it also returns the gradient-conflict statistics of this step
(:func:`paretolab.balancers.diagnostics.summarize`), from the task Jacobian the method computes
anyway when it has one (:attr:`Balancer.conflict_stats_free`), else from one extra pass.

Writing a balancer: subclass :class:`Balancer` (or one of the bases that do the common work,
:class:`~paretolab.balancers.loss_level.ScalarizingBalancer` for a scalar of the losses,
:class:`~paretolab.balancers.gradient_level.JacobianBalancer` or ``GramianBalancer`` for a
combination of the task gradients), give it a ``name`` and its ``settings``, and implement the
one abstract method. Defining the class registers it under its ``name``; every subclass gets the
schedule settings of :mod:`paretolab.balancers.schedules`; everything the trainer calls is
defined here, so a subclass overrides only what it needs (``attach`` for methods that read the
shared representation, ``parameters`` / ``state_dict`` / ``stats`` for state and logging).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from paretolab.balancers.diagnostics import summarize
from paretolab.balancers.jacobian import TaskJacobian
from paretolab.balancers.refs import is_reference, resolve_reference
from paretolab.balancers.schedules import SCHEDULE_SETTINGS, Schedule
from paretolab.balancers.setting import MissingDependencyError, Setting

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Balancer", "MissingDependencyError", "Setting", "lookup", "registered"]

#: name -> class, filled by :meth:`Balancer.__init_subclass__` (read it through registry.py)
_REGISTRY: dict[str, type[Balancer]] = {}
_BUILTIN_PREFIX = "paretolab.balancers."


def registered() -> dict[str, type[Balancer]]:
    """Every balancer class defined so far that has a ``name`` (a copy)."""
    return dict(_REGISTRY)


def lookup(name_or_ref: str, base_dir: Path | str | None = None) -> type[Balancer]:
    """The class a registered name or a reference (``pkg.module:Class``, ``path/file.py:Class``
    relative to ``base_dir``, else the current directory) names.

    Raises ``KeyError`` for an unknown name and :class:`~paretolab.balancers.refs.BalancerRefError`
    (a ``UserError`` and a ``KeyError``) for a reference that cannot be imported or is not a
    Balancer subclass.
    """
    if not is_reference(name_or_ref):
        try:
            return _REGISTRY[name_or_ref]
        except KeyError:
            raise KeyError(f"unknown balancer {name_or_ref!r}; valid: "
                           f"{', '.join(sorted(_REGISTRY))}, or 'pkg.module:Class' / "
                           "'path/to/file.py:Class' for your own") from None
    klass = resolve_reference(name_or_ref, Path(base_dir) if base_dir is not None else None,
                              Balancer)
    return klass


def _is_abstract(cls: type) -> bool:
    return any(getattr(getattr(cls, attr, None), "__isabstractmethod__", False)
               for attr in dir(cls))


def _register(cls: type[Balancer]) -> None:
    """Make ``cls`` available by its name; a built-in method's name cannot be taken over."""
    existing = _REGISTRY.get(cls.name)
    if (existing is not None and existing is not cls
            and existing.__module__.startswith(_BUILTIN_PREFIX)
            and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__)):
        raise TypeError(f"balancer name {cls.name!r} is taken by the built-in "
                        f"{existing.__module__}.{existing.__qualname__}: choose another name")
    _REGISTRY[cls.name] = cls


class Balancer(ABC):
    """Base class. Subclasses set ``name``, ``level`` ("loss" or "gradient") and ``settings``.

    The schedule settings of :mod:`paretolab.balancers.schedules` are added to every subclass's
    ``settings`` (declared or inherited), so every method can let an objective gain importance
    during training. A subclass that sets ``name`` (and is not abstract) is registered under it.
    """

    name: ClassVar[str] = ""
    level: ClassVar[str] = "loss"
    settings: ClassVar[dict[str, Setting]] = dict(SCHEDULE_SETTINGS)
    preference_meaning: ClassVar[str] = ""
    #: "torchjd" when the method is torchjd's, else the paper our implementation follows.
    source: ClassVar[str] = ""
    #: importable modules the method needs, and how to install them when they are missing.
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    #: True when the method reads the shared representation (``attach`` registers a hook on the
    #: ``representation_module``; MGDA-UB).
    needs_representation: ClassVar[bool] = False
    #: how a study file or a config named this class when it was loaded by reference
    #: (``pkg.mod:Class`` or ``/abs/file.py:Class``); set by the registry's resolver.
    reference: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("settings")
        declared = dict(own if own is not None else cls.settings)
        if own is not None:
            reserved = sorted(set(own) & set(SCHEDULE_SETTINGS))
            if reserved:
                raise TypeError(f"{cls.__qualname__}: setting(s) {reserved} are reserved for "
                                "the loss-weight schedule every balancer has")
        cls.settings = {**declared, **SCHEDULE_SETTINGS}
        if "reference" not in cls.__dict__:
            cls.reference = None
        if "name" in cls.__dict__ and cls.name and not _is_abstract(cls):
            _register(cls)

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
            raise ValueError(f"{self.name or type(self).__name__} has no setting(s) {bad}; "
                             f"valid: {sorted(self.settings)}")
        self.options = {k: s.coerce(k, settings.get(k, s.default)) for k, s in self.settings.items()}
        self.progress: tuple[int, int] | None = None
        self.schedule = Schedule.from_options(self.options, self.loss_names)

    @classmethod
    def missing_dependencies(cls) -> list[str]:
        """The modules in ``requires`` that cannot be imported here."""
        return [m for m in cls.requires if find_spec(m) is None]

    @classmethod
    def config_name(cls) -> str:
        """What ``to_config()["method"]`` holds: the reference it was loaded by, else ``name``."""
        return cls.reference or cls.name or f"{cls.__module__}:{cls.__qualname__}"

    # --- the step API ----------------------------------------------------------------------
    def attach(self, model: nn.Module, representation_module: nn.Module | None = None) -> None:  # noqa: B027 - a hook: most methods need nothing
        """Called once before training with the model and, when the task has one, the module
        whose output is the shared representation. Nothing to do for most methods."""

    def backward(self, losses: Mapping[str, torch.Tensor], shared_params: Sequence[torch.Tensor],
                 task_params: Sequence[torch.Tensor] | None = None, *,
                 conflict_stats: bool = False,
                 representation: torch.Tensor | None = None) -> dict[str, Any] | None:
        """Fill the ``.grad`` of the parameters from the named losses (see the module doc).

        With ``conflict_stats=True`` returns this step's gradient-conflict statistics (see
        :func:`paretolab.balancers.diagnostics.summarize`; ``free`` says whether they came from
        the method's own Jacobian), else None. ``representation`` (kept for compatibility)
        gives the shared representation of this step by hand instead of through ``attach``.
        """
        shared = list(shared_params)
        stats = None
        if conflict_stats and not self.conflict_stats_free:
            stats = self.conflict_stats(losses, shared)
        if representation is not None:
            self.use_representation(representation)
        jacobian = self.fill_grads(losses, shared, task_params)
        if conflict_stats and stats is None:
            if jacobian is None:
                raise RuntimeError(f"balancer {self.name!r} says its conflict statistics are free "
                                   "but fill_grads returned no Jacobian")
            stats = summarize(self.loss_names, jacobian.gramian, free=True)
        return stats

    @abstractmethod
    def fill_grads(self, losses: Mapping[str, torch.Tensor], shared_params: list[torch.Tensor],
                   task_params: Sequence[torch.Tensor] | None) -> TaskJacobian | None:
        """Accumulate this step's update into the ``.grad`` of the parameters.

        Return the task Jacobian of ``shared_params`` when the method computed it (then the
        conflict statistics are free: set :attr:`conflict_stats_free`), else None.
        """

    def use_representation(self, representation: torch.Tensor) -> None:  # noqa: B027 - a hook for representation methods
        """Take this step's shared representation (only methods that need it keep it)."""

    def set_progress(self, step: int, total_steps: int) -> None:
        """Tell the balancer where training is (``0 <= step <= total_steps``); drives schedules.

        Never called means "end of the schedule" (full preference weights).
        """
        if total_steps <= 0 or step < 0:
            raise ValueError(f"need 0 <= step and total_steps > 0, got {step}/{total_steps}")
        self.progress = (int(step), int(total_steps))

    def parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters of the method itself, for the model's optimizer."""
        return []

    def state_dict(self) -> dict[str, Any]:
        return {"progress": self.progress}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        progress = state.get("progress")
        self.progress = tuple(progress) if progress is not None else None  # type: ignore[assignment]

    def on_epoch_end(self) -> None:
        """For training in epochs: methods with a per-epoch update (DWA) take it here."""
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
        return {"method": self.config_name(), "losses": list(self.loss_names),
                "weights": dict(self.weights), "settings": dict(self.options)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], base_dir: Path | None = None) -> Balancer:
        """Rebuild a balancer from :meth:`to_config`'s dict (any subclass, from the base class)."""
        klass = lookup(config["method"], base_dir) if cls is Balancer else cls
        weights = config.get("weights") or None
        names = list(config.get("losses") or (weights or {}).keys())
        return klass(names, weights, **dict(config.get("settings") or {}))

    # --- diagnostics -----------------------------------------------------------------------
    @property
    def conflict_stats_free(self) -> bool:
        """True when ``fill_grads`` returns the task Jacobian of the shared parameters."""
        return False

    @classmethod
    def conflict_stats_cost(cls) -> str:
        """What ``backward(..., conflict_stats=True)`` costs with the defaults, in words."""
        return "extra pass"

    def conflict_stats(self, losses: Mapping[str, torch.Tensor],
                       shared_params: Sequence[torch.Tensor]) -> dict[str, Any]:
        """The conflict statistics of these losses by one extra Jacobian (the graph is kept).

        Prefer ``backward(..., conflict_stats=True)``, which reuses the method's own Jacobian.
        """
        tensors = self._loss_tensors(losses)
        try:
            jacobian = TaskJacobian.compute(tensors, list(shared_params), retain_graph=True)
        except RuntimeError as exc:
            raise RuntimeError(
                f"conflict statistics for balancer {self.name!r} need the autograd graph of "
                "these losses: ask backward(..., conflict_stats=True)") from exc
        return summarize(self.loss_names, jacobian.gramian, free=False)

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
            import difflib

            extra = [str(k) for k in losses if k not in self.loss_names]
            close = [c for n in missing for c in difflib.get_close_matches(n, extra, n=1)[:1]]
            raise KeyError(f"losses missing for the balancer: {missing} (it balances {list(self.loss_names)}, "
                           f"the study's losses; it was given {sorted(map(str, losses))})"
                           + (f"; did you mean {close[0]!r}?" if close else ""))
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
