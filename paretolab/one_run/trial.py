"""A one-run trial in a study: sample the run's settings, train the manifold, add its points.

The trial that trains (the *run*) samples only the run's own settings: the balancer and its
settings, ``search.params`` (lr, ...), and ``one_run.degree`` / ``one_run.concentration`` when
the study file gives them as lists. It then adds one finished trial per evaluated preference
with ``study.add_trial`` (:func:`paretolab.records.point_trial`): the run's params (so the sampler
learns which run settings give good points), the preference as its weights, its metrics and
constraints, and a link to the run (:class:`~paretolab.records.OneRunRecord`). The points do not
count toward the budget: the run does, once. The run's own values are the nadir of its points
(each objective's worst value over them), so Optuna's own front never shows it, and paretolab's
readers leave it out altogether (:func:`paretolab.records.front_candidates`).

Points are added at the very end, after every evaluation, and count only once their run has
completed: a run interrupted or lost meanwhile is redone (a new trial) and adds its own points,
the earlier ones staying ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import optuna

from paretolab import measure
from paretolab.errors import TrialFailure
from paretolab.one_run.refine import point_params
from paretolab.one_run.train import ONE_RUN_EXTRA, OneRunResult, train_run
from paretolab.records import OneRunRecord, TrialResult, TrialStart, point_trial
from paretolab.search_space import TrialConfig, suggest_config
from paretolab.spec import StudySpec, WeightsSpec

ANCHORS_FILE = "anchors.pt"


def run_dir(spec: StudySpec, number: int) -> Path:
    """Where run ``number`` keeps its anchors: ``<study folder>/runs/<number>`` (absolute)."""
    return (Path(spec.study_dir) / "runs" / str(int(number))).resolve()


def suggest_run_config(trial: optuna.Trial, spec: StudySpec, balanced_names: list[str],
                       loss_groups: dict[str, dict[str, float]]) -> TrialConfig:
    """The run's configuration: the study's balancer and params, no weights sampled (the
    balancer gets each step's preference), and the run's settings in ``extra['one_run']``."""
    one = spec.one_run
    assert one is not None
    centre = {n: 1.0 / len(balanced_names) for n in balanced_names}
    fixed = spec.model_copy(update={"search": spec.search.model_copy(
        update={"weights": WeightsSpec(mode="fixed", fixed=centre)})})
    config = suggest_config(trial, fixed, balanced_names, loss_groups)
    degree = one.degree if not isinstance(one.degree, list) else \
        trial.suggest_categorical("one_run.degree", one.degree)
    concentration = one.concentration if not isinstance(one.concentration, list) else \
        trial.suggest_float("one_run.concentration", one.concentration[0], one.concentration[1], log=True)
    config.extra[ONE_RUN_EXTRA] = {"method": one.method, "degree": int(degree),
                                   "concentration": float(concentration),
                                   "samples_per_step": one.samples_per_step,
                                   "preferences": one.preferences, "init": one.init}
    if one.method == "soup":
        config.extra[ONE_RUN_EXTRA].update(corner=one.corner, pretrain_steps=one.pretrain_steps,
                                           specialists=one.specialists)
    return config


def nadir(values: list[list[float]], directions: Sequence[str]) -> list[float]:
    """Each objective's worst value over ``values``."""
    return [max(col) if d == "minimize" else min(col) for col, d in zip(zip(*values), directions)]


def run_one_run(trial: optuna.Trial, config: TrialConfig, spec: StudySpec, device: str,
                start: TrialStart, *, dashboard: bool) -> tuple[TrialResult, list[float], dict[str, float]]:
    """Train the run, save its anchors, add its points to the study; returns the run's own
    (result, values, violations) for the objective to record."""
    import torch

    outcome: OneRunResult = train_run(config, device, base_dir=spec.base_dir)
    folder = run_dir(spec, trial.number)
    folder.mkdir(parents=True, exist_ok=True)
    anchors = folder / ANCHORS_FILE
    tmp = anchors.with_suffix(".pt.tmp")
    torch.save(outcome.saved_state(), tmp)
    tmp.replace(anchors)
    points: list[tuple[list[float], dict[str, float], dict[str, float], dict[str, float], float]] = []
    for pref, metrics, spent in zip(outcome.preferences, outcome.metrics, outcome.eval_time_s):
        values = measure.objective_values(metrics, spec.objective_names)
        if not all(v == v for v in values):
            raise TrialFailure(f"an objective is NaN at preference {pref}")
        points.append((values, measure.violations(metrics, spec.constraints), pref, metrics, spent))
    mixes: list[list[float] | None] = [None] * len(points)
    if outcome.mixes is not None:
        mixes = list(outcome.mixes)
    for (values, violations, pref, metrics, spent), mix in zip(points, mixes):
        link = {"run": trial.number, "preference": dict(pref)}
        if mix is not None:  # a soup's point: its specialists' mixing coefficients
            link["mix"] = [float(m) for m in mix]
        point_config = TrialConfig.from_dict({**config.to_dict(), "weights": dict(pref),
                                              "extra": {**config.extra, ONE_RUN_EXTRA: {
                                                  **config.extra[ONE_RUN_EXTRA], **link}}})
        params, distributions = point_params(trial, spec, pref)
        frozen = point_trial(
            values, TrialStart(point_config.to_dict(), start.worker, start.host),
            TrialResult(metrics=dict(metrics), steps=0, wall_time_s=spent, device=outcome.device),
            OneRunRecord("point", trial.number, preference=dict(pref)), violations,
            params=params, distributions=distributions, dashboard=dashboard)
        trial.study.add_trial(frozen)
    numbers = _point_numbers(trial.study, trial.number)
    eval_time = float(sum(outcome.eval_time_s))
    OneRunRecord("run", trial.number, points=tuple(numbers), anchors=str(anchors),
                 train_steps=outcome.steps, eval_time_s=eval_time).write(trial)
    # its cost, counted once: every forward-backward pass (batches x samples_per_step)
    result = TrialResult(metrics={}, curves=outcome.curves, steps=outcome.passes,
                         wall_time_s=outcome.train_time_s + eval_time, device=outcome.device)
    all_values = [p[0] for p in points]
    violations = {k: max(p[1][k] for p in points) for k in points[0][1]} if points[0][1] else {}
    return result, nadir(all_values, spec.directions), violations


def _point_numbers(study: optuna.Study, run: int) -> list[int]:
    """The numbers of the points stored for ``run``."""
    out = []
    for t in study.get_trials(deepcopy=False):
        link = OneRunRecord.read(t)
        if link is not None and link.role == "point" and link.run == run:
            out.append(t.number)
    return out
