"""Tasks: the contract (:class:`Task`), the built-in tasks and loading a task from a reference."""

from __future__ import annotations

from paretolab.tasks.base import Task, infinite_minibatches
from paretolab.tasks.loader import BUILTIN_TASKS, TaskInfo, load_task_factory, make_task, task_info

__all__ = [
    "BUILTIN_TASKS",
    "Task",
    "TaskInfo",
    "infinite_minibatches",
    "load_task_factory",
    "make_task",
    "task_info",
]
