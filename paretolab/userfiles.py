"""Importing a user's Python file named in a study file (a task, a trainer, a balancer)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


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
