"""Multi-objective pruning (MO-ASHA): rung decisions, several workers on one storage, tables."""

from __future__ import annotations

import math
import multiprocessing as mp
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest
from scipy.stats import kendalltau

from paretolab.errors import SpecError
from paretolab.objective import Objective
from paretolab.pruning import (
    MIN_FRONT,
    MOASHA,
    RungDecision,
    RungEntry,
    break_even_recall,
    decide,
    is_control,
    rung_agreement,
    rung_key,
    rung_order,
    rung_steps,
    rung_table,
)
from paretolab.records import StudyMeta, front_summary, load_records, trial_attrs
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.tables import front_frame, trials_frame

MIN2 = ["minimize", "minimize"]


def table(*rows: tuple) -> list[RungEntry]:
    """(trial, values) or (trial, values, violation) rows -> a rung table."""
    return [RungEntry(r[0], tuple(r[1]), r[2] if len(r) > 2 else 0.0) for r in rows]


# --- the rung decision on hand-made rung tables ---------------------------------------------
def test_rungs_are_min_steps_times_powers_of_eta_below_the_budget() -> None:
    assert rung_steps(10, 3, 270) == [10, 30, 90]
    assert rung_steps(30, 3, 270) == [30, 90]
    assert rung_steps(10, 2, 10) == []


def test_a_dominated_trial_is_stopped_and_a_front_trial_continues() -> None:
    rungs = table((0, [1.0, 4.0]), (1, [2.0, 2.0]), (2, [4.0, 1.0]), (3, [3.0, 3.0]), (4, [5.0, 5.0]),
                  (5, [4.5, 4.5]))
    # n = 6, eta = 3: the top ceil(6/3) = 2 continue
    assert not decide(rungs, 4, MIN2, eta=3).keep  # dominated by everything
    assert not decide(rungs, 3, MIN2, eta=3).keep  # dominated by trial 1
    # the front is {0, 1, 2}; its ends (trials 0 and 2) are kept before its middle
    best = decide(rungs, 0, MIN2, eta=3)
    assert best.keep and best.rank == 0 and best.position == 0 and best.n == 6 and best.n_keep == 2
    assert decide(rungs, 2, MIN2, eta=3).keep
    middle = decide(rungs, 1, MIN2, eta=3)
    assert not middle.keep and middle.rank == 0 and middle.position == 2


def test_directions_are_respected() -> None:
    rungs = table((0, [0.1, 0.9]), (1, [0.2, 0.1]), (2, [0.3, 0.5]))
    # error minimised, sparsity maximised: trial 0 dominates both others
    assert decide(rungs, 0, ["minimize", "maximize"], eta=3).keep
    assert not decide(rungs, 1, ["minimize", "maximize"], eta=3).keep
    # all minimised: trial 1 dominates trial 2, trial 0 and 1 are the front
    assert decide(rungs, 1, MIN2, eta=3).rank == 0
    assert decide(rungs, 2, MIN2, eta=3).rank == 1


def test_ties_go_to_the_larger_crowding_distance_then_the_earlier_trial() -> None:
    # all four on the front; the extremes (trials 0 and 1) are infinitely crowded-apart; between
    # them, trial 2 ([2, 2]) has neighbours 0 and 3: (6 - 0) / 10 + (10 - 1.5) / 10 = 1.45,
    # trial 3 ([6, 1.5]) has neighbours 2 and 1: (10 - 2) / 10 + (2 - 0) / 10 = 1.0
    front = table((0, [0.0, 10.0]), (1, [10.0, 0.0]), (2, [2.0, 2.0]), (3, [6.0, 1.5]))
    order, ranks = rung_order(front, MIN2)
    assert set(ranks) == {0} and order == [0, 1, 2, 3]
    assert decide(front, 1, MIN2, eta=2).keep and not decide(front, 2, MIN2, eta=2).keep
    # identical vectors: same rank, same crowding -> the earlier trial first
    same = table((7, [1.0, 1.0]), (3, [1.0, 1.0]), (5, [1.0, 1.0]))
    assert rung_order(same, MIN2)[0] == [3, 5, 7]
    assert decide(same, 3, MIN2, eta=3).keep
    assert not decide(same, 5, MIN2, eta=3).keep and not decide(same, 7, MIN2, eta=3).keep


def test_the_ends_of_a_front_survive_a_rung() -> None:
    """Nine mutually non-dominated trials on a line: a rung keeps ceil(9 / 3) = 3 of them, and
    both ends of the front are among them (MO-ASHA's tie-break keeps a rank's extremes; the
    hypervolume contribution against a nadir-based reference ranked (1, 0) ninth)."""
    line = table(*[(i, [i / 8, 1 - i / 8]) for i in range(9)])
    assert decide(line, 8, MIN2, eta=3).keep and decide(line, 0, MIN2, eta=3).keep
    assert sum(decide(line, i, MIN2, eta=3).keep for i in range(9)) == 3
    # maximised objectives: the same
    assert decide(line, 8, ["maximize", "maximize"], eta=3).keep


def test_constraints_rank_infeasible_trials_after_feasible_ones() -> None:
    rungs = table((0, [0.0, 0.0], 0.5), (1, [5.0, 5.0]), (2, [6.0, 6.0], 0.1))
    assert decide(rungs, 1, MIN2, eta=3).keep  # the only feasible trial, though dominated
    assert not decide(rungs, 0, MIN2, eta=3).keep  # best values, but infeasible
    order, _ = rung_order(rungs, MIN2)
    assert order == [1, 2, 0]  # smaller violation first among the infeasible


def test_below_min_trials_every_trial_continues() -> None:
    rungs = table((0, [1.0, 1.0]), (1, [9.0, 9.0]))
    assert decide(rungs, 1, MIN2, eta=3).keep  # 2 < eta trials at the rung
    assert not decide(rungs, 1, MIN2, eta=3, min_trials=2).keep


def test_spec_pruning_section() -> None:
    base = "name: s\ntask: toy\nobjectives: [loss1, loss2]\nbudget: {steps: 90}\n"
    assert parse_spec(base).pruning.method == "none"
    spec = parse_spec(base + "pruning: moasha\n")
    assert spec.pruning.method == "moasha" and spec.pruning.resolved_min_steps(90) == 10
    spec = parse_spec(base + "pruning: {method: moasha, min_steps: 5, eta: 2}\n")
    assert spec.pruning.resolved_min_steps(90) == 5 and spec.pruning.eta == 2
    with pytest.raises(SpecError, match="below budget.steps"):
        parse_spec(base + "pruning: {method: moasha, min_steps: 90}\n")
    with pytest.raises(SpecError):
        parse_spec(base + "pruning: {method: moasha, eta: 1}\n")
    assert parse_spec(base + "pruning: moasha\n").pruning.control_share == 0.2
    assert parse_spec(base + "pruning: {method: moasha, control_share: 0}\n").pruning.control_share == 0.0
    for bad in ("1.0", "-0.1"):
        with pytest.raises(SpecError, match="control_share"):
            parse_spec(base + f"pruning: {{method: moasha, control_share: {bad}}}\n")


# --- pruning across two workers sharing storage ----------------------------------------------
def _other_worker(url: str, values: list[list[float]]) -> None:
    """A separate process with its own study object: records rungs, completes its trials."""
    study = optuna.load_study(study_name="shared", storage=url)
    pruner = MOASHA(min_steps=10, eta=3, total_steps=100, objectives=["a", "b"], directions=MIN2)
    for v in values:
        trial = study.ask()
        assert pruner.check(trial, 10, 10, {"a": v[0], "b": v[1]}).keep is not None
        study.tell(trial, v)


@pytest.mark.slow
def test_a_rung_decision_sees_the_rung_records_of_another_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(study_name="shared", storage=url, directions=MIN2)
    proc = mp.get_context("spawn").Process(target=_other_worker,
                                           args=(url, [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0
    study = optuna.load_study(study_name="shared", storage=url)  # this worker's own object
    pruner = MOASHA(min_steps=10, eta=3, total_steps=100, objectives=["a", "b"], directions=MIN2)
    bad = study.ask()
    decision = pruner.check(bad, 10, 10, {"a": 4.0, "b": 4.0})
    assert decision.n == 4 and not decision.keep  # compared with the other worker's 3 records
    good = study.ask()
    assert pruner.check(good, 10, 10, {"a": 0.5, "b": 0.5}).keep
    entries = rung_table(study.get_trials(), 10)
    assert sorted(e.trial for e in entries) == [0, 1, 2, 3, 4]


# --- the agreement guard: a rung prunes only where its standing predicted the final one ------
def _study_with_history(early_final: list[tuple[list[float], list[float]]], rung: int,
                        study: optuna.Study | None = None, exposed: bool | None = None) -> optuna.Study:
    """Complete trials with a record at ``rung`` (early values) and final values; ``exposed``
    sets the records' flag (None: records without it, as written before the flag existed)."""
    study = study or optuna.create_study(directions=MIN2)
    for early, final in early_final:
        record: dict[str, Any] = {"values": early, "violation": 0.0}
        if exposed is not None:
            record["exposed"] = exposed
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, values=final, user_attrs={rung_key(rung): record}))
    return study


def _judge_a_dominated_newcomer(study: optuna.Study, **guard) -> RungDecision:
    guard.setdefault("control_share", 0.0)  # these tests are about the recall, not about controls
    guard.setdefault("min_front", 1)  # nor about the front's size (see the tests of MIN_FRONT)
    pruner = MOASHA(min_steps=10, eta=3, total_steps=100, objectives=["a", "b"], directions=MIN2, **guard)
    trial = study.ask()
    return pruner.check(trial, 10, 10, {"a": 99.0, "b": 99.0})  # worse than everyone at the rung


def test_rung_agreement_is_the_share_of_the_final_front_the_rung_would_keep() -> None:
    # 6 complete trials, eta 3: the rung rule keeps its top 2; the final front is trials 0 and 1
    final = [[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [6.0, 6.0], [7.0, 7.0], [8.0, 8.0]]
    both = [[0.0, 0.0], [0.5, 0.5], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0], [6.0, 6.0]]  # rung keeps 0, 1
    n, recall = rung_agreement(_study_with_history(list(zip(both, final)), 10).trials, 10, MIN2, 3)
    assert n == 6 and recall == 1.0
    one = [[0.0, 0.0], [5.5, 5.5], [0.5, 0.5], [4.0, 4.0], [5.0, 5.0], [6.0, 6.0]]  # keeps 0, 2
    assert rung_agreement(_study_with_history(list(zip(one, final)), 10).trials, 10, MIN2, 3)[1] == 0.5
    none = list(reversed(both))  # the final front is last at the rung
    assert rung_agreement(_study_with_history(list(zip(none, final)), 10).trials, 10, MIN2, 3)[1] == 0.0


def test_front_recall_counts_the_constraint_aware_front() -> None:
    """An infeasible trial with the best final values is not on the front the recall checks."""
    study = _study_with_history([([0.0, 0.0], [5.0, 5.0]), ([0.5, 0.5], [6.0, 6.0])], 10)
    for i in range(4):  # the rung's worst, ends best but violates the constraint
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, values=[0.0 + i, 0.0 - i],
            constraints={"ece <= 0.1": 0.2}, user_attrs={rung_key(10): {"values": [9.0, 9.0]}}))
    # feasible front: trial 0 ([5, 5] dominates [6, 6]); the rung keeps trials 0 and 1 of 6
    assert rung_agreement(study.trials, 10, MIN2, 3) == (6, 1.0)


def test_front_recall_sees_what_per_objective_rank_correlation_misses() -> None:
    """Each objective alone keeps its order from the rung to the end (Kendall's tau > 0.5), but
    the two trials that end on the front's extremes are dominated at the rung by balanced ones
    (what multitask_regression does), so pruning there would lose them."""
    early = [[5.0, 12.0], [12.0, 5.0]] + [[float(i), float(i)] for i in range(1, 8)]
    final = [[0.0, 10.0], [10.0, 0.0]] + [[2.0 + i, 2.0 + i] for i in range(1, 8)]
    for k in range(2):
        assert kendalltau([e[k] for e in early], [f[k] for f in final]).statistic > 0.5
    study = _study_with_history(list(zip(early, final)), 10)
    # final front: trials 0, 1 (extremes) and 2 ([3, 3]); the rung's top 3 are trials 2, 3, 4
    assert rung_agreement(study.trials, 10, MIN2, 3) == (9, pytest.approx(1 / 3))
    # below the break-even of rung 10 of 100 steps (0.4): the rung does not prune
    assert _judge_a_dominated_newcomer(study, min_agreement="auto", agreement_trials=5).keep


def _pruned_later(study: optuna.Study, early: list[float], rung: int, pruned_at: int) -> None:
    """A trial that passed ``rung`` unexposed and was pruned at the later rung ``pruned_at``."""
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED,
        user_attrs={rung_key(rung): {"values": early, "violation": 0.0, "exposed": False},
                    rung_key(pruned_at): {"values": [50.0, 50.0], "violation": 0.0, "exposed": True},
                    "result": {"pruned_at": pruned_at, "steps": pruned_at, "metrics": {}}}))


def test_trials_pruned_at_a_later_rung_are_evidence_that_ends_off_the_front() -> None:
    """Six complete trials say rung 10 keeps their whole front (recall 1). Three more passed
    rung 10 at its top and were pruned at rung 30: counted (as ending off the front) they take
    the rung's kept places, and the recall falls to 0; counting COMPLETE trials only, they
    dropped out and the rung looked perfect."""
    final = [[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [6.0, 6.0], [7.0, 7.0], [8.0, 8.0]]
    early = [[1.0, 1.0], [1.5, 1.5], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0], [6.0, 6.0]]
    study = _study_with_history(list(zip(early, final)), 10, exposed=False)
    assert rung_agreement(study.trials, 10, MIN2, 3) == (6, 1.0)
    for v in (0.1, 0.2, 0.3):  # the rung's best three, pruned later
        _pruned_later(study, [v, v], 10, 30)
    # 9 trials, the rung keeps 3: the three pruned later; the final front (0, 1) is not kept
    assert rung_agreement(study.trials, 10, MIN2, 3) == (9, 0.0)
    # a trial pruned at this rung itself is no evidence for it (it was exposed there)
    _pruned_later(study, [0.0, 0.0], 10, 10)
    assert rung_agreement(study.trials, 10, MIN2, 3)[0] == 9


def test_a_rung_is_not_trusted_on_a_front_of_fewer_than_min_front_trials() -> None:
    """Ten complete trials whose rung order is their final order: with a front of one, the
    recall is 1 on one reading; the default guard (MIN_FRONT = 4) does not trust it yet. With
    four front trials the rung keeps every one of them (recall 1) and prunes."""
    assert MIN_FRONT == 4
    small = [([i, i], [i, i]) for i in range(10)]  # final front: trial 0 alone
    assert rung_agreement(_study_with_history(small, 10).trials, 10, MIN2, 3) == (10, 1.0)
    assert math.isnan(rung_agreement(_study_with_history(small, 10).trials, 10, MIN2, 3, min_front=4)[1])
    decision = _judge_a_dominated_newcomer(_study_with_history(small, 10), min_agreement="auto",
                                           min_front=MIN_FRONT)
    assert decision.keep and not decision.exposed and decision.agreement is None
    # four trials on a front (a line), kept by the rung (they lead there), six behind
    front = [([0.1 * i, 0.1 * i], [float(i), 3.0 - i]) for i in range(4)]
    behind = [([i, i], [i, i]) for i in range(4, 10)]
    decision = _judge_a_dominated_newcomer(_study_with_history(front + behind, 10), min_agreement="auto",
                                           min_front=MIN_FRONT)
    assert not decision.keep and decision.exposed and decision.agreement == 1.0


def test_break_even_recall_is_the_share_of_steps_a_pruned_rung_still_spends() -> None:
    assert break_even_recall(20, 180, 3) == pytest.approx((20 + 160 / 3) / 180)
    assert break_even_recall(0, 100, 2) == 0.5 and break_even_recall(100, 100, 3) == 1.0


def test_a_rung_whose_standing_reverses_at_the_end_does_not_prune() -> None:
    reversed_ = [([i, i], [10 - i, 10 - i]) for i in range(6)]  # early leaders end last (toy)
    decision = _judge_a_dominated_newcomer(_study_with_history(reversed_, 10), agreement_trials=5,
                                           min_agreement="auto")
    assert decision.keep and decision.position == 6 and decision.agreement == 0.0


def test_a_rung_that_predicts_the_end_prunes_the_dominated_trial() -> None:
    consistent = [([i, i], [i + 0.5, i + 0.5]) for i in range(6)]
    decision = _judge_a_dominated_newcomer(_study_with_history(consistent, 10), agreement_trials=5,
                                           min_agreement="auto")
    assert not decision.keep and decision.agreement == 1.0


def test_auto_threshold_is_the_break_even_and_a_number_overrides_it() -> None:
    final = [[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [6.0, 6.0], [7.0, 7.0], [8.0, 8.0]]
    one = [[0.0, 0.0], [5.5, 5.5], [0.5, 0.5], [4.0, 4.0], [5.0, 5.0], [6.0, 6.0]]  # recall 0.5
    history = list(zip(one, final))
    # rung 10 of 100 steps, eta 3: break-even (10 + 90 / 3) / 100 = 0.4 < 0.5, so it prunes
    assert not _judge_a_dominated_newcomer(_study_with_history(history, 10), agreement_trials=5,
                                           min_agreement="auto").keep
    assert _judge_a_dominated_newcomer(_study_with_history(history, 10), agreement_trials=5,
                                       min_agreement=0.6).keep


def test_a_rung_prunes_nothing_until_enough_complete_trials_passed_it() -> None:
    consistent = [([i, i], [i, i]) for i in range(9)]  # 9 complete, agreement_trials 10 (default)
    assert _judge_a_dominated_newcomer(_study_with_history(consistent, 10), min_agreement="auto").keep
    # without the guard the same rung table prunes it
    assert not _judge_a_dominated_newcomer(_study_with_history(consistent, 10)).keep
    consistent.append(([9, 9], [9, 9]))  # the tenth: now judged, and the rung has kept the front
    assert not _judge_a_dominated_newcomer(_study_with_history(consistent, 10), min_agreement="auto").keep


def test_a_rung_record_keeps_each_constraints_signed_value() -> None:
    study = optuna.create_study(directions=MIN2)
    pruner = MOASHA(min_steps=10, eta=3, total_steps=100, objectives=["a", "b"], directions=MIN2,
                    violation=lambda m: max(0.0, m["a"] - 5.0), violations=lambda m: {"a <= 5": m["a"] - 5.0})
    pruner.check(study.ask(), 10, 10, {"a": 2.0, "b": 1.0})
    record = study.trials[-1].user_attrs[rung_key(10)]
    assert record["violation"] == 0.0 and record["violations"] == {"a <= 5": -3.0}


def test_controls_are_an_even_share_of_the_trial_numbers() -> None:
    controls = [n for n in range(1000) if is_control(n, 0.2)]
    assert abs(len(controls) - 200) <= 1
    # evenly spread: every 10 consecutive trials hold 1 to 3 controls
    assert all(1 <= sum(is_control(n, 0.2) for n in range(k, k + 10)) <= 3 for k in range(990))
    assert not any(is_control(n, 0.0) for n in range(100))


def test_trials_that_passed_a_pruning_rung_are_not_evidence_for_it() -> None:
    """Survivors of a pruning rung ranked well there by construction: counted, they would
    flatter the rung. Here 10 unexposed trials say the rung does not predict the end, and 20
    exposed survivors that say it does change nothing."""
    reversed_ = [([i, i], [10 - i, 10 - i]) for i in range(10)]
    study = _study_with_history(reversed_, 10, exposed=False)
    _study_with_history([([i, i], [i, i]) for i in range(20)], 10, study=study, exposed=True)
    assert rung_agreement(study.trials, 10, MIN2, 3) == (10, 0.0)
    assert _judge_a_dominated_newcomer(study, min_agreement="auto").keep
    # records from before the flag existed count as evidence
    assert rung_agreement(_study_with_history(reversed_, 10).trials, 10, MIN2, 3) == (10, 0.0)


def test_the_rung_records_whether_it_could_prune_the_trial() -> None:
    consistent = [([i, i], [i, i]) for i in range(10)]
    study = _study_with_history(consistent[:9], 10)  # 9 complete: not judged yet
    decision = _judge_a_dominated_newcomer(study, min_agreement="auto")
    assert decision.keep and not decision.exposed
    assert study.trials[-1].user_attrs[rung_key(10)]["exposed"] is False  # evidence once complete
    study = _study_with_history(consistent, 10)  # trusted now
    decision = _judge_a_dominated_newcomer(study, min_agreement="auto")
    assert not decision.keep and decision.exposed
    assert study.trials[-1].user_attrs[rung_key(10)]["exposed"] is True


def test_a_control_is_judged_and_recorded_but_never_pruned() -> None:
    study = _study_with_history([([i, i], [i, i]) for i in range(10)], 10)  # a rung that prunes
    while not is_control(len(study.trials), 0.2):  # up to the next control's trial number
        _study_with_history([([0.0, 0.0], [0.0, 0.0])], 10, study=study, exposed=True)
    decision = _judge_a_dominated_newcomer(study, min_agreement="auto", control_share=0.2)
    assert decision.keep and not decision.exposed and decision.position == decision.n - 1
    assert study.trials[-1].user_attrs[rung_key(10)]["exposed"] is False


def test_fresh_control_evidence_switches_a_rung_off_again() -> None:
    """The first 10 trials say the rung predicts the front; 30 later controls say it does not
    (the sampler moved to where the rung's standing is noise): the rung stops pruning."""
    study = _study_with_history([([i, i], [i, i]) for i in range(10)], 10)
    assert not _judge_a_dominated_newcomer(study, min_agreement="auto").keep
    # the later trials end better than the first ten, in the reverse of their order at the rung
    _study_with_history([([i, i], [-1.0 - i, -1.0 - i]) for i in range(30)], 10, study=study, exposed=False)
    assert rung_agreement(study.trials, 10, MIN2, 3) == (40, 0.0)
    assert _judge_a_dominated_newcomer(study, min_agreement="auto").keep


# --- a pruned trial in a real study and in the tables ----------------------------------------
def _toy_spec(tmp_path: Path, name: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        name: {name}
        task: {{ref: toy, params: {{start: [0.0, 0.0]}}}}
        objectives: [loss1, loss2]
        constraints: ['loss1 <= 0']
        search: {{weights: {{fixed: {{loss1: 0.5, loss2: 0.5}}}}}}
        train: {{lr: 0.05}}
        budget: {{trials: 3, steps: 40, eval_every: 10}}
        pruning: {{method: moasha, min_steps: 10, eta: 2, min_trials: 2, min_agreement: null}}
        {extra}""")


def test_a_pruned_trial_keeps_its_rung_values_and_stays_off_the_front(tmp_path: Path) -> None:
    spec = parse_spec(_toy_spec(tmp_path, "pruned-tables"))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, study_name=spec.name)
    objective = Objective(checked, "cpu")
    study.optimize(objective, n_trials=2, catch=(Exception,))
    first, second = study.trials
    # fixed weights, deterministic toy: identical vectors at the rung, so the later trial loses
    assert first.state.name == "COMPLETE" and trial_attrs(first)["steps"] == 40
    assert second.state.name == "PRUNED" and second.values is None
    assert trial_attrs(second)["pruned_at"] == 10 and trial_attrs(second)["steps"] == 10
    rung = trial_attrs(second)[rung_key(10)]
    assert trial_attrs(second)["metrics"]["loss1"] == rung["values"][0]
    assert trial_attrs(first)[rung_key(10)]["values"] == rung["values"]
    assert second.constraints  # last rung's feasibility recorded

    meta = StudyMeta.from_spec(spec, checked.balanced_names)
    records = load_records(study)
    summary = front_summary(meta, records)
    assert summary.numbers == [0] and summary.complete == [0]
    trials = trials_frame(meta, records, summary)
    row = trials[trials["trial"] == 1].iloc[0]
    assert row["state"] == "PRUNED" and not row["on_front"]
    assert row["loss1"] == pytest.approx(rung["values"][0]) and row["loss2"] == pytest.approx(rung["values"][1])
    assert list(front_frame(meta, trials)["trial"]) == [0]


def _real_worker(text: str, url: str, worker: int, n: int, ready: Any) -> None:
    import torch
    torch.set_num_threads(1)
    spec = parse_spec(text)
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.load_study(study_name=spec.name, storage=url)
    ready.wait(120)  # both processes start their trials together, so their rungs interleave
    study.optimize(Objective(checked, "cpu", worker=worker), n_trials=n, catch=(Exception,))


@pytest.mark.slow
def test_two_worker_processes_prune_one_study_together(tmp_path: Path) -> None:
    text = _toy_spec(tmp_path, "two-workers").replace(
        "{fixed: {loss1: 0.5, loss2: 0.5}}", "simplex").replace("steps: 40", "steps: 80")
    spec = parse_spec(text)
    url = f"sqlite:///{tmp_path / 'two.db'}"
    optuna.create_study(study_name=spec.name, storage=url, directions=spec.directions,
                        sampler=optuna.samplers.RandomSampler(seed=0))
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(2)
    procs = [ctx.Process(target=_real_worker, args=(text, url, w, 5, ready)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    trials = optuna.load_study(study_name=spec.name, storage=url).get_trials()
    assert len(trials) == 10 and {trial_attrs(t)["worker"] for t in trials} == {0, 1}
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert any(t.state.name == "PRUNED" for t in trials)
    # rung decisions counted the records in storage, the other worker's included (a trial
    # pruned at a late rung may find none of the other's there: those may all have stopped
    # earlier, so this holds for some pruned trial, not necessarily every one)
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert all(trial_attrs(t)["prune_decision"]["n"] >= 2 for t in pruned)
    assert any(trial_attrs(trials[e.trial])["worker"] != trial_attrs(t)["worker"]
               for t in pruned for e in rung_table(trials, trial_attrs(t)["pruned_at"]))


@pytest.mark.slow
def test_in_a_real_study_controls_run_to_the_end_and_only_exposed_trials_are_pruned(tmp_path: Path) -> None:
    """A study whose rungs are trusted from 4 complete trials on (min_agreement 0): the trials
    it prunes were exposed where they stopped, the controls among the later trials ran every
    step, and the guard's evidence is exactly the complete trials the rung could not prune."""
    text = _toy_spec(tmp_path, "controls").replace("{fixed: {loss1: 0.5, loss2: 0.5}}", "simplex").replace(
        "min_agreement: null", "min_agreement: 0.0, agreement_trials: 4")
    spec = parse_spec(text)
    assert spec.pruning.control_share == 0.2
    study = optuna.create_study(directions=spec.directions, study_name=spec.name,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(Objective(check_study(spec, check_storage_reachable=False), "cpu"), n_trials=30)
    trials = study.trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    for t in pruned:
        assert t.user_attrs[rung_key(trial_attrs(t)["pruned_at"])]["exposed"] is True
        assert not is_control(t.number, 0.2)
    exposed_anywhere = {t.number for t in trials
                        if any(t.user_attrs.get(rung_key(r), {}).get("exposed") for r in (10, 20))}
    assert exposed_anywhere  # the rungs did prune
    late_controls = [t for t in trials if is_control(t.number, 0.2) and t.number > min(exposed_anywhere)]
    assert late_controls
    for t in late_controls:  # judged at both rungs, never exposed, trained to the end
        assert t.state.name == "COMPLETE" and trial_attrs(t)["steps"] == 40
        assert [t.user_attrs[rung_key(r)]["exposed"] for r in (10, 20)] == [False, False]
    for r in (10, 20):
        unexposed = [t for t in trials if rung_key(r) in t.user_attrs and not t.user_attrs[rung_key(r)]["exposed"]
                     and (t.state.name == "COMPLETE" or trial_attrs(t).get("pruned_at", 0) > r)]
        assert rung_agreement(trials, r, MIN2, 2)[0] == len(unexposed)
