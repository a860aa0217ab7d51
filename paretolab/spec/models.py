"""The study file's models (pydantic): fields, defaults, short forms and the checks that need
nothing but the file itself.

Each model parses its own short forms (``task: toy``, ``losses: [a, b]``, ``sampler: tpe``, ...)
in a ``mode="before"`` validator and declares the same forms for the JSON Schema beside it
(:meth:`_Model.short_forms`, :func:`_or_single`, ...), so the grammar is written once.
This module imports neither torch nor Optuna.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from paretolab.spec.base import SAMPLERS, Direction, JsonSchema, SamplerName, _Model, _or_single
from paretolab.spec.engines import RayWorkers, parse_workers
from paretolab.spec.folders import study_slug
from paretolab.spec.goals import Constraint, LossesSpec, Objective, _objectives_schema
from paretolab.spec.search import (
    BalancerChoice,
    Choice,
    FloatRange,
    IntRange,
    Knob,
    SearchSpec,
    WeightsSpec,
)
from paretolab.spec.settings import (
    TRAIN_KNOBS,
    BudgetSpec,
    FaultSpec,
    InitSpec,
    LogSpec,
    MlflowLog,
    OneRunSpec,
    PruningMethod,
    PruningSpec,
    SamplerSpec,
    TaskSpec,
    TensorboardLog,
    TrainerSpec,
    TrainSpec,
    WandbLog,
)

__all__ = [
    "SAMPLERS", "TRAIN_KNOBS", "BalancerChoice", "BudgetSpec", "Choice", "Constraint", "Direction",
    "FaultSpec", "FloatRange", "InitSpec", "IntRange", "JsonSchema", "Knob", "LogSpec", "LossesSpec", "MlflowLog",
    "Objective", "OneRunSpec", "PruningMethod", "PruningSpec", "SamplerName", "SamplerSpec",
    "SearchSpec", "StudySpec", "TaskSpec", "TensorboardLog", "TrainSpec", "TrainerSpec", "WandbLog",
    "WeightsSpec", "study_slug",
]


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
    init: InitSpec | None = Field(None, description="warm starts: {from: nearest} starts a trial "
                                  "from the nearest completed trial's final checkpoint")
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruning: PruningSpec = Field(default_factory=PruningSpec)
    storage: str | None = Field(None, description="Optuna storage URL; default: SQLite file in "
                                "the study directory")
    output_dir: str | None = Field(None, description="default: reports/<name>")
    workers: int | Literal["auto"] | RayWorkers = Field(
        1, description="worker processes: N, or auto (one per GPU, else one per CPU core), or "
        "{engine: ray, address: ..., count: N} for workers on a Ray cluster")
    trials_per_gpu: int = Field(1, ge=1, description="with workers: auto, workers per GPU")
    threads: int | None = Field(None, ge=1, description="torch threads per worker (default: the usable "
                                "cores split between the local workers); recorded with each trial")
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
    # the folder paretolab.locate.locate_folder found (an earlier version's folder), else None
    _folder: Path | None = PrivateAttr(default=None)

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

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_engine(cls, value: Any) -> Any:
        return parse_workers(value)

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
        if self.init is not None and self.trainer is not None:
            raise ValueError("init (warm starts) loads a task's model: it needs 'task', not 'trainer'")
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
        one = self.one_run
        assert one is not None
        if one.then is None and self.search.weights.model_dump() != WeightsSpec().model_dump():
            raise ValueError("one_run evaluates its own grid of preferences: remove search.weights "
                             "(one_run.preferences sets how many)")
        if one.then == "sampler" and self.search.weights.mode != "simplex":
            raise ValueError("one_run.then: sampler gives the run's points to the sampler as weights "
                             "it searches: use search.weights spread log or uniform")
        if one.method == "pml" and (one.specialists is not None or one.pretrain_steps):
            raise ValueError("one_run.specialists and pretrain_steps are for method: soup")
        if one.method == "soup" and one.model_fields_set & {"degree", "concentration", "samples_per_step", "init"}:
            raise ValueError("one_run.degree, concentration, samples_per_step and init are for method: pml "
                             "(a soup interpolates its specialists linearly)")

    # --- derived ---------------------------------------------------------------------------
    @property
    def directions(self) -> list[Direction]:
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
        """``output_dir``, else ``reports/<slug>``, else the older folder of a study created by a
        version that named folders without the hash (found when the file was read or checked:
        :func:`paretolab.locate.locate_folder`; this property reads no file)."""
        if self.output_dir:
            return Path(self.output_dir)
        return self._folder or Path("reports") / self.slug

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


def _best_line(index: dict[tuple, int], path: tuple) -> int | None:
    """The line of ``path`` in the file, else of its closest enclosing field."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in index:
            return index[path[:cut]]
    return None
