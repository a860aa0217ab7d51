"""The study file's ``losses:``, ``objectives:`` and ``constraints:`` sections."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from paretolab.spec.base import Direction, JsonSchema, _either, _Model


# --- losses, objectives, constraints -------------------------------------------------------
def _groups_schema(node: JsonSchema) -> None:
    """Field schema hook: a group is ``{term: coefficient}`` or a list of terms (coefficient 1)."""
    _either(node["additionalProperties"], {"type": "array", "items": {"type": "string"}})


class LossesSpec(_Model):
    """The loss terms the task produces, optionally grouped (fixed inner coefficients).

    The balancer sees one loss per group; a term in no group stands as its own group.
    """

    terms: list[str] | None = None
    groups: dict[str, dict[str, float]] = Field(default_factory=dict, json_schema_extra=_groups_schema)

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"type": "array", "items": {"type": "string"}},)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"terms": value} if isinstance(value, list) else value

    @field_validator("groups", mode="before")
    @classmethod
    def _list_groups(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {g: ({t: 1.0 for t in members} if isinstance(members, list) else members)
                    for g, members in value.items()}
        return value

    @model_validator(mode="after")
    def _check(self) -> LossesSpec:
        seen: dict[str, str] = {}
        for group, members in self.groups.items():
            if not members:
                raise ValueError(f"group {group!r} has no loss terms")
            for term in members:
                if term in seen:
                    raise ValueError(f"loss {term!r} is in two groups ({seen[term]!r} and {group!r})")
                seen[term] = group
        if self.terms is not None:
            if len(set(self.terms)) != len(self.terms):
                raise ValueError("a loss name is listed twice")
            stray = [t for t in seen if t not in self.terms]
            if stray:
                raise ValueError(f"groups name losses that are not in terms: {stray}")
            clash = [g for g in self.groups if g in self.terms and g not in self.groups[g]]
            if clash:
                raise ValueError(f"group name(s) {clash} clash with loss term names")
        return self

    def balanced_names(self, task_losses: tuple[str, ...]) -> list[str]:
        """The names the balancer sees: groups, then ungrouped terms, in file order."""
        terms = list(self.terms) if self.terms is not None else list(task_losses)
        grouped = {t for members in self.groups.values() for t in members}
        names: list[str] = []
        for term in terms:
            if term in grouped:
                group = next(g for g, m in self.groups.items() if term in m)
                if group not in names:
                    names.append(group)
            else:
                names.append(term)
        for group in self.groups:
            if group not in names:
                names.append(group)
        return names

    def coefficients(self, task_losses: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """balanced name -> {term: coefficient}; the trainer sums each group with these."""
        out: dict[str, dict[str, float]] = {}
        for name in self.balanced_names(task_losses):
            out[name] = dict(self.groups[name]) if name in self.groups else {name: 1.0}
        return out


class Objective(_Model):
    """An evaluation metric to optimise; ``ref`` is its hypervolume reference value."""

    name: str
    direction: Direction = "minimize"
    ref: float | None = Field(None, description="hypervolume reference value (a finite number)")

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"type": "string"},  # error
                {"type": "object", "minProperties": 1, "maxProperties": 1,  # {error: minimize}
                 "additionalProperties": {"enum": list(get_args(Direction))}})

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and len(value) == 1 and "name" not in value:
            (name, direction), = value.items()
            return {"name": name, "direction": direction}
        return value


def _objectives_schema(node: JsonSchema) -> None:
    """Field schema hook: objectives also as one mapping ``{error: minimize, sparsity: maximize}``."""
    _either(node, {"type": "object", "additionalProperties": {"enum": list(get_args(Direction))}})


_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class Constraint(_Model):
    """``metric <= value`` or ``metric >= value``; becomes an Optuna 5 trial constraint."""

    metric: str
    op: Literal["<=", ">="]
    value: float

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"type": "string", "pattern": _CONSTRAINT_RE.pattern},)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _CONSTRAINT_RE.match(value)
            if not match:
                raise ValueError(f"cannot read constraint {value!r}; write it as 'metric <= number' "
                                 "or 'metric >= number'")
            return {"metric": match[1], "op": match[2], "value": float(match[3])}
        return value

    def violation(self, measured: float) -> float:
        """Optuna's constraint value: <= 0 when satisfied, else by how much it is broken."""
        return measured - self.value if self.op == "<=" else self.value - measured

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


