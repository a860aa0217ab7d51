"""Finding a balancer class: by its registered name, or by reference to the user's own class.

Classes register themselves by subclassing :class:`~paretolab.balancers.base.Balancer` with a
``name``; importing this module imports every module of the package, so the built-in methods
are all registered (a new method is one new module). A study file names a method by name
(``upgrad``) or by reference: ``mypkg.mod:MyBalancer`` (an importable module) or
``path/to/file.py:MyBalancer`` (relative to the study file's folder).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import paretolab.balancers as _package
from paretolab.balancers.base import Balancer, lookup, registered
from paretolab.balancers.refs import BalancerRefError, is_reference

__all__ = ["BalancerRefError", "available", "describe_balancers", "get_balancer_class",
           "is_reference", "make_balancer"]


def _load_builtins() -> None:
    for info in pkgutil.iter_modules(_package.__path__):
        if info.name not in ("registry", "base") and not info.name.startswith("_"):
            importlib.import_module(f"{_package.__name__}.{info.name}")


_load_builtins()


def available() -> dict[str, type[Balancer]]:
    """Every registered method: the static weighted sum, the other loss-level methods, then the
    gradient-level ones (see :func:`describe_balancers` for which are installed)."""
    order = {"loss": 0, "gradient": 1}
    return dict(sorted(registered().items(),
                       key=lambda item: (order.get(item[1].level, 2), item[0] != "static")))


def get_balancer_class(name_or_ref: str, base_dir: Path | str | None = None) -> type[Balancer]:
    """The class a method name or a reference (``pkg.module:Class``, ``path/file.py:Class``
    relative to ``base_dir``) names; see :func:`paretolab.balancers.base.lookup`."""
    return lookup(name_or_ref, base_dir)


def make_balancer(method: str, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                  settings: Mapping[str, Any] | None = None, *,
                  base_dir: Path | str | None = None) -> Balancer:
    """Build the method a name or reference names (see :func:`get_balancer_class`)."""
    return get_balancer_class(method, base_dir)(loss_names, weights, **dict(settings or {}))


def describe_balancers() -> list[dict[str, Any]]:
    """One JSON-serialisable dict per method, for ``paretolab balancers``.

    Keys: ``name``, ``level`` ("loss" / "gradient"), ``settings`` (name -> ``kind``, ``default``,
    ``low``, ``high``, ``log``, ``choices``, ``help``; the schedule settings included),
    ``preference_meaning``, ``source`` ("torchjd" or the paper we follow), ``installed`` and
    ``install_hint`` (what to pip install when an optional dependency is missing), and
    ``conflict_stats`` (what recording gradient-conflict statistics costs: "free" when the
    method computes the task gradients anyway, else "extra pass") and ``needs_representation``
    (the method reads the shared representation: the task must define
    ``representation_module``).
    """
    rows = []
    for name, cls in available().items():
        missing = cls.missing_dependencies()
        rows.append({
            "name": name,
            "level": cls.level,
            "settings": {k: s.describe() for k, s in cls.settings.items()},
            "preference_meaning": cls.preference_meaning,
            "source": cls.source,
            "installed": not missing,
            "install_hint": cls.install_hint if missing else None,
            "conflict_stats": cls.conflict_stats_cost(),
            "needs_representation": cls.needs_representation,
        })
    return rows
