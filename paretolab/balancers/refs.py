"""Resolving a reference to a user's balancer class: ``pkg.module:Class`` or ``file.py:Class``.

Knows nothing of the Balancer class itself (the base class passes itself in), so that the base,
the registry and this module import each other in one direction only.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from paretolab.errors import UserError
from paretolab.userfiles import names_file, resolve_user_file, user_code_line


class BalancerRefError(UserError, KeyError):
    """A balancer reference (``module:Class`` or ``file.py:Class``) cannot be resolved."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.render()


def is_reference(name: str) -> bool:
    """True for ``module:Class`` and ``file.py:Class`` (a registered name has no colon)."""
    return ":" in name


def resolve_reference(ref: str, base_dir: Path | None, base_class: Any) -> Any:
    """The class ``ref`` names, checked to be a concrete subclass of ``base_class``."""
    module_part, _, attr = ref.rpartition(":")
    if not module_part or not attr:
        raise BalancerRefError(f"bad balancer reference {ref!r}",
                               hint="write 'pkg.module:Class' or 'path/to/file.py:Class'")
    if names_file(module_part):
        path = resolve_user_file(module_part, base_dir)
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
    if not (isinstance(klass, type) and issubclass(klass, base_class)):
        raise BalancerRefError(
            f"{ref!r} is not a Balancer subclass (it is {type(klass).__name__} {klass!r})",
            hint="subclass paretolab.balancers.Balancer (see the README, 'Your own balancer')")
    abstract = sorted(getattr(klass, "__abstractmethods__", ()))
    if abstract:
        raise BalancerRefError(f"balancer {ref!r} does not implement {', '.join(abstract)}",
                               hint="implement the abstract method(s) of its base class")
    balancer: Any = klass  # a Balancer subclass (checked above); this module does not import it
    if balancer.reference is None:
        balancer.reference = canonical
    return balancer


def _where(exc: BaseException) -> str:
    """``file:line`` where the user's code raised (:func:`paretolab.userfiles.user_code_line`)."""
    return user_code_line(exc) or "?"


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
    from paretolab.userfiles import NotPython, import_file

    try:
        return import_file(path, "_paretolab_user_balancer")
    except NotPython:
        raise BalancerRefError(f"cannot import {str(path)!r} as Python") from None
    except Exception as exc:  # the user's code raised on import
        raise BalancerRefError(f"importing {str(path)!r} failed at {_where(exc)}: "
                               f"{type(exc).__name__}: {exc}",
                               hint="fix the error in the balancer file") from None
