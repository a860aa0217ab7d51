"""Study-file fields set on the command line: ``paretolab run study.yaml budget.trials=60``.

Each override is ``dotted.key=value``: the key a path into the study file (a number indexes a
list: ``objectives.0.ref=1.0``), the value read as YAML (``60`` a number, ``tpe`` a string,
``[a, b]`` a list, ``null`` nothing). They replace the file's values before validation, so an
override is checked exactly as the same value in the file would be; an error in one names it.
The study records the overrides it ran with (``StudyMeta.overrides``) next to the effective
definition, which is what a resumed run is compared with.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from paretolab.errors import SpecError


@dataclass(frozen=True)
class Override:
    """One ``key=value`` of the command line."""

    text: str
    path: tuple[str | int, ...]
    value: Any


def parse_override(text: str) -> Override:
    """``"search.params.lr.high=0.1"`` -> the path ``("search", "params", "lr", "high")`` and 0.1."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(f"cannot read the override {text!r}", where="command line",
                        hint="write it as dotted.key=value, e.g. budget.trials=60")
    parts = key.split(".")
    if any(not p for p in parts):
        raise SpecError(f"the override {text!r} has an empty part in its key", where="command line",
                        hint="write keys as a.b.c, e.g. search.params.lr.high=0.1")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"the value of the override {text!r} is not valid YAML: {problem}",
                        where="command line", hint="quote it for the shell, e.g. 'key=[a, b]'") from None
    path = tuple(int(p) if p.isdigit() else p for p in parts)
    return Override(text, path, value)


def parse_overrides(items: Sequence[str]) -> list[Override]:
    """Every override, in order (a later one wins over an earlier one for the same key)."""
    return [parse_override(t) for t in items]


def apply_overrides(data: dict[str, Any], overrides: Sequence[Override]) -> dict[str, Any]:
    """A copy of the study file's ``data`` with each override set (missing mappings created)."""
    out = copy.deepcopy(data)
    for o in overrides:
        node: Any = out
        for i, part in enumerate(o.path[:-1]):
            nxt = _child(node, part, o, i)
            if nxt is None:
                nxt = {}
                node[part] = nxt
            node = nxt
        last = o.path[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or last >= len(node):
                raise _bad_index(o, len(o.path) - 1, len(node))
            node[last] = o.value
        elif isinstance(node, dict):
            node[last] = o.value
        else:
            raise _not_mapping(o, len(o.path) - 1, node)
    return out


def _child(node: Any, part: str | int, o: Override, depth: int) -> Any:
    if isinstance(node, list):
        if not isinstance(part, int) or part >= len(node):
            raise _bad_index(o, depth, len(node))
        return node[part]
    if isinstance(node, dict):
        value = node.get(part)
        if value is not None and not isinstance(value, dict | list):
            raise _not_mapping(o, depth + 1, value)
        return value
    raise _not_mapping(o, depth, node)


def _key(o: Override, depth: int) -> str:
    return ".".join(str(p) for p in o.path[:depth]) or "(top level)"


def _bad_index(o: Override, depth: int, size: int) -> SpecError:
    return SpecError(f"the override {o.text!r}: {_key(o, depth)} is a list of {size}; "
                     f"{o.path[depth]!r} is not one of its positions", where="command line",
                     hint=f"use a number from 0 to {size - 1}" if size else "set the whole list")


def _not_mapping(o: Override, depth: int, value: Any) -> SpecError:
    return SpecError(f"the override {o.text!r}: {_key(o, depth)} is {value!r}, not a mapping with "
                     "fields", where="command line",
                     hint=f"set {_key(o, depth)}=... itself, or write it as a mapping in the file")


def override_at(path: tuple, overrides: Sequence[Override]) -> Override | None:
    """The last override that set ``path`` (a field path of a validation error) or a field
    around it, if any: that override, not the file, is where the error is."""
    for o in reversed(overrides):
        n = min(len(o.path), len(path))
        if tuple(str(p) for p in o.path[:n]) == tuple(str(p) for p in path[:n]):
            return o
    return None
