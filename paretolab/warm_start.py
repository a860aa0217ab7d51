"""Warm starts: a per-weight trial starts from the final checkpoint of the completed trial nearest
in preference space (Pareto continuation, Ma, Du, Matusik, ICML 2020).

With ``init: {from: nearest}`` in the study file every trained trial saves its final state dict as
``<study folder>/trials/<number>/final.pt``; a new trial looks for the completed trial whose
weights (normalised to sum to one) are nearest its own (Euclidean; the lowest number on a tie),
loads its checkpoint and trains ``init.steps`` steps (default: ``budget.steps``). A point of a
one-run study is a source too: its model is rebuilt from its run's saved specialists or anchors.
A trial with no completed trial before it starts fresh. The source's steps are not counted again:
the trial records only its own. The trial keeps a :class:`WarmStartRecord` (user attribute
``warm_start``): the source's number and the metrics the model had before its first step.
A source whose checkpoint is missing (deleted, or another machine's) fails the trial with a
message naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from paretolab.errors import TrialFailure
from paretolab.records import OneRunRecord, TrialStart
from paretolab.search_space import TrialConfig
from paretolab.trials import trial_dir

CHECKPOINT_FILE = "final.pt"
WARM_START_KEY = "warm_start"


@dataclass(frozen=True)
class WarmStartRecord:
    """Where a warm-started trial's model came from, and the metrics it started at."""

    source: int
    start_metrics: dict[str, float] = field(default_factory=dict)

    def write(self, trial: optuna.Trial) -> None:
        trial.set_user_attr(WARM_START_KEY, {"from": int(self.source),
                                             "start_metrics": dict(self.start_metrics)})

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> WarmStartRecord | None:
        data = trial.user_attrs.get(WARM_START_KEY)
        if not isinstance(data, Mapping) or "from" not in data:
            return None
        return cls(int(data["from"]), {str(k): float(v) for k, v in (data.get("start_metrics") or {}).items()})


def checkpoint_file(spec: Any, number: int) -> Path:
    """Where trial ``number`` keeps its final state dict."""
    return trial_dir(spec, number) / CHECKPOINT_FILE


def save_final(spec: Any, number: int, state: Mapping[str, Any]) -> Path:
    """Save a trial's final state dict (on the CPU, written atomically)."""
    import torch

    path = checkpoint_file(spec, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pt.tmp")
    torch.save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state.items()}, tmp)
    tmp.replace(path)
    return path


def _share(weights: Mapping[str, float], names: list[str]) -> list[float]:
    total = sum(max(0.0, float(weights.get(n, 0.0))) for n in names) or 1.0
    return [max(0.0, float(weights.get(n, 0.0))) / total for n in names]


def nearest_source(study: optuna.Study, weights: Mapping[str, float], exclude: int = -1
                   ) -> optuna.trial.FrozenTrial | None:
    """The completed trial (one-run points of a completed run included, runs themselves not)
    whose normalised weights are nearest ``weights``."""
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    names = list(weights)
    here = _share(weights, names)
    best: tuple[float, int] | None = None
    found = None
    for t in trials:
        if t.state != optuna.trial.TrialState.COMPLETE or t.number == exclude:
            continue
        link = OneRunRecord.read(t)
        if link is not None and (link.role == "run" or by_number.get(link.run) is None
                                 or by_number[link.run].state != optuna.trial.TrialState.COMPLETE):
            continue
        start = TrialStart.read(t)
        theirs = (start.config.get("weights") if start is not None else None) or {}
        if not theirs:
            continue
        distance = math.dist(here, _share(theirs, names))
        if best is None or (distance, t.number) < best:
            best, found = (distance, t.number), t
    return found


def source_state(spec: Any, study: optuna.Study, source: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The source trial's final model as a state dict (a point's: mixed from its run's file)."""
    import torch

    link = OneRunRecord.read(source)
    if link is not None and link.role == "point":
        from paretolab.one_run.train import load_point_model

        run = OneRunRecord.read(study.get_trials(deepcopy=False)[link.run])
        anchors = Path(run.anchors) if run is not None and run.anchors else None
        if anchors is None or not anchors.is_file():
            raise TrialFailure(f"warm start from trial {source.number}: the saved models of its run "
                               f"{link.run} ({anchors}) are missing; copy that run's folder back or "
                               "remove init from the study file")
        start = TrialStart.read(source)
        assert start is not None
        _, model = load_point_model(TrialConfig.from_dict(start.config), anchors, link.preference,
                                    spec.base_dir, "cpu")
        return dict(model.state_dict())
    path = checkpoint_file(spec, source.number)
    if not path.is_file():
        raise TrialFailure(f"warm start from trial {source.number}: its checkpoint {path} is missing "
                           "(trials save it only while the study has init: {from: nearest}); copy it "
                           "back or remove init from the study file")
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def choose_source(trial: optuna.Trial, config: TrialConfig, spec: Any) -> int | None:
    """Choose the trial's source and set its training length; the source's number (recorded in
    ``config.extra``, so a lost attempt's retry and ``pick`` see it), or None when no trial has
    completed yet (the trial starts fresh)."""
    source = nearest_source(trial.study, config.weights, exclude=trial.number)
    if source is None:
        return None
    if spec.init.steps:
        config.steps = int(spec.init.steps)
        config.eval_every = min(config.eval_every, config.steps)
    config.extra[WARM_START_KEY] = {"from": source.number}
    return source.number


def recorded_source(config: TrialConfig) -> int | None:
    """The source a configuration recorded (:func:`choose_source`)."""
    entry = config.extra.get(WARM_START_KEY)
    return int(entry["from"]) if isinstance(entry, Mapping) and "from" in entry else None
