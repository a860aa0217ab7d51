"""The study file's models (pydantic): fields, defaults, short forms and the checks that need
nothing but the file itself.

Each model parses its own short forms (``task: toy``, ``losses: [a, b]``, ``sampler: tpe``, ...)
in a ``mode="before"`` validator and declares the same forms for the JSON Schema beside it
(:meth:`_Model.short_forms`, :func:`_or_single`, ...), so the grammar is written once.
This module imports neither torch nor Optuna.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from paretolab.spec.defaults import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    MAX_CONSECUTIVE_FAILURES,
    MAX_RETRIES,
    STORAGE_PATIENCE_S,
    grace_problem,
)

SamplerName = Literal["auto", "tpe", "nsga2", "nsga3", "gp", "random", "qmc", "botorch"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
"""The sampler short names a study file may give (``paretolab.samplers`` maps them to classes)."""
Direction = Literal["minimize", "maximize"]

JsonSchema = dict[str, Any]


def _either(node: JsonSchema, *alternatives: JsonSchema) -> None:
    """Turn the schema ``node`` (in place) into "node or one of the alternatives"."""
    body = dict(node)
    keep = {k: body.pop(k) for k in ("title", "description", "default") if k in body}
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


# --- training, budget, sampler -----------------------------------------------------------
class TrainSpec(_Model):
    """Training settings used by every trial unless ``search.params`` samples them."""

    # every field but those in _NOT_KNOBS is also a knob ``search.params`` may sample
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    batch_size: int = Field(64, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    grad_clip: float | None = Field(10.0, gt=0)
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    conflict_stats: Literal["auto", "on", "off"] = Field(
        "auto", description="record gradient cosine similarity at every evaluation: auto = when "
        "the balancer computes task gradients anyway (free), on = always (one extra pass for "
        "loss-level methods), off = never")


_NOT_KNOBS = ("conflict_stats",)  # what is recorded, not how the model trains
TRAIN_KNOBS: tuple[str, ...] = tuple(k for k in TrainSpec.model_fields if k not in _NOT_KNOBS)
"""The training settings a trial may sample (``search.params``) besides ``task.<param>``."""


class BudgetSpec(_Model):
    """How much compute the study gets."""

    trials: int = Field(20, ge=1)
    steps: int = Field(200, ge=1, description="training steps per trial")
    timeout: float | None = Field(None, gt=0, description="wall-clock limit for the study, seconds")
    eval_every: int | None = Field(None, ge=1, description="record curves every k steps "
                                   "(default: steps/10)")
    trial_timeout: float | None = Field(None, gt=0, description="seconds one command trial may run "
                                        "before it is killed and fails (trainer: {command: ...})")
    repeats: int = Field(1, ge=1, le=100, description="train every configuration with this many "
                         "seeds; its objectives are the means (what 'paretolab verify' checks)")


class SamplerSpec(_Model):
    """An Optuna sampler by short name, with keyword options passed to its constructor."""

    name: SamplerName = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"enum": list(SAMPLERS)},)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value.lower()}
        return value


PruningMethod = Literal["none", "moasha"]


class PruningSpec(_Model):
    """Multi-objective early stopping (asynchronous successive halving, MO-ASHA).

    Rungs at ``min_steps * eta**k`` steps below ``budget.steps``; at each rung a trial continues
    only if it is within the top ``1/eta`` of the trials that reached it (non-dominated rank,
    then hypervolume contribution). See :mod:`paretolab.pruning`.
    """

    method: PruningMethod = "none"
    min_steps: int | None = Field(None, ge=1, description="first rung, in training steps "
                                  "(default: budget.steps // eta**2, so two rungs)")
    eta: int = Field(3, ge=2, description="reduction factor: the top 1/eta continue at each rung")
    min_trials: int | None = Field(None, ge=1, description="trials that must have reached a rung "
                                   "before it prunes anything (default: eta)")
    min_agreement: float | Literal["auto"] | None = Field(
        "auto", description="a rung prunes only while, over the complete trials that passed it, "
        "the share of their final front its rule would have kept (front recall) is at least this; "
        "auto: the rung's break-even, (s + (S - s) / eta) / S for a rung at s of S steps; "
        "null: always prune")
    agreement_trials: int = Field(10, ge=2, description="complete trials that passed a rung "
                                  "before its agreement is judged (the rung prunes nothing before)")
    control_share: float = Field(0.2, ge=0.0, lt=1.0, description="while a rung prunes, this share "
                                 "of the trials are controls: judged but never pruned, so the guard's "
                                 "evidence stays unbiased and up to date")

    @field_validator("min_agreement")
    @classmethod
    def _recall(cls, value: Any) -> Any:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError("min_agreement is a share of the front: between 0 and 1 (or auto, or null)")
        return value

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"enum": list(get_args(PruningMethod))},)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"method": value.lower()}
        return value

    def resolved_min_steps(self, steps: int) -> int:
        """The first rung for a trial budget of ``steps``."""
        return self.min_steps if self.min_steps is not None else max(1, steps // self.eta ** 2)


class FaultSpec(_Model):
    """How workers notice a lost worker and a lost storage (see :mod:`paretolab.worker`)."""

    heartbeat_interval: int = Field(HEARTBEAT_INTERVAL_S, ge=1,
                                    description="seconds between a running trial's heartbeats")
    grace_period: int = Field(GRACE_PERIOD_S, ge=2, description="a trial without a heartbeat for this long is "
                              "lost (its worker died): it is failed and re-run")
    max_retries: int = Field(MAX_RETRIES, ge=0, description="re-runs of a lost trial with the same params and seed")
    storage_patience: float = Field(STORAGE_PATIENCE_S, gt=0, description="seconds a worker keeps retrying a "
                                    "lost storage (with back-off) before it stops with an error")
    max_consecutive_failures: int = Field(
        MAX_CONSECUTIVE_FAILURES, ge=1, description="the study stops with an error after this many "
        "failed trials in a row with no completed trial (a broken task does not burn the budget)")

    @model_validator(mode="after")
    def _grace(self) -> FaultSpec:
        problem = grace_problem(self.heartbeat_interval, self.grace_period)
        if problem:
            raise ValueError(problem)
        return self


class MlflowLog(_Model):
    """Send each trial (one MLflow run) and the study's front to MLflow."""

    tracking_uri: str | None = Field(None, description="an MLflow server URL (http://host:5000) or a "
                                     "local store (sqlite:///mlflow.db); default: sqlite:///<study "
                                     "directory>/mlflow.db")
    experiment: str | None = Field(None, description="default: the study's name")


class TensorboardLog(_Model):
    """Write each trial's curves, params and objectives, and the front, as TensorBoard event files."""

    dir: str | None = Field(None, description="default: <study directory>/tensorboard")


class WandbLog(_Model):
    """Send each trial (one W&B run) and the front to Weights & Biases (needs ``wandb`` installed)."""

    project: str | None = Field(None, description="default: the study's name")
    entity: str | None = None
    mode: Literal["online", "offline"] = "online"


class LogSpec(_Model):
    """Experiment trackers: each finished trial's params, weights, balancer, curves and objectives,
    and at the end the study's front. Off unless a tracker is named."""

    mlflow: MlflowLog | None = None
    tensorboard: TensorboardLog | None = None
    wandb: WandbLog | None = None


class TaskSpec(_Model):
    """Which task: a built-in name, ``package.module:attr`` or ``path/to/file.py:attr``."""

    ref: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def short_forms(cls) -> tuple[JsonSchema, ...]:
        return ({"type": "string"},)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"ref": value}
        if isinstance(value, dict) and "name" in value and "ref" not in value:
            return {"ref": value["name"], **{k: v for k, v in value.items() if k != "name"}}
        return value


class TrainerSpec(_Model):
    """The user's own training code, instead of a task (see :mod:`paretolab.trials`).

    ``function: file.py:train`` (or ``package.module:train``) is called with a
    :class:`paretolab.TrialContext` and returns the final metrics; ``command: [prog, arg, ...]``
    is run per trial, ``{name}`` placeholders replaced by param and weight values (``{lr}``,
    ``{w.ce}``, ``{trial_dir}``, ``{steps}``, ``{seed}``). ``params`` are fixed values every
    trial gets besides the searched ones.
    """

    function: str | None = Field(None, min_length=1, description="file.py:attr or package.module:attr")
    command: list[str] | None = Field(None, min_length=1, description="the program and its arguments")
    params: dict[str, Any] = Field(default_factory=dict, description="fixed params of every trial")
    kill_grace: float = Field(10.0, ge=0, description="seconds between SIGTERM and SIGKILL when a "
                              "command trial is stopped (pruned or timed out)")

    @model_validator(mode="after")
    def _one(self) -> TrainerSpec:
        if (self.function is None) == (self.command is None):
            raise ValueError("give exactly one of 'function' and 'command'")
        if self.function is not None and ":" not in self.function:
            raise ValueError(f"function {self.function!r} must be 'file.py:attr' or 'package.module:attr'")
        return self

    @property
    def kind(self) -> str:
        """``function`` or ``command``."""
        return "function" if self.function is not None else "command"


class OneRunSpec(_Model):
    """One training run per trial learns the whole front: Pareto manifold learning
    (Dimitriadis, Frossard, Fleuret, ICML 2023).

    A run trains anchor copies of the task's model jointly: each step samples a preference ``a``
    on the loss simplex (Dirichlet with ``concentration``; 1 is uniform), mixes the anchors into
    ``theta(a)`` and applies the ``a``-weighted losses (the trial's balancer with ``a`` as its
    weights). After training it evaluates ``theta(a)`` at ``preferences`` points of a grid on the
    simplex; each becomes a trial of the study. ``degree`` 1 is the paper's one anchor per loss;
    2 or more mixes with a Bezier simplex of that degree (more anchors, a curved front).
    A list of degrees or ``[low, high]`` concentrations is searched per run.
    """

    method: Literal["pml"] = Field("pml", description="pml: Pareto manifold learning")
    degree: int | list[int] = Field(1, description="1: one anchor per loss (the paper); 2-4: a "
                                    "Bezier simplex of that degree (more anchors); a list: searched")
    concentration: float | list[float] = Field(1.0, description="Dirichlet concentration of the "
                                               "preferences sampled per step (1: uniform on the "
                                               "simplex); [low, high]: searched on a log scale")
    samples_per_step: int = Field(1, ge=1, le=64, description="preferences sampled per batch "
                                  "(their losses averaged)")
    preferences: int = Field(11, ge=2, le=2000, description="evaluated preferences per run: a grid "
                             "on the simplex (with 3+ losses the largest Das-Dennis lattice of at "
                             "most this many points)")
    init: Literal["independent", "same"] = Field("independent", description="anchors start from "
                                                 "independently seeded models (the paper) or all "
                                                 "from the trial's model")

    @field_validator("degree")
    @classmethod
    def _degree(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, bool) or not 1 <= v <= 4 for v in values):
            raise ValueError(f"degree must be 1, 2, 3 or 4 (or a list of them), got {value!r}")
        if isinstance(value, list) and len(set(values)) != len(values):
            raise ValueError(f"degree lists a value twice: {value!r}")
        return value

    @field_validator("concentration")
    @classmethod
    def _concentration(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) != 2 or not 0 < value[0] < value[1]:
                raise ValueError("a searched concentration is [low, high] with 0 < low < high, "
                                 f"got {value!r}")
        elif not value > 0:
            raise ValueError(f"concentration must be > 0, got {value!r}")
        return value


class StudySpec(_Model):
    """A whole study file."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    task: TaskSpec | None = None
    trainer: TrainerSpec | None = Field(None, description="your own training code instead of a task")
    losses: LossesSpec = Field(default_factory=LossesSpec)
    objectives: list[Objective] = Field(min_length=1, json_schema_extra=_objectives_schema)
    constraints: list[Constraint] = Field(default_factory=list, json_schema_extra=_or_single)
    search: SearchSpec = Field(default_factory=SearchSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    one_run: OneRunSpec | None = Field(None, description="learn the whole front in one training run "
                                       "per trial (Pareto manifold learning); off by default")
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruning: PruningSpec = Field(default_factory=PruningSpec)
    storage: str | None = Field(None, description="Optuna storage URL; default: SQLite file in "
                                "the study directory")
    output_dir: str | None = Field(None, description="default: reports/<name>")
    workers: int | Literal["auto"] = Field(1, description="worker processes: N, or auto (one "
                                           "per GPU, else one per CPU core)")
    trials_per_gpu: int = Field(1, ge=1, description="with workers: auto, workers per GPU")
    faults: FaultSpec = Field(default_factory=FaultSpec)
    log: LogSpec = Field(default_factory=LogSpec, description="experiment trackers (MLflow, "
                         "TensorBoard, W&B); off by default")
    device: str = "auto"
    seed: int = 0

    # where the file was read from; relative task paths resolve against it
    source: SkipJsonSchema[str | None] = Field(None, exclude=True)
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)
    _filename: str = PrivateAttr(default="<study>")
    _overrides: list[str] = PrivateAttr(default_factory=list)  # key=value from the command line

    def where(self, *path: str | int) -> str:
        """'file:line: field' for a field path, for error messages."""
        field = ".".join(str(p) for p in path)
        line = _best_line(self._lines, tuple(path))
        return f"{self._filename}:{line}: {field}" if line else f"{self._filename}: {field}"

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_map(cls, value: Any) -> Any:
        if isinstance(value, dict):  # {error: minimize, sparsity: maximize}
            return [{"name": k, "direction": v} for k, v in value.items()]
        return value

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraint_one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError("workers must be >= 1 or 'auto'")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
            raise ValueError(f"unknown device {value!r}: use auto, cpu, cuda, cuda:N or mps")
        return value

    @model_validator(mode="after")
    def _check(self) -> StudySpec:
        if (self.task is None) == (self.trainer is None):
            raise ValueError("give exactly one of 'task' (a task object) and 'trainer' (your own "
                             "training code)")
        if self.trainer is not None and not self.losses.terms and not self.losses.groups:
            raise ValueError("with 'trainer', 'losses' must name the losses the weights are for")
        if self.task is not None:
            for key in self.search.params:
                if key not in TRAIN_KNOBS and not key.startswith("task."):
                    raise ValueError(f"unknown knob {key!r}: use one of {', '.join(TRAIN_KNOBS)} "
                                     "or 'task.<param>' for a task parameter")
        if self.one_run is not None:
            self._check_one_run()
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"an objective is listed twice: {names}")
        if self.pruning.method != "none" and \
                self.pruning.resolved_min_steps(self.budget.steps) >= self.budget.steps:
            raise ValueError(f"pruning.min_steps ({self.pruning.resolved_min_steps(self.budget.steps)}) "
                             f"must be below budget.steps ({self.budget.steps}): no rung to prune at")
        return self

    def _check_one_run(self) -> None:
        if self.trainer is not None:
            raise ValueError("one_run trains a task's model: it needs 'task', not 'trainer' (in your own "
                             "loop, use paretolab.ParetoManifold)")
        if self.pruning.method != "none":
            raise ValueError("one_run and pruning cannot be combined: a run is judged by the points "
                             "it adds at its end (set pruning: none)")
        if self.budget.repeats != 1:
            raise ValueError("one_run and budget.repeats cannot be combined (set repeats: 1)")
        if self.search.weights.model_dump() != WeightsSpec().model_dump():
            raise ValueError("one_run evaluates its own grid of preferences: remove search.weights "
                             "(one_run.preferences sets how many)")

    # --- derived ---------------------------------------------------------------------------
    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def slug(self) -> str:
        """The study's folder name: the name itself when it is a plain file name, else a
        readable part plus a short hash of the name, so two names never share a folder."""
        return study_slug(self.name)

    @property
    def study_dir(self) -> Path:
        """``output_dir``, else ``reports/<slug>``; a study created by a version that named
        folders without the hash keeps its old folder."""
        if self.output_dir:
            return Path(self.output_dir)
        folder = Path("reports") / self.slug
        legacy = Path("reports") / _legacy_slug(self.name)
        if legacy != folder and not folder.exists() and _holds_study(legacy / "study.db", self.name):
            return legacy
        return folder

    @property
    def base_dir(self) -> Path:
        return Path(self.source).parent if self.source else Path.cwd()

    @property
    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{(self.study_dir / 'study.db').as_posix()}"

    @property
    def eval_every(self) -> int:
        return self.budget.eval_every or max(1, self.budget.steps // 10)


# --- folder names ------------------------------------------------------------------------
_SLUG_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _legacy_slug(name: str) -> str:
    """The folder name earlier versions gave every study: other characters than letters,
    digits, ``.``, ``_`` and ``-`` replaced by ``_``, cut at 100 (so names could collide)."""
    return (_SLUG_CHARS.sub("_", name).strip("._") or "study")[:100]


def study_slug(name: str) -> str:
    """A folder name unique to the study name.

    A plain name (letters, digits, and ``.``, ``_``, ``-`` inside; at most 100) is its own
    folder (``quickstart`` -> ``reports/quickstart``). Any other name loses characters when made
    safe, so 8 hex digits of its SHA-1 follow the readable part: ``"étude"`` and ``"研究"`` no
    longer both become ``study``, nor ``"a b"`` and ``"a_b"`` both ``a_b``.
    """
    legacy = _legacy_slug(name)
    if legacy == name:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{legacy[:80]}-{digest}"


def stored_study_names(db: Path) -> list[str]:
    """The names of the Optuna studies in the SQLite file ``db`` (a read-only look without
    Optuna; empty when there is no such file or it holds no studies table)."""
    if not db.is_file():
        return []
    import sqlite3

    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return [name for (name,) in conn.execute("SELECT study_name FROM studies ORDER BY study_id")]
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _holds_study(db: Path, name: str) -> bool:
    """Whether the SQLite file ``db`` holds an Optuna study named ``name``."""
    return name in stored_study_names(db)


def _best_line(index: dict[tuple, int], path: tuple) -> int | None:
    """The line of ``path`` in the file, else of its closest enclosing field."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in index:
            return index[path[:cut]]
    return None
