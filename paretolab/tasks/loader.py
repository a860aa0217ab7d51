"""Resolve a task reference (built-in name, ``pkg.module:attr``, ``path/file.py:attr``)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paretolab.errors import TaskError
from paretolab.userfiles import describe_exception, names_file, resolve_user_file

BUILTIN_TASKS: dict[str, str] = {
    "toy": "paretolab.tasks.toy:ToyTask",
    "digits": "paretolab.tasks.digits:DigitsTask",
    "multitask_regression": "paretolab.tasks.multitask_regression:MultitaskRegressionTask",
    "rl": "paretolab.tasks.rl:RLTask",  # needs paretolab[rl] (mo-gymnasium)
    "posttrain": "paretolab.tasks.posttrain:PostTrainTask",
}

REQUIRED_MEMBERS = ("build_model", "batches", "compute_losses", "evaluate")


@dataclass(frozen=True)
class TaskInfo:
    """What a study needs to know about a task before training: its loss and metric names."""

    losses: tuple[str, ...]
    metrics: tuple[str, ...]


def _import_file(path: Path, where: str) -> Any:
    if not path.is_file():
        raise TaskError(f"task file {str(path)!r} does not exist", where=where,
                        hint="give a path relative to the study file or the current directory")
    from paretolab.userfiles import NotPython, import_file

    try:
        return import_file(path, "_paretolab_user_task")
    except NotPython:
        raise TaskError(f"cannot import {str(path)!r} as Python", where=where) from None
    except Exception as exc:  # the user's code raised on import
        raise TaskError(f"importing {str(path)!r} failed: {describe_exception(exc)}",
                        where=where, hint="fix the error in the task file") from None


def load_task_factory(ref: str, base_dir: Path | None = None, where: str = "task") -> Callable[..., Any]:
    """Return the class or function a task reference names (without calling it)."""
    target = BUILTIN_TASKS.get(ref, ref)
    if ":" not in target:
        raise TaskError(
            f"unknown task {ref!r}",
            where=where,
            hint=f"use a built-in task ({', '.join(BUILTIN_TASKS)}), 'package.module:attr' "
            "or 'path/to/file.py:attr'",
        )
    module_part, attr = target.rsplit(":", 1)
    if names_file(module_part):
        module = _import_file(resolve_user_file(module_part, base_dir), where)
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise TaskError(f"cannot import module {module_part!r} ({exc})", where=where,
                            hint="install the package or check the spelling; "
                            "for a file use 'path/to/file.py:attr'") from None
        except Exception as exc:
            raise TaskError(f"importing {module_part!r} failed: {describe_exception(exc)}",
                            where=where, hint="fix the error in that module") from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise TaskError(f"{module_part!r} has no attribute {attr!r}", where=where,
                        hint="name a Task class or a function that returns a task") from None
    if not callable(factory):
        raise TaskError(f"{target!r} is not a class or function", where=where)
    return factory


def make_task(ref: str, params: Mapping[str, Any] | None = None, base_dir: Path | None = None,
              where: str = "task") -> Any:
    """Build a task from its reference and parameters; checks the contract."""
    factory = load_task_factory(ref, base_dir, where)
    params = dict(params or {})
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: let the call tell
        signature = None
    if signature is not None:
        try:
            signature.bind(**params)
        except TypeError as exc:
            raise TaskError(f"task {ref!r} does not accept these params: {exc}",
                            where=f"{where}.params") from None
    try:
        task = factory(**params)
    except TaskError:
        raise
    except Exception as exc:  # the task's own code raised on these params
        raise TaskError(f"building task {ref!r} with params {params} failed: {describe_exception(exc)}",
                        where=f"{where}.params" if params else where,
                        hint="check task.params, or fix the task's constructor") from None
    missing = [m for m in REQUIRED_MEMBERS if not callable(getattr(task, m, None))]
    if missing or not getattr(task, "losses", None) or not getattr(task, "metrics", None):
        lacks = missing + [a for a in ("losses", "metrics") if not getattr(task, a, None)]
        raise TaskError(f"task {ref!r} does not follow the task contract: it lacks {', '.join(lacks)}",
                        where=where, hint="see paretolab.tasks.base.Task for the contract")
    return task


def task_info(ref: str, params: Mapping[str, Any] | None = None, base_dir: Path | None = None,
              where: str = "task") -> TaskInfo:
    """Load the task once to read its loss and metric names."""
    task = make_task(ref, params, base_dir, where)
    return TaskInfo(losses=tuple(task.losses), metrics=tuple(task.metrics))
