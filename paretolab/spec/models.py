"""The study file: schema (pydantic), defaults, and validation with clear messages.

``load_spec(path)`` reads a YAML study file (safe load, duplicate keys rejected), validates it and
returns a :class:`StudySpec`; any problem raises :class:`~paretolab.errors.SpecError` naming the
field, the line, and the fix. Checks that need the task (loss and metric names) live in
:mod:`paretolab.spec_check`, so this module imports no torch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from paretolab.errors import SpecError
from paretolab.storage import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, MAX_RETRIES, STORAGE_PATIENCE_S

SAMPLERS = ("auto", "tpe", "nsga2", "nsga3", "gp", "random", "qmc")
TRAIN_KNOBS = ("lr", "optimizer", "batch_size", "weight_decay", "momentum", "grad_clip",
               "lr_schedule", "warmup_steps")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


Knob = Annotated[FloatRange | IntRange | Choice, Field(discriminator="type")]


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
class LossesSpec(_Model):
    """The loss terms the task produces, optionally grouped (fixed inner coefficients).

    The balancer sees one loss per group; a term in no group stands as its own group.
    """

    terms: list[str] | None = None
    groups: dict[str, dict[str, float]] = Field(default_factory=dict)

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
    direction: Literal["minimize", "maximize"] = "minimize"
    ref: float | None = None


_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class Constraint(_Model):
    """``metric <= value`` or ``metric >= value``; becomes an Optuna 5 trial constraint."""

    metric: str
    op: Literal["<=", ">="]
    value: float

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
    ranges: dict[str, FloatRange] = Field(default_factory=dict)

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

    method: str
    settings: dict[str, Any] = Field(default_factory=dict)
    search: Literal["none", "all"] = "none"

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
                                           min_length=1)
    params: dict[str, Knob] = Field(default_factory=dict)

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

    @field_validator("params")
    @classmethod
    def _known(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key not in TRAIN_KNOBS and not key.startswith("task."):
                raise ValueError(f"unknown knob {key!r}: use one of {', '.join(TRAIN_KNOBS)} "
                                 "or 'task.<param>' for a task parameter")
        return value


# --- training, budget, sampler -----------------------------------------------------------
class TrainSpec(_Model):
    """Training settings used by every trial unless ``search.params`` samples them."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    batch_size: int = Field(64, ge=1)
    grad_clip: float | None = Field(10.0, gt=0)
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    conflict_stats: Literal["auto", "on", "off"] = Field(
        "auto", description="record gradient cosine similarity at every evaluation: auto = when "
        "the balancer computes task gradients anyway (free), on = always (one extra pass for "
        "loss-level methods), off = never")


class BudgetSpec(_Model):
    """How much compute the study gets."""

    trials: int = Field(20, ge=1)
    steps: int = Field(200, ge=1, description="training steps per trial")
    timeout: float | None = Field(None, gt=0, description="wall-clock limit for the study, seconds")
    eval_every: int | None = Field(None, ge=1, description="record curves every k steps "
                                   "(default: steps/10)")


class SamplerSpec(_Model):
    """An Optuna sampler by short name, with keyword options passed to its constructor."""

    name: Literal["auto", "tpe", "nsga2", "nsga3", "gp", "random", "qmc"] = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value.lower()}
        return value


class PruningSpec(_Model):
    """Multi-objective early stopping (asynchronous successive halving, MO-ASHA).

    Rungs at ``min_steps * eta**k`` steps below ``budget.steps``; at each rung a trial continues
    only if it is within the top ``1/eta`` of the trials that reached it (non-dominated rank,
    then hypervolume contribution). See :mod:`paretolab.pruning`.
    """

    method: Literal["none", "moasha"] = "none"
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
    """How workers notice a lost worker and a lost storage (see :mod:`paretolab.runner`)."""

    heartbeat_interval: int = Field(HEARTBEAT_INTERVAL_S, ge=1, description="seconds between a running trial's heartbeats")
    grace_period: int = Field(GRACE_PERIOD_S, ge=2, description="a trial without a heartbeat for this long is "
                              "lost (its worker died): it is failed and re-run")
    max_retries: int = Field(MAX_RETRIES, ge=0, description="re-runs of a lost trial with the same params and seed")
    storage_patience: float = Field(STORAGE_PATIENCE_S, gt=0, description="seconds a worker keeps retrying a "
                                    "lost storage (with back-off) before it stops with an error")

    @model_validator(mode="after")
    def _grace(self) -> FaultSpec:
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError(f"grace_period ({self.grace_period} s) must be longer than "
                             f"heartbeat_interval ({self.heartbeat_interval} s)")
        return self


class TaskSpec(_Model):
    """Which task: a built-in name, ``package.module:attr`` or ``path/to/file.py:attr``."""

    ref: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"ref": value}
        if isinstance(value, dict) and "name" in value and "ref" not in value:
            return {"ref": value["name"], **{k: v for k, v in value.items() if k != "name"}}
        return value


class StudySpec(_Model):
    """A whole study file."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    task: TaskSpec
    losses: LossesSpec = Field(default_factory=LossesSpec)
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    search: SearchSpec = Field(default_factory=SearchSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruning: PruningSpec = Field(default_factory=PruningSpec)
    storage: str | None = Field(None, description="Optuna storage URL; default: SQLite file in "
                                "the study directory")
    output_dir: str | None = Field(None, description="default: reports/<name>")
    workers: int | Literal["auto"] = Field(1, description="worker processes: N, or auto (one "
                                           "per GPU, else one per CPU core)")
    trials_per_gpu: int = Field(1, ge=1, description="with workers: auto, workers per GPU")
    faults: FaultSpec = Field(default_factory=FaultSpec)
    device: str = "auto"
    seed: int = 0

    # where the file was read from; relative task paths resolve against it
    source: str | None = Field(None, exclude=True)
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)
    _filename: str = PrivateAttr(default="<study>")

    def where(self, *path: str | int) -> str:
        """'file:line: field' for a field path, for error messages."""
        field = ".".join(str(p) for p in path)
        line = _best_line(self._lines, tuple(path))
        return f"{self._filename}:{line}: {field}" if line else f"{self._filename}: {field}"

    @field_validator("losses", mode="before")
    @classmethod
    def _loss_list(cls, value: Any) -> Any:
        return {"terms": value} if isinstance(value, list) else value

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_short(cls, value: Any) -> Any:
        if isinstance(value, dict):  # {error: minimize, sparsity: maximize}
            return [{"name": k, "direction": v} for k, v in value.items()]
        if isinstance(value, list):
            out = []
            for item in value:
                if isinstance(item, str):
                    out.append({"name": item})
                elif isinstance(item, dict) and len(item) == 1 and "name" not in item:
                    (k, v), = item.items()
                    out.append({"name": k, "direction": v})
                else:
                    out.append(item)
            return out
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
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"an objective is listed twice: {names}")
        if self.pruning.method != "none" and \
                self.pruning.resolved_min_steps(self.budget.steps) >= self.budget.steps:
            raise ValueError(f"pruning.min_steps ({self.pruning.resolved_min_steps(self.budget.steps)}) "
                             f"must be below budget.steps ({self.budget.steps}): no rung to prune at")
        return self

    # --- derived ---------------------------------------------------------------------------
    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def slug(self) -> str:
        """The study name made safe for a directory name."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._") or "study"
        return slug[:100]

    @property
    def study_dir(self) -> Path:
        return Path(self.output_dir) if self.output_dir else Path("reports") / self.slug

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


# --- reading files -----------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


def _line_index(text: str) -> dict[tuple, int]:
    """Map each path in the YAML document (keys, list indices) to its 1-based line."""
    index: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: Any, path: tuple) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = path + (key_node.value,)
                index[child] = key_node.start_mark.line + 1
                walk(value_node, child)
                index[child] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return index


def _field_path(loc: tuple) -> tuple:
    """Drop pydantic's union tags (e.g. 'float', 'function-before[...]') from an error path."""
    return tuple(p for p in loc if isinstance(p, int) or not (
        p in ("float", "int", "categorical", "str", "list[...]") or "[" in str(p)))


def _best_line(index: dict[tuple, int], path: tuple) -> int | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in index:
            return index[path[:cut]]
    return None


def _format_validation(err: ValidationError, index: dict[tuple, int], filename: str) -> SpecError:
    first = err.errors()[0]
    path = _field_path(tuple(first["loc"]))
    field = ".".join(str(p) for p in path) or "(top level)"
    line = _best_line(index, path)
    where = f"{filename}:{line}: {field}" if line else f"{filename}: {field}"
    kind = first["type"]
    msg = first["msg"].removeprefix("Value error, ")
    hint = None
    if kind == "extra_forbidden":
        parent = path[:-1]
        model = _model_at(parent)
        valid = sorted(model.model_fields) if model is not None else []
        valid = [v for v in valid if v != "source"]
        msg = f"unknown field {path[-1]!r}"
        hint = f"valid fields here: {', '.join(valid)}" if valid else "remove it"
    elif kind == "missing":
        msg = "required field is missing"
        hint = f"add '{path[-1]}:' to the study file"
    elif kind == "literal_error":
        hint = "use one of the values listed"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        hint = f"got {first.get('input')!r}"
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SpecError(msg, where=where, hint=hint)


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``path`` (for listing valid fields)."""
    model: Any = StudySpec
    for part in path:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or ())]
        for cand in candidates:
            sub = getattr(cand, "__args__", None)
            for c in [cand, *(sub or ())]:
                if isinstance(c, type) and issubclass(c, BaseModel):
                    model = c
                    break
            else:
                continue
            break
        else:
            return None
    return model


def parse_spec(text: str, filename: str = "<study>", source: str | None = None) -> StudySpec:
    """Parse and validate study-file text (no task loading)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        hint = ("keep one of the two entries" if "duplicate key" in str(problem)
                else "check indentation, colons and quotes on that line")
        raise SpecError(f"YAML syntax error: {problem}", where=where, hint=hint) from None
    if not isinstance(data, dict):
        raise SpecError("a study file must be a YAML mapping (name:, task:, objectives:, ...)",
                        where=filename, hint="see studies/quickstart.yaml for an example")
    if source is not None:
        data = {**data, "source": source}
    lines = _line_index(text)
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as err:
        raise _format_validation(err, lines, filename) from None
    spec._lines = lines
    spec._filename = filename
    return spec


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study file (schema only; see spec_check for the task checks)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"study file {str(path)!r} not found", hint="check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {str(path)!r}: {exc}") from None
    return parse_spec(text, filename=str(path), source=str(path.resolve()))


def json_schema() -> dict[str, Any]:
    """JSON Schema of the study file, for editors; it also accepts the documented short forms
    (``task: toy``, ``losses: [a, b]``, ``objectives: [error]``, ``sampler: tpe``, ...)."""
    schema = StudySpec.model_json_schema()
    props, defs = schema["properties"], schema["$defs"]
    props.pop("source", None)

    def either(node: dict[str, Any], *alternatives: dict[str, Any]) -> dict[str, Any]:
        keep = {k: node.pop(k) for k in ("title", "description", "default") if k in node}
        return {**keep, "anyOf": [node, *alternatives]}

    string = {"type": "string"}
    direction = {"enum": ["minimize", "maximize"]}
    props["task"] = either(props["task"], string)
    props["losses"] = either(props["losses"], {"type": "array", "items": string})
    props["objectives"]["items"] = either(
        props["objectives"]["items"], string,
        {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": direction})
    props["objectives"] = either(props["objectives"], {"type": "object", "additionalProperties": direction})
    props["constraints"]["items"] = either(props["constraints"]["items"], string)
    props["constraints"] = either(props["constraints"], string)
    props["sampler"] = either(props["sampler"], {"enum": list(SAMPLERS)})
    props["pruning"] = either(props["pruning"], {"enum": ["none", "moasha"]})
    search = defs["SearchSpec"]["properties"]
    search["weights"] = either(search["weights"], {"enum": ["simplex"]})
    search["balancer"]["items"] = either(search["balancer"]["items"], string)
    search["balancer"] = either(search["balancer"], string)
    knob = search["params"]["additionalProperties"]
    knob.pop("discriminator", None)
    knob["oneOf"] = [{"$ref": "#/$defs/FloatRange"}, {"$ref": "#/$defs/IntRange"},
                     {"$ref": "#/$defs/Choice"}, {"type": "array"}]
    defs["BalancerChoice"]["additionalProperties"] = True  # settings may be written inline
    ranges = defs["WeightsSpec"]["properties"]["ranges"]
    ranges["additionalProperties"] = either(ranges["additionalProperties"],
                                            {"type": "array", "items": {"type": "number"},
                                             "minItems": 2, "maxItems": 2})
    defs["LossesSpec"]["properties"]["groups"]["additionalProperties"] = {
        "anyOf": [{"type": "object", "additionalProperties": {"type": "number"}},
                  {"type": "array", "items": string}]}
    schema["title"] = "paretolab study file"
    return schema
