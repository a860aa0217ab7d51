"""Multi-objective early stopping across trials at equal budget (asynchronous successive halving).

Optuna cannot prune multi-objective studies (``trial.report`` raises for them), so paretolab does
it itself, in the spirit of MO-ASHA (Schmucker et al. 2021) on ASHA (Li et al. 2020):

* **Rungs** at ``min_steps * eta**k`` training steps (k = 0, 1, ...) strictly below the trial's
  budget. A trial is judged at a rung at its first evaluation at or after the rung step (the
  objective asks the trainer to evaluate exactly there); every trial of a study is judged at the
  same step, so the comparison is at equal budget.
* **Record**: at each rung the trial writes its objective vector (the task's validation
  metrics), its total constraint violation and its metrics as its rung record
  (:class:`paretolab.records.RungRecord`) in Optuna storage.
* **Decide**: it then reads every trial's record at that rung from storage (any state: running
  trials of other workers, complete, pruned or failed ones that got there) and orders them by
  constraint-domination non-dominated rank (:func:`paretolab.dominance.pareto_ranks`), then by
  NSGA-II crowding distance within that rank (Deb et al. 2002; larger first, the rank's two
  extremes on each objective infinite), then by trial number, earlier first. MO-ASHA
  (Schmucker et al. 2021) breaks ties by EpsNet or by crowding; crowding is the one that needs
  no tuned epsilon and always keeps a rank's extremes (a hypervolume contribution against a
  nadir-based reference ranks them last, so a rung pruned the ends of the front). The
  trial continues if its position is within the top ``ceil(n / eta)`` of the ``n`` trials at the
  rung. While fewer than ``min_trials`` (default ``eta``) trials have reached a rung, every trial
  continues there (nothing to compare with yet).
* **Agreement guard** (ours, in the spirit of the ranking-consistency check of PASHA, Bohdal
  et al., ICLR 2023, which trusts a low budget only once it ranks trials as a higher one
  does): pruning at a rung is only as good as the rung's standing predicts the final *front*.
  Good per-objective rank correlation is not enough: on a trade-off, the trials that end on
  the front's extremes are often dominated early (each objective alone ranks well, the
  front does not). So the agreement of a rung is its **front recall**: over the trials that
  passed it with a known end (COMPLETE, or pruned at a later rung, which counts as ending off
  the front), the share of the final front (constraint-domination rank 0 of the final values)
  that the rule above, applied to their rung records, would have kept
  (:func:`rung_agreement` says exactly what it estimates). A rung prunes only once
  ``agreement_trials`` such trials have a record there, their final front holds at least
  :data:`MIN_FRONT` (4) of them, and the recall is at least ``min_agreement``. The
  default, ``auto``, is the rung's break-even :func:`break_even_recall`:
  ``(s + (S - s) / eta) / S`` for a rung at ``s`` of ``S`` steps, the share of a trial's
  steps pruning there still spends on average; above it pruning keeps more final-front trials
  per training step than not pruning. Otherwise every trial
  continues there, and the complete trials it produces are the evidence for the next
  decision. ``min_agreement: null`` switches the guard off.
* **Unbiased evidence, kept up to date.** Trials that passed a rung while it was pruning
  survived *because* they ranked well there, so they would flatter the rung: each rung record
  says whether the trial was ``exposed`` to pruning there, and the recall counts unexposed
  trials only. While a rung prunes, a ``control_share`` of the trials (default 0.2, spread
  evenly over trial numbers by a golden-ratio sequence) are controls: judged and recorded like
  the others but never pruned, so the evidence keeps growing and a rung whose standing stops
  predicting the front (``multitask_regression``: a rung agrees with the front in the
  sampler's first, exploring trials and less once it concentrates) stops pruning again. This
  is the control arm of a randomised trial; a control costs a full trial.
* Nobody waits: a decision uses what storage holds at that moment, so it works the same for
  one worker, several processes, or several machines sharing a storage URL.
* A **pruned** trial: the hook raises :class:`RungPruned` (an :class:`optuna.TrialPruned`)
  carrying what the trial measured so far (:class:`paretolab.records.TrialResult` with its last
  rung's metrics, ``pruned_at`` (the rung step), ``steps`` actually trained and its partial
  curves) and the decision; the objective records it. The trial ends PRUNED without values,
  shows as pruned in the tables and report, counts toward the trial budget, and never enters
  the front (which uses COMPLETE trials only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from paretolab import dominance, measure
from paretolab.records import RungRecord, TrialResult, read_violations, rung_key

__all__ = ["MOASHA", "RungDecision", "RungEntry", "RungPruned", "break_even_recall", "decide",
           "is_control", "make_pruner", "rung_agreement", "rung_key", "rung_order", "rung_steps",
           "rung_table"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
MIN_FRONT = 4  # final-front trials in a rung's evidence before its recall is trusted


def rung_steps(min_steps: int, eta: int, total_steps: int) -> list[int]:
    """``min_steps * eta**k`` for k = 0, 1, ... strictly below ``total_steps``."""
    if min_steps < 1 or eta < 2:
        raise ValueError("rungs need min_steps >= 1 and eta >= 2")
    out, step = [], int(min_steps)
    while step < total_steps:
        out.append(step)
        step *= int(eta)
    return out


@dataclass(frozen=True)
class RungEntry:
    """One trial's record at one rung."""

    trial: int
    values: tuple[float, ...]
    violation: float = 0.0


@dataclass(frozen=True)
class RungDecision:
    """The outcome for one trial at one rung, with what it was based on."""

    keep: bool
    position: int  # 0-based place in the rung order
    n: int  # trials that reached the rung (this one included)
    n_keep: int  # how many of them continue at most (ceil(n / eta), or n below min_trials)
    rank: int  # non-dominated rank at the rung (0 = front)
    agreement: float | None = None  # the rung's front recall (None: not judged)
    exposed: bool = True  # the rung could prune this trial (guard trusted it, not a control)


class RungPruned(optuna.TrialPruned):
    """Raised by the pruning hook: the trial stops at ``rung``; ``result`` is what it measured
    so far (the objective records it), ``decision`` why."""

    def __init__(self, rung: int, decision: RungDecision, result: TrialResult):
        super().__init__(f"dominated at rung {rung} steps: place {decision.position + 1} of "
                         f"{decision.n}, only the top {decision.n_keep} continue")
        self.rung = rung
        self.decision = decision
        self.result = result


def rung_table(trials: Iterable[optuna.trial.FrozenTrial], step: int) -> list[RungEntry]:
    """Every trial's record at rung ``step`` as read from storage (trials without one skipped)."""
    out = []
    for t in trials:
        if t.state == TrialState.WAITING:
            continue
        rec = RungRecord.read(t, step)
        if rec is not None:
            out.append(RungEntry(t.number, rec.values, rec.violation))
    return out


def rung_order(entries: Sequence[RungEntry], directions: Sequence[str]) -> tuple[list[int], np.ndarray]:
    """Trial numbers best first, and each entry's rank (in input order).

    Order: constraint-domination non-dominated rank, then NSGA-II crowding distance within the
    same rank (larger first; the extremes of a rank, and every member of a rank of one or two,
    infinite), then trial number (earlier first).
    """
    if not entries:
        return [], np.zeros(0, dtype=np.int64)
    values = np.array([e.values for e in entries], dtype=float)
    violations = np.array([max(0.0, e.violation) for e in entries], dtype=float)
    ranks = dominance.pareto_ranks(values, directions, violations)
    crowding = crowding_distances(dominance.to_minimization(values, directions), ranks)
    order = sorted(range(len(entries)), key=lambda i: (int(ranks[i]), -float(crowding[i]), entries[i].trial))
    return [entries[i].trial for i in order], ranks


def crowding_distances(points: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point within its rank (pymoo's; minimisation form).
    A rank of one or two points: infinite for each (both are extremes)."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    out = np.full(len(points), np.inf)
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        if len(members) > 2:
            out[members] = calc_crowding_distance(points[members])
    return out


def break_even_recall(step: int, total_steps: int, eta: int) -> float:
    """The share of its steps a trial that reached rung ``step`` still spends on average when the
    rung keeps ``1/eta`` of them: ``(step + (total_steps - step) / eta) / total_steps``. A rung
    whose front recall is above it keeps more final-front trials per training step."""
    return (step + (total_steps - step) / eta) / total_steps


def is_control(trial_number: int, share: float) -> bool:
    """Is this trial a control (judged, recorded, never pruned) while a rung prunes? ``share`` of
    the trial numbers, spread evenly: the fractional part of ``(number + 1) * golden ratio`` (a
    Weyl sequence) below ``share``."""
    return share > 0 and ((trial_number + 1) * _GOLDEN) % 1.0 < share


def rung_agreement(trials: Iterable[optuna.trial.FrozenTrial], step: int, directions: Sequence[str],
                   eta: int, min_front: int = 1) -> tuple[int, float]:
    """(n, recall) of rung ``step``: what the guard trusts it on.

    The evidence is every trial with an unexposed record at the rung (the rung did not prune
    there when it passed, or it was a control) whose end is known: COMPLETE trials, and trials
    a *later* rung pruned. ``recall`` estimates, for a trial passing this rung unexposed, the
    probability that the rung's rule (:func:`rung_order`, top ``ceil(n / eta)``, applied to the
    evidence's rung records) keeps it given that it ends on the final front (the
    constraint-domination rank 0 of the COMPLETE trials' final values and violations), where a
    trial pruned at a later rung counts as ending off the front: that rung prunes only where
    its own recall was trusted, its judgement stands in for the end the trial never reached.
    Counting only COMPLETE trials would drop exactly the trials this rung kept and a later one
    found wanting, and flatter this rung.

    ``n`` is the number of evidence trials; ``recall`` is nan when fewer than two, or when
    the final front holds fewer than ``min_front`` of them (a recall over a front of two takes
    the values 0, 0.5 and 1 only: one lucky reading would make the rung trusted). A record
    without the ``exposed`` flag (written before it existed) counts as unexposed."""
    done, later = [], []
    for t in trials:
        rec = RungRecord.read(t, step)
        if rec is None or rec.exposed:
            continue
        if t.state == TrialState.COMPLETE and t.values is not None:
            done.append((t, rec))
        elif t.state == TrialState.PRUNED and (TrialResult.read(t).pruned_at or 0) > step:
            later.append((t, rec))
    n = len(done) + len(later)
    if n < 2 or not done:
        return n, float("nan")
    final = np.array([t.values for t, _ in done], dtype=float)
    violations = np.array([sum(max(0.0, v) for v in read_violations(t).values()) for t, _ in done])
    ranks = dominance.pareto_ranks(final, directions, violations)
    front = {t.number for (t, _), r in zip(done, ranks) if r == 0}
    if len(front) < max(1, min_front):
        return n, float("nan")
    order, _ = rung_order([RungEntry(t.number, rec.values, rec.violation) for t, rec in done + later], directions)
    kept = set(order[:max(1, math.ceil(n / eta))])
    return n, len(front & kept) / len(front)


def decide(entries: Sequence[RungEntry], trial_number: int, directions: Sequence[str], eta: int,
           min_trials: int | None = None) -> RungDecision:
    """Does ``trial_number`` (which must be among ``entries``) continue past this rung?"""
    min_trials = eta if min_trials is None else min_trials
    order, ranks = rung_order(entries, directions)
    if trial_number not in order:
        raise ValueError(f"trial {trial_number} has no record at this rung")
    position = order.index(trial_number)
    rank = int(ranks[[e.trial for e in entries].index(trial_number)])
    n = len(entries)
    if n < min_trials:
        return RungDecision(True, position, n, n, rank)
    n_keep = max(1, math.ceil(n / eta))
    return RungDecision(position < n_keep, position, n, n_keep, rank)


class MOASHA:
    """The pruner one objective call uses: records rungs, decides, raises ``TrialPruned``."""

    def __init__(self, *, min_steps: int, eta: int, total_steps: int, objectives: Sequence[str],
                 directions: Sequence[str], violation: Callable[[dict[str, float]], float] | None = None,
                 min_trials: int | None = None, min_agreement: float | str | None = None,
                 agreement_trials: int = 10, control_share: float = 0.2, min_front: int = MIN_FRONT,
                 violations: Callable[[dict[str, float]], dict[str, float]] | None = None):
        self.eta = int(eta)
        self.min_front = int(min_front)
        self.control_share = float(control_share)
        self.min_trials = self.eta if min_trials is None else int(min_trials)
        self.min_agreement = min_agreement
        self.agreement_trials = int(agreement_trials)
        self.total_steps = int(total_steps)
        self.rungs = rung_steps(min_steps, eta, total_steps)
        self.objectives = list(objectives)
        self.directions = list(directions)
        self.violation = violation or (lambda _m: 0.0)
        self.violations = violations or (lambda _m: {})  # each constraint's signed value

    def hook(self, trial: optuna.Trial) -> Callable[[int, dict[str, float]], None]:
        """An ``on_eval(step, metrics)`` callback for :func:`paretolab.trainer.train`."""
        pending = list(self.rungs)
        curves: dict[str, list[float]] = {"step": []}
        start = time.perf_counter()

        def on_eval(step: int, metrics: dict[str, float]) -> None:
            curves["step"].append(step)
            for k, v in metrics.items():
                curves.setdefault(k, []).append(float(v))
            while pending and step >= pending[0]:
                rung = pending.pop(0)
                decision = self.check(trial, rung, step, metrics)
                if not decision.keep:
                    partial = TrialResult(metrics=dict(metrics), curves=curves, steps=step,
                                          wall_time_s=time.perf_counter() - start, pruned_at=rung,
                                          prune_decision={
                                              "position": decision.position, "n": decision.n,
                                              "n_keep": decision.n_keep, "rank": decision.rank,
                                              "agreement": decision.agreement})
                    raise RungPruned(rung, decision, partial)

        return on_eval

    def check(self, trial: optuna.Trial, rung: int, step: int, metrics: dict[str, float]) -> RungDecision:
        """Judge the rung's guard from storage, write this trial's rung record (with whether the
        rung can prune it), then rank it among every trial's records."""
        values = measure.objective_values(metrics, self.objectives)
        violation = float(self.violation(metrics))
        trials = trial.study.get_trials(deepcopy=False)
        recall: float | None = None
        exposed = True
        if self.min_agreement is not None:
            n, agreement = rung_agreement(trials, rung, self.directions, self.eta, self.min_front)
            recall = None if math.isnan(agreement) else agreement
            threshold = (break_even_recall(rung, self.total_steps, self.eta) if self.min_agreement == "auto"
                         else float(self.min_agreement))
            trusted = n >= self.agreement_trials and recall is not None and recall >= threshold
            exposed = trusted and not is_control(trial.number, self.control_share)
        RungRecord(tuple(values), violation, int(step), dict(metrics), exposed,
                   self.violations(metrics)).write(trial, rung)
        entries = [e for e in rung_table(trials, rung) if e.trial != trial.number]
        entries.append(RungEntry(trial.number, tuple(values), violation))
        decision = decide(entries, trial.number, self.directions, self.eta, self.min_trials)
        # ranked out: pruned only where this rung's standing has kept the final front
        return RungDecision(decision.keep or not exposed, decision.position, decision.n, decision.n_keep,
                            decision.rank, recall, exposed)


def make_pruner(spec: Any) -> MOASHA | None:
    """The pruner a study file asks for (``pruning.method``), or ``None``."""
    cfg = spec.pruning
    if cfg.method == "none":
        return None
    constraints = list(spec.constraints)

    def violation(metrics: dict[str, float]) -> float:
        return measure.total_violation(metrics, constraints)

    def violations(metrics: dict[str, float]) -> dict[str, float]:
        return measure.violations(metrics, constraints)

    return MOASHA(min_steps=cfg.resolved_min_steps(spec.budget.steps), eta=cfg.eta,
                  total_steps=spec.budget.steps, objectives=spec.objective_names,
                  directions=spec.directions, violation=violation, min_trials=cfg.min_trials,
                  min_agreement=cfg.min_agreement, agreement_trials=cfg.agreement_trials,
                  control_share=cfg.control_share, violations=violations)
