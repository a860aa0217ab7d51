"""Which edits of a study file a resumed study may take.

A study's trials are comparable only while they mean the same thing: the same task and
parameters (or trainer function or command and its fixed params), losses, objectives and
constraints, training length, search space, training settings and the ``one_run`` section.
Editing any of those after trials ran would mix incomparable trials in one front (or make
Optuna refuse every new trial, for a changed search space), so resuming refuses it and names
the fields. Everything else (``budget.trials``, ``budget.timeout``, workers, faults, the
sampler, pruning, the device, the seed, the hypervolume references, the description) may change
between runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from paretolab.errors import SpecError
from paretolab.spec.models import StudySpec

MEANING: tuple[tuple[str, ...], ...] = (
    ("task",), ("losses",), ("objectives",), ("constraints",), ("budget", "steps"),
    ("search",), ("train",), ("one_run",), ("trainer",), ("init",),
)
"""The parts of a study file that decide what a trial's result means."""
_NOT_MEANING = {("train", "conflict_stats"),  # what is recorded, not how a trial trains
                ("trainer", "kill_grace")}  # how a stopped command is ended


def _meaning(data: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for path in MEANING:
        node: Any = data
        for part in path:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            if path == ("objectives",) and isinstance(node, list):  # ``ref`` only scales the hypervolume
                node = [{k: v for k, v in o.items() if k != "ref"} if isinstance(o, dict) else o
                        for o in node]
            out[path] = node
    return out


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _show(value: Any) -> str:
    """A short rendering: constraints as ``metric <= value``, balancers by method."""
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        if {"metric", "op", "value"} <= set(value):
            return f"{value['metric']} {value['op']} {value['value']:g}" \
                if isinstance(value["value"], (int, float)) else f"{value['metric']} {value['op']} {value['value']}"
        if "method" in value and not value.get("settings") and value.get("search", "none") == "none":
            return str(value["method"])
        if "name" in value and set(value) <= {"name", "direction"}:
            return f"{value['name']} ({value.get('direction', 'minimize')})"
    return repr(value) if isinstance(value, str) else str(value)


def _diff(path: tuple, old: Any, new: Any, out: list[tuple[tuple, str]]) -> None:
    if old == new or path in _NOT_MEANING:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*new, *(k for k in old if k not in new)]:
            _diff(path + (key,), old.get(key, _ABSENT), new.get(key, _ABSENT), out)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and all(
            isinstance(o, dict) and isinstance(n, dict) and "method" in o and o.get("method") == n.get("method")
            for o, n in zip(old, new)):  # the same balancers, some settings changed
        for i, (o, n) in enumerate(zip(old, new)):
            _diff(path + (i,), o, n, out)
        return
    out.append((path, f"{_show(old)} -> {_show(new)}"))


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` read by today's models, so a field added since the study was stored compares
    as its default (which is what that study used); as stored if it no longer reads."""
    try:
        return StudySpec.model_validate(data).model_dump(mode="json")
    except ValidationError:
        return data


def definition_changes(stored: dict[str, Any], new: StudySpec | dict[str, Any]) -> list[str]:
    """The changes from a stored study definition (``StudyMeta.spec``) to ``new`` that alter
    what a trial means, one ``"field: old -> new"`` line each (empty when it may resume)."""
    data = new.model_dump(mode="json") if isinstance(new, StudySpec) else new
    old_parts, new_parts = _meaning(_with_defaults(stored or {})), _meaning(_with_defaults(data))
    found: list[tuple[tuple, str]] = []
    for path in MEANING:
        if path in old_parts and path in new_parts:
            _diff(path, old_parts[path], new_parts[path], found)
    return [f"{'.'.join(str(p) for p in path)}: {change}" for path, change in found]


def changed_path(change: str) -> tuple[str | int, ...]:
    """The field path of one :func:`definition_changes` line (for ``StudySpec.where``)."""
    return tuple(int(p) if p.isdigit() else p for p in change.split(":", 1)[0].split("."))


def check_unchanged(stored: dict[str, Any], spec: StudySpec, overrides: Sequence[str] = ()) -> None:
    """Raise a SpecError naming every change from the stored definition that alters what a
    trial means, and the fix (a new study name); ``overrides``: the command-line overrides the
    stored study last ran with (named in the fix)."""
    changes = definition_changes(stored, spec)
    if changes:
        ran_with = (f"; it last ran with the overrides {' '.join(overrides)}: give them again"
                    if overrides else "")
        raise SpecError(
            f"the stored study {spec.name!r} ran with another definition; the file changes what a "
            f"trial means: {'; '.join(changes)}", where=spec.where(*changed_path(changes[0])),
            hint="give the study a new name to study the changed setup (or undo the change); "
            "budget.trials, timeout, workers, faults, sampler and pruning may change on resume"
            + ran_with)


def check_stored_study(spec: StudySpec) -> None:
    """:func:`check_unchanged` against the study already in the storage, if there is one (for
    ``paretolab validate``; a run checks when it opens the study)."""
    from paretolab.storage import sqlite_path

    path = sqlite_path(spec.storage_url)
    if path is not None and not path.is_file():
        return
    import optuna

    from paretolab.records import META_KEY
    from paretolab.storage import open_storage

    storage = open_storage(spec.storage_url, create_dir=False)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:  # no such study yet
        return
    stored = study.user_attrs.get(META_KEY)
    if isinstance(stored, dict) and isinstance(stored.get("spec"), dict):
        check_unchanged(stored["spec"], spec, stored.get("overrides") or ())
