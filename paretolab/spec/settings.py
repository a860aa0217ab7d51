"""The study file's run settings: ``train:``, ``budget:``, ``sampler:``, ``pruning:``,
``faults:``, ``log:``, ``task:``, ``trainer:`` and ``one_run:``."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from paretolab.spec.base import SAMPLERS, JsonSchema, SamplerName, _Model
from paretolab.spec.defaults import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    MAX_CONSECUTIVE_FAILURES,
    MAX_RETRIES,
    STORAGE_PATIENCE_S,
    grace_problem,
)


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
    # a curriculum the task sees (paretolab.curriculum): progress in [0, 1] -> difficulty
    curriculum: Literal["none", "linear", "exponential", "adaptive"] = Field(
        "none", description="the difficulty schedule handed to a task's set_curriculum(progress, "
        "difficulty): linear or exponential from curriculum_initial to curriculum_final over the "
        "run, adaptive a step of curriculum_increment each time an evaluation's curriculum_metric "
        "reaches curriculum_target")
    curriculum_initial: float = Field(0.0, description="the difficulty at the start")
    curriculum_final: float = Field(1.0, description="the difficulty at the end")
    curriculum_metric: str | None = Field(None, description="adaptive: the metric it watches")
    curriculum_target: float | None = Field(None, description="adaptive: the metric's value that "
                                            "moves it on")
    curriculum_direction: Literal["maximize", "minimize"] = Field(
        "maximize", description="adaptive: whether the metric must reach the target from below or above")
    curriculum_increment: float = Field(0.25, gt=0, le=1, description="adaptive: the fraction of the "
                                        "way from initial to final of one step")

    @model_validator(mode="after")
    def _curriculum(self) -> TrainSpec:
        from paretolab.curriculum import Curriculum

        Curriculum.from_train(self.model_dump())  # raises ValueError on a schedule it cannot run
        return self


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
    then crowding distance). See :mod:`paretolab.pruning`.
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


