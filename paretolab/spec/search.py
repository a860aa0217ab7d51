"""The study file's ``search:`` section: the knobs a trial samples, the preference weights and
the balancer choices."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from paretolab.spec.base import JsonSchema, _either, _Model, _or_single


# --- search knobs ------------------------------------------------------------------------
class FloatRange(_Model):
    """A float searched in [low, high], optionally on a log scale or a grid of ``step``."""

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _check(self) -> FloatRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self


class IntRange(_Model):
    """An integer searched in [low, high] (inclusive)."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = 1

    @model_validator(mode="after")
    def _check(self) -> IntRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


class Choice(_Model):
    """One of a list of values (strings, numbers or booleans)."""

    type: Literal["categorical"] = "categorical"
    choices: list[str | int | float | bool | None] = Field(min_length=1)

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"type": "array", "minItems": 1},)  # [a, b, c] (see _coerce_knob)


Knob = Annotated[FloatRange | IntRange | Choice, Field(discriminator="type")]


def _knobs_schema(node: JsonSchema) -> None:
    """Field schema hook: a knob may omit ``type`` (see :func:`_coerce_knob`), so the JSON
    Schema cannot dispatch on it; each form is told apart by its required fields instead."""
    knob = node["additionalProperties"]
    knob.pop("discriminator", None)


def _coerce_knob(value: Any) -> Any:
    """Short forms: a list is a categorical choice; ``{low, high}`` without type is a float."""
    if isinstance(value, list):
        return {"type": "categorical", "choices": value}
    if isinstance(value, dict) and "type" not in value:
        if "choices" in value:
            return {"type": "categorical", **value}
        if all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool)
               for k in ("low", "high")) and "step" in value and isinstance(value["step"], int):
            return {"type": "int", **value}
        return {"type": "float", **value}
    return value



# --- search ------------------------------------------------------------------------------
def _ranges_schema(node: JsonSchema) -> None:
    """Field schema hook: a weight range may be written ``[low, high]``."""
    _either(node["additionalProperties"], {"type": "array", "items": {"type": "number"},
                                           "minItems": 2, "maxItems": 2})


class WeightsSpec(_Model):
    """How the preference weights over the (grouped) losses are chosen.

    ``simplex`` (default): on the probability simplex (they sum to 1), spread one of two ways:
    ``spread: log`` (default) makes each weight's ratio to the first loss's log-uniform in
    [1/max_ratio, max_ratio] (default 100), so 1:50 trade-offs are searched as readily as 1:2;
    ``spread: uniform`` is uniform on the simplex (Dirichlet(1, ..., 1)).
    ``fixed``: the given weights; ``ranges``: each weight searched in its own range.
    """

    mode: Literal["simplex", "fixed", "ranges"] = "simplex"
    spread: Literal["log", "uniform"] = "log"
    max_ratio: float = Field(100.0, gt=1)
    fixed: dict[str, float] = Field(default_factory=dict)
    ranges: dict[str, FloatRange] = Field(default_factory=dict, json_schema_extra=_ranges_schema)

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"enum": ["simplex"]},)  # the other modes need their weights or ranges

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"mode": value}
        if isinstance(value, dict) and "mode" not in value:
            if "fixed" in value:
                return {"mode": "fixed", **value}
            if "ranges" in value:
                ranges = {k: _coerce_knob(v) if not isinstance(v, list) else
                          {"type": "float", "low": v[0], "high": v[1]} if len(v) == 2 else v
                          for k, v in (value["ranges"] or {}).items()}
                return {**value, "mode": "ranges", "ranges": ranges}
        return value

    @model_validator(mode="after")
    def _check(self) -> WeightsSpec:
        if self.mode == "fixed" and not self.fixed:
            raise ValueError("mode 'fixed' needs 'fixed: {loss: weight, ...}'")
        if self.mode == "ranges" and not self.ranges:
            raise ValueError("mode 'ranges' needs 'ranges: {loss: {low: .., high: ..}, ...}'")
        if self.mode != "simplex" and self.model_fields_set & {"spread", "max_ratio"}:
            raise ValueError("'spread' and 'max_ratio' belong to mode 'simplex'")
        if any(w < 0 for w in self.fixed.values()):
            raise ValueError("fixed weights must be >= 0")
        if any(r.low < 0 for r in self.ranges.values()):
            raise ValueError("weight ranges must be >= 0")
        return self


class BalancerChoice(_Model):
    """A balancer to try, with fixed or searched settings.

    ``settings`` values: a number/string (fixed), a range or list (searched), or ``search``
    (searched over the method's own default range). ``search: all`` searches every setting.
    """

    # settings may be written inline ({method: cagrad, c: [0.1, 0.9]}), so the schema lets
    # other keys through; the balancer's own settings check names a wrong one
    model_config = ConfigDict(**_Model.model_config, json_schema_extra={"additionalProperties": True})

    method: str
    settings: dict[str, Any] = Field(default_factory=dict)
    search: Literal["none", "all"] = "none"

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"type": "string"},)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"method": value}
        if isinstance(value, dict) and "method" in value:
            extra = {k: v for k, v in value.items() if k not in ("method", "settings", "search")}
            if extra:  # settings written inline: {method: cagrad, c: [0.1, 0.9]}
                return {"method": value["method"], "search": value.get("search", "none"),
                        "settings": {**(value.get("settings") or {}), **extra}}
        return value


class SearchSpec(_Model):
    """What each trial samples: preference weights, balancer, and other knobs."""

    weights: WeightsSpec = Field(default_factory=WeightsSpec)
    balancer: list[BalancerChoice] = Field(default_factory=lambda: [BalancerChoice(method="static")],
                                           min_length=1, json_schema_extra=_or_single)
    params: dict[str, Knob] = Field(default_factory=dict, json_schema_extra=_knobs_schema)

    @field_validator("balancer", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value

    @field_validator("params", mode="before")
    @classmethod
    def _knobs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _coerce_knob(v) for k, v in value.items()}
        return value


