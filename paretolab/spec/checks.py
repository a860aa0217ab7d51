"""Checks of a study file that need the task, the balancer registry, the sampler or the storage.

:func:`check_study` runs them all and returns a :class:`CheckedStudy`; each problem raises one
:class:`~paretolab.errors.UserError` naming the field and the fix.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from paretolab.errors import SpecError
from paretolab.locate import locate_folder, stored_study_names
from paretolab.spec.models import StudySpec
from paretolab.tasks.loader import BUILTIN_TASKS, TaskInfo, load_task_factory, task_info
from paretolab.userfiles import names_file, resolve_user_file


@dataclass(frozen=True)
class CheckedStudy:
    """A study file that passed every check, with what the checks learned."""

    spec: StudySpec
    info: TaskInfo
    task_ref: str  # file paths made absolute, so trials and `pick` work from any directory
    balanced_names: list[str]
    loss_groups: dict[str, dict[str, float]]


def resolve_task_ref(ref: str, base_dir: Path) -> str:
    """Make a ``path/file.py:attr`` reference absolute (:func:`paretolab.userfiles.resolve_user_file`)."""
    if ref in BUILTIN_TASKS or ":" not in ref:
        return ref
    module_part, attr = ref.rsplit(":", 1)
    if names_file(module_part):
        return f"{resolve_user_file(module_part, base_dir)}:{attr}"
    return ref


def _check_trainer(spec: StudySpec) -> tuple[str, TaskInfo]:
    """A ``trainer`` study: the function loads (its reference made absolute), the command's
    placeholders name params or weights. The losses are the ones the study file names."""
    from paretolab.trials.command import check_placeholders

    trainer = spec.trainer
    assert trainer is not None
    losses = tuple(spec.losses.terms or [t for members in spec.losses.groups.values() for t in members])
    info = TaskInfo(losses=losses, metrics=())
    if trainer.function is not None:
        if spec.budget.trial_timeout is not None:
            raise SpecError("budget.trial_timeout applies to command trainers only: a trainer function "
                            "runs inside the worker, where it cannot be stopped", where=spec.where(
                                "budget", "trial_timeout"),
                            hint="remove it, or run your training as a command (trainer: {command: "
                            "[...]}), which is killed at the timeout")
        ref = resolve_task_ref(trainer.function, spec.base_dir)
        load_task_factory(ref, spec.base_dir, where=spec.where("trainer", "function"))
        return ref, info
    assert trainer.command is not None
    problem = check_placeholders(trainer.command, spec)
    if problem:
        raise SpecError(problem, where=spec.where("trainer", "command"),
                        hint="use a searched or fixed param ({lr}), a weight ({w.<loss>}), "
                        "{trial_dir}, {steps} or {seed}")
    return "command", info


def did_you_mean(name: str, valid: tuple[str, ...] | list[str]) -> str:
    """A hint naming the closest valid name, if one is close, and all of them."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    text = f"valid names: {', '.join(valid)}"
    return f"did you mean {close[0]!r}? {text}" if close else text


FOLDER_FILES = ("trials.csv", "front.csv", "report.html", "pick.yaml")
"""The files a study writes into its folder (``reports/<slug>`` or ``output_dir``)."""


def _check_folder(spec: StudySpec) -> None:
    """Refuse a folder that already holds another study's tables and report: writing this
    study's would overwrite them (two studies given one ``output_dir``, or a plain name equal to
    the folder an earlier version gave a name with other characters)."""
    folder = spec.study_dir
    if spec.storage is not None or not any((folder / f).exists() for f in FOLDER_FILES):
        return
    others = stored_study_names(folder / "study.db")
    if others and spec.name not in others:
        raise SpecError(f"the folder {str(folder)!r} holds the files of study {others[0]!r}; study "
                        f"{spec.name!r} would overwrite them",
                        where=spec.where("output_dir") if spec.output_dir else spec.where("name"),
                        hint="give this study a folder of its own (output_dir: ...) or another name")


def check_study(spec: StudySpec, *, check_storage_reachable: bool = True) -> CheckedStudy:
    """Run every cross-check; raise a SpecError/TaskError/StorageError naming the field."""
    from paretolab.samplers import check_sampler_options
    from paretolab.search_space import balancer_space

    locate_folder(spec)
    if spec.trainer is not None:
        task_ref, info = _check_trainer(spec)
    else:
        assert spec.task is not None  # StudySpec requires exactly one of task and trainer
        task_ref = resolve_task_ref(spec.task.ref, spec.base_dir)
        info = task_info(task_ref, spec.task.params, spec.base_dir, where=spec.where("task"))
    for i, term in enumerate(spec.losses.terms or []):
        if term not in info.losses:
            raise SpecError(f"the task does not produce a loss named {term!r}",
                            where=spec.where("losses", i), hint=did_you_mean(term, info.losses))
    for group, members in spec.losses.groups.items():
        for term in members:
            if term not in info.losses:
                raise SpecError(f"group {group!r} names loss {term!r}, which the task does not produce",
                                where=spec.where("losses", "groups", group),
                                hint=did_you_mean(term, info.losses))
    for i, obj in enumerate(spec.objectives):
        if spec.trainer is not None:
            break  # the user's code says what it measures only when it runs
        if obj.name not in info.metrics:
            raise SpecError(f"the task does not measure an objective named {obj.name!r}",
                            where=spec.where("objectives", i), hint=did_you_mean(obj.name, info.metrics))
    for i, con in enumerate(spec.constraints):
        if spec.trainer is not None:
            break
        if con.metric not in info.metrics:
            raise SpecError(f"constraint on {con.metric!r}, which the task does not measure",
                            where=spec.where("constraints", i), hint=did_you_mean(con.metric, info.metrics))
    watched = spec.train.curriculum_metric
    if spec.trainer is None and spec.train.curriculum == "adaptive" and watched not in info.metrics:
        raise SpecError(f"the adaptive curriculum watches {watched!r}, which the task does not measure",
                        where=spec.where("train", "curriculum_metric"),
                        hint=did_you_mean(str(watched), info.metrics))
    balanced = spec.losses.balanced_names(info.losses)
    weights = spec.search.weights
    named = {**weights.fixed, **weights.ranges}
    for name in named:
        if name not in balanced:
            raise SpecError(f"weight for {name!r}, which is not a loss the balancer sees",
                            where=spec.where("search", "weights"), hint=did_you_mean(name, balanced))
    if weights.mode == "fixed":
        missing = [n for n in balanced if n not in weights.fixed]
        if missing:
            raise SpecError(f"fixed weights must name every loss; missing {missing}",
                            where=spec.where("search", "weights", "fixed"))
    methods = [c.method for c in spec.search.balancer]
    if len(set(methods)) != len(methods):
        raise SpecError("a balancer is listed twice", where=spec.where("search", "balancer"))
    for i, choice in enumerate(spec.search.balancer):
        try:
            balancer_space(choice, spec.base_dir)
        except SpecError as exc:
            raise SpecError(exc.message, where=spec.where("search", "balancer", i), hint=exc.hint) from None
    try:
        check_sampler_options(spec.sampler.name, spec.sampler.options)
    except SpecError as exc:
        raise SpecError(exc.message, where=spec.where("sampler", "options"), hint=exc.hint) from None
    _check_folder(spec)
    if check_storage_reachable:
        from paretolab.storage import check_storage

        check_storage(spec.storage_url)
    return CheckedStudy(spec=spec, info=info, task_ref=task_ref, balanced_names=balanced,
                        loss_groups=spec.losses.coefficients(info.losses))
