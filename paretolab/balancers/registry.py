"""Finding a balancer class: by its registered name, or by reference to the user's own class.

Classes register themselves by subclassing :class:`~paretolab.balancers.base.Balancer` with a
``name``; importing this module imports every module of the package, so the built-in methods
are all registered (a new method is one new module). A study file names a method by name
(``upgrad``) or by reference: ``mypkg.mod:MyBalancer`` (an importable module) or
``path/to/file.py:MyBalancer`` (relative to the study file's folder).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import paretolab.balancers as _package
from paretolab.balancers.base import Balancer, _register, registered
from paretolab.errors import UserError


class BalancerRefError(UserError, KeyError):
    """A balancer reference (``module:Class`` or ``file.py:Class``) cannot be resolved."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.render()


def _load_builtins() -> None:
    for info in pkgutil.iter_modules(_package.__path__):
        if info.name not in ("registry", "base") and not info.name.startswith("_"):
            importlib.import_module(f"{_package.__name__}.{info.name}")


_load_builtins()


def register(cls: type[Balancer]) -> type[Balancer]:
    """Register ``cls`` under its ``name`` (subclassing already does; kept for old code)."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name to register it under")
    _register(cls)
    return cls


def available() -> dict[str, type[Balancer]]:
    """Every registered method: the static weighted sum, the other loss-level methods, then the
    gradient-level ones (see :func:`describe_balancers` for which are installed)."""
    order = {"loss": 0, "gradient": 1}
    return dict(sorted(registered().items(),
                       key=lambda item: (order.get(item[1].level, 2), item[0] != "static")))


def is_reference(name: str) -> bool:
    """True for ``module:Class`` and ``file.py:Class`` (a registered name has no colon)."""
    return ":" in name


def get_balancer_class(name_or_ref: str, base_dir: Path | str | None = None) -> type[Balancer]:
    """The class a method name or reference names.

    Raises ``KeyError`` for an unknown name and :class:`BalancerRefError` (a ``UserError`` and a
    ``KeyError``) for a reference that cannot be imported or is not a Balancer subclass.
    """
    if not is_reference(name_or_ref):
        classes = registered()
        try:
            return classes[name_or_ref]
        except KeyError:
            raise KeyError(f"unknown balancer {name_or_ref!r}; valid: "
                           f"{', '.join(sorted(classes))}, or 'pkg.module:Class' / "
                           "'path/to/file.py:Class' for your own") from None
    return _resolve_reference(name_or_ref, Path(base_dir) if base_dir is not None else None)


def _resolve_reference(ref: str, base_dir: Path | None) -> type[Balancer]:
    module_part, _, attr = ref.rpartition(":")
    if not module_part or not attr:
        raise BalancerRefError(f"bad balancer reference {ref!r}",
                               hint="write 'pkg.module:Class' or 'path/to/file.py:Class'")
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        path = path.resolve()
        module = _import_file(path, ref)
        canonical = f"{path}:{attr}"
    else:
        module = _import_module(module_part, ref)
        canonical = ref
    try:
        klass = getattr(module, attr)
    except AttributeError:
        raise BalancerRefError(f"{module_part!r} has no attribute {attr!r}",
                               hint="name a Balancer subclass defined in that module") from None
    if not (isinstance(klass, type) and issubclass(klass, Balancer)):
        raise BalancerRefError(
            f"{ref!r} is not a Balancer subclass (it is {type(klass).__name__} {klass!r})",
            hint="subclass paretolab.balancers.Balancer (see the README, 'Your own balancer')")
    abstract = sorted(getattr(klass, "__abstractmethods__", ()))
    if abstract:
        raise BalancerRefError(f"balancer {ref!r} does not implement {', '.join(abstract)}",
                               hint="implement the abstract method(s) of its base class")
    if klass.reference is None:
        klass.reference = canonical
    return klass


def _where(exc: BaseException, path: Path | None = None) -> str:
    """``file:line`` of the innermost frame in the user's file (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    inside = [f for f in frames if path is not None and Path(f.filename) == path] or frames
    return f"{inside[-1].filename}:{inside[-1].lineno}" if inside else "?"


def _import_module(module_part: str, ref: str) -> Any:
    try:
        return importlib.import_module(module_part)
    except ModuleNotFoundError as exc:
        if exc.name and module_part.startswith(exc.name):
            raise BalancerRefError(f"cannot import module {module_part!r} for balancer {ref!r}",
                                   hint="install the package or check the spelling; for a file "
                                   "use 'path/to/file.py:Class'") from None
        raise BalancerRefError(f"importing {module_part!r} failed at {_where(exc)}: "
                               f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise BalancerRefError(f"importing {module_part!r} failed at {_where(exc)}: "
                               f"{type(exc).__name__}: {exc}",
                               hint="fix the error in the balancer's module") from None


def _import_file(path: Path, ref: str) -> Any:
    if not path.is_file():
        raise BalancerRefError(f"balancer file {str(path)!r} does not exist (from {ref!r})",
                               hint="give a path relative to the study file")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    mod_name = f"_paretolab_user_balancer_{path.stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise BalancerRefError(f"cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code raised on import
        sys.modules.pop(mod_name, None)
        raise BalancerRefError(f"importing {str(path)!r} failed at {_where(exc, path)}: "
                               f"{type(exc).__name__}: {exc}",
                               hint="fix the error in the balancer file") from None
    return module


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
