"""A user's Python code named in a study file (a task, a trainer, a balancer): where its file is,
importing it, and where it raised."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import sysconfig
import traceback
from pathlib import Path
from types import ModuleType

_LIBRARY_DIRS = tuple({str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "purelib", "platlib")})
_HERE = Path(__file__).resolve().parent
_LOADERS = frozenset(str(_HERE / p) for p in ("userfiles.py", "tasks/loader.py", "balancers/refs.py"))


def user_code_line(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame of ``exc`` in the user's (or a task's) own code: not
    in the standard library or installed packages, nor in the modules that load it. For a
    SyntaxError, the line that does not parse. The one answer to "where did user code raise"."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{exc.filename}:{exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        resolved = str(Path(name).resolve())
        if name.startswith("<") or resolved in _LOADERS:
            continue
        if resolved.startswith(_LIBRARY_DIRS) and "paretolab" not in Path(resolved).parts:
            continue
        return f"{name}:{frame.lineno}"
    return None


def describe_exception(exc: BaseException) -> str:
    """``ValueError: message (at file.py:12)``: the exception and where the user's code raised it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    at = user_code_line(exc)
    return f"{type(exc).__name__}{': ' + text if text else ''}" + (f" (at {at})" if at else "")


def names_file(module_part: str) -> bool:
    """Whether the part of a reference before ``:`` names a file (``path/file.py``) rather than
    an importable module (``package.module``)."""
    return module_part.endswith(".py") or "/" in module_part or "\\" in module_part


def resolve_user_file(module_part: str, base_dir: Path | None) -> Path:
    """The file a study file's ``path/file.py:attr`` reference names (a task, a trainer, a
    balancer; one rule for all three): a relative path is relative to the study file's folder
    ``base_dir`` when the file is there, else to the current directory when it is there, else
    (so that the error names it) to the study file's folder. Absolute and resolved."""
    path = Path(module_part)
    if not path.is_absolute():
        candidate = (base_dir or Path.cwd()) / path
        path = candidate if candidate.exists() or not path.exists() else path
    return path.resolve()


class NotPython(Exception):
    """The file cannot be imported as a Python module."""


def import_file(path: Path, prefix: str) -> ModuleType:
    """Import ``path`` once per process, under a module name unique to the file.

    An exception raised by the user's code propagates as it is (the caller words it), and leaves
    nothing in ``sys.modules``; :class:`NotPython` when the file is not importable Python.
    """
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_name = f"{prefix}_{path.stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise NotPython(str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module
