"""Experiment trackers: each finished trial, and the study's front, sent to MLflow, TensorBoard, W&B.

The study file's ``log:`` section names the trackers (:class:`paretolab.spec.models.LogSpec`).
Each tracker is a small module with the same two calls, ``on_trial(record)`` for a finished
trial read back from storage (so any worker, on any machine, logs the trials it ran) and
``on_study_end(front, hypervolume)`` when ``paretolab run`` reaches the budget. A tracker that
fails (a server down, a full disk) logs a warning and never stops the study.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from paretolab.errors import SpecError
from paretolab.records import StudyMeta, TrialRecord

log = logging.getLogger(__name__)


class Tracker(Protocol):
    """What every tracker module provides."""

    def on_trial(self, record: TrialRecord) -> None: ...

    def on_study_end(self, front: list[TrialRecord], hypervolume: float) -> None: ...


def trial_params(record: TrialRecord) -> dict[str, Any]:
    """A trial's params as trackers show them: weights, balancer and its settings, searched knobs."""
    out: dict[str, Any] = {f"weight.{k}": v for k, v in record.weights.items()}
    out["balancer"] = record.balancer_method
    for key, value in (record.balancer.settings if record.balancer is not None else {}).items():
        out[f"balancer.{key}"] = value
    for key, value in record.knobs.items():
        out.setdefault(f"param.{key}", value)
    if record.seed is not None:
        out["seed"] = record.seed
    if record.steps is not None:
        out["steps"] = record.steps
    return out


def trial_curves(record: TrialRecord) -> tuple[list[int], dict[str, list[float]]]:
    """(steps, {name: values}) of the trial's recorded training curves (empty when none)."""
    curves = record.result.curves or {}
    steps = [int(s) for s in curves.get("step") or []]
    return steps, {k: [float(v) for v in vals] for k, vals in curves.items()
                   if k != "step" and isinstance(vals, list)}


def trial_values(record: TrialRecord, meta: StudyMeta) -> dict[str, float]:
    """The trial's final objectives (complete trials) and its other measured metrics."""
    out = {f"metric.{k}": float(v) for k, v in record.metrics.items() if isinstance(v, (int, float))}
    if record.values is not None:
        out.update({f"objective.{k}": float(v) for k, v in zip(meta.objectives, record.values)})
    return out


class Trackers:
    """The study file's trackers, each call guarded: a tracker's failure is a warning only."""

    def __init__(self, trackers: list[Any]):
        self.trackers = trackers

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def on_trial(self, record: TrialRecord) -> None:
        for tracker in self.trackers:
            try:
                tracker.on_trial(record)
            except Exception as exc:  # noqa: BLE001 - a tracker never stops the study
                log.warning("%s: trial %d not logged: %s: %s", type(tracker).__name__, record.number,
                            type(exc).__name__, exc)

    def on_study_end(self, front: list[TrialRecord], hypervolume: float) -> None:
        for tracker in self.trackers:
            try:
                tracker.on_study_end(front, hypervolume)
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: the front was not logged: %s: %s", type(tracker).__name__,
                            type(exc).__name__, exc)


def _missing(tracker: str, package: str) -> SpecError:
    return SpecError(f"log.{tracker} needs the {package} package", where=f"log.{tracker}",
                     hint=f"pip install 'paretolab[trackers]' (or pip install {package})")


def open_trackers(spec: Any, meta: StudyMeta) -> Trackers:
    """The trackers the study file's ``log:`` section names (none: an empty, falsy Trackers).
    A named tracker whose library is missing is a user error (exit 2) before any trial runs."""
    section = getattr(spec, "log", None)
    if section is None:
        return Trackers([])
    study_dir = Path(spec.study_dir)
    found: list[Any] = []
    if section.mlflow is not None:
        try:
            from paretolab.trackers.mlflow import MlflowTracker
        except ImportError:
            raise _missing("mlflow", "mlflow-skinny") from None
        uri = section.mlflow.tracking_uri or f"sqlite:///{(study_dir / 'mlflow.db').as_posix()}"
        _start(found, "mlflow", lambda: MlflowTracker(meta, uri, section.mlflow.experiment or meta.name))
    if section.tensorboard is not None:
        try:
            from paretolab.trackers.tensorboard import TensorboardTracker
        except ImportError:
            raise _missing("tensorboard", "tensorboard") from None
        folder = Path(section.tensorboard.dir) if section.tensorboard.dir else study_dir / "tensorboard"
        if not folder.is_absolute() and section.tensorboard.dir and spec.base_dir is not None:
            folder = Path(spec.base_dir) / folder
        _start(found, "tensorboard", lambda: TensorboardTracker(meta, folder))
    if section.wandb is not None:
        try:
            from paretolab.trackers.wandb import WandbTracker
        except ImportError:
            raise _missing("wandb", "wandb") from None
        w = section.wandb
        _start(found, "wandb",
               lambda: WandbTracker(meta, w.project or meta.name, w.entity, w.mode, study_dir))
    return Trackers(found)


def _start(found: list[Any], name: str, make: Any) -> None:
    """Start one tracker; one that cannot (a server down) is a warning, and the study goes on."""
    try:
        found.append(make())
    except Exception as exc:  # noqa: BLE001 - a tracker never stops the study
        log.warning("log.%s: not logging this worker's trials: %s: %s", name, type(exc).__name__, exc)
