"""The base of every study-file model and the helpers that write a model's short forms into
the JSON Schema beside the validator that parses them (see :mod:`paretolab.spec.models`)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

SamplerName = Literal["auto", "tpe", "nsga2", "nsga3", "gp", "random", "qmc", "botorch"]
SAMPLERS: tuple[SamplerName, ...] = get_args(SamplerName)
"""The sampler short names a study file may give (``paretolab.samplers`` maps them to classes)."""
Direction = Literal["minimize", "maximize"]

JsonSchema = dict[str, Any]


def _either(node: JsonSchema, *alternatives: JsonSchema) -> None:
    """Turn the schema ``node`` (in place) into "node or one of the alternatives"."""
    body = dict(node)
    keep: JsonSchema = {k: body.pop(k) for k in ("title", "description", "default") if k in body}
    node.clear()
    node.update({**keep, "anyOf": [body, *alternatives]})


def _or_single(node: JsonSchema) -> None:
    """Field schema hook: a list field that also takes one item written alone."""
    _either(node, dict(node["items"]))


class _Model(BaseModel):
    """Base of every study-file model: unknown fields are errors, values are immutable, and
    numbers must be finite (``.nan`` or ``.inf`` in a study file is a mistake)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        """JSON Schemas of the short forms this model's ``_short`` validator accepts."""
        return ()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> JsonSchema:
        schema = handler(core_schema)
        short = cls.short_forms()
        if short:
            _either(handler.resolve_ref_schema(schema), *short)
        return schema


