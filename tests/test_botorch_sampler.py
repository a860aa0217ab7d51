"""The ``botorch`` sampler (qLogNEHVI): valid proposals, constraints, failed and pruned trials,
seeds and two workers on one storage."""

from __future__ import annotations

import importlib.util
import math
import threading

import numpy as np
import optuna
import pytest

if importlib.util.find_spec("botorch") is None:  # find_spec: importing BoTorch costs seconds
    pytest.skip("the botorch sampler needs BoTorch (a dependency; the install is incomplete)",
                allow_module_level=True)

from paretolab.records import write_constraints  # noqa: E402
from paretolab.samplers import SAMPLER_CLASSES, make_sampler  # noqa: E402
from paretolab.samplers.ehvi import BoTorchEHVISampler, propose  # noqa: E402
from paretolab.search_space import suggest_config  # noqa: E402
from paretolab.spec import parse_spec  # noqa: E402

# cheap settings: these tests check what the sampler does, not how well it optimises
FAST = {"n_startup_trials": 4, "mc_samples": 16, "num_restarts": 2, "raw_samples": 32}
BOUND = math.log(100)


def two_bowls(trial: optuna.Trial) -> tuple[float, float]:
    a = trial.suggest_float("r.b", -BOUND, BOUND)
    b = trial.suggest_float("r.c", -BOUND, BOUND)
    return (a - 1) ** 2 + b ** 2, (a + 1) ** 2 + b ** 2


def sampler(seed: int = 0, **options) -> BoTorchEHVISampler:
    return make_sampler("botorch", {**FAST, **options}, seed, 20)  # type: ignore[return-value]


def test_botorch_is_a_sampler_name_with_checked_options():
    assert "botorch" in SAMPLER_CLASSES
    from paretolab.errors import SpecError
    with pytest.raises(SpecError, match="no option 'restarts'"):
        make_sampler("botorch", {"restarts": 3}, 0, 10)


@pytest.mark.slow
def test_propose_returns_a_point_of_the_unit_cube_and_avoids_pending_points():
    rng = np.random.default_rng(0)
    x = rng.random((8, 2))
    y = -np.stack([((x - 0.2) ** 2).sum(1), ((x - 0.8) ** 2).sum(1)], axis=1)
    point = propose(x, y, None, None, seed=1, mc_samples=16, num_restarts=2, raw_samples=32)
    assert point.shape == (2,) and np.all((point >= 0) & (point <= 1))
    again = propose(x, y, None, point[None, :], seed=1, mc_samples=16, num_restarts=2, raw_samples=32)
    assert np.linalg.norm(again - point) > 1e-3  # a pending point is not proposed again


@pytest.mark.slow
def test_constraint_is_modelled_proposals_stay_feasible():
    """The only constraint is x <= 0.3 (violation x - 0.3); the objectives alone would pull the
    proposals to x = 1. With the constraint modelled, every proposal lies in the feasible part."""
    rng = np.random.default_rng(3)
    x = rng.random((12, 1))
    y = np.concatenate([x, 1 - (x - 0.2) ** 2], axis=1)  # both to maximise: x -> 1 dominates
    con = x - 0.3
    for seed in range(3):
        point = propose(x, y, con, None, seed=seed, mc_samples=32, num_restarts=2, raw_samples=64)
        assert point[0] <= 0.35
    free = propose(x, y, None, None, seed=0, mc_samples=32, num_restarts=2, raw_samples=64)
    assert free[0] > 0.35  # without the constraint the same data points elsewhere


@pytest.mark.slow
def test_study_weights_on_the_simplex_and_balancer_settings_valid():
    """Through paretolab's search space: simplex weights and conditional balancer settings."""
    spec = parse_spec("""
name: bo
task: toy
losses: [loss1, loss2, loss3]
objectives: [{name: loss1, direction: minimize}, {name: loss2, direction: minimize}]
search:
  weights: simplex
  balancer: [static, {method: famo, lr: search}]
budget: {trials: 10, steps: 10}
""")
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler())
    configs = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        config = suggest_config(trial, spec, ["loss1", "loss2", "loss3"], {})
        configs.append(config)
        w = config.weights
        return (w["loss1"] - 0.5) ** 2 + w["loss2"], w["loss3"] + 0.1 * w["loss1"]

    study.optimize(objective, n_trials=8)
    assert len(study.sampler.generation_seconds) >= 3  # the model proposed the later trials
    for config in configs:
        assert math.isclose(sum(config.weights.values()), 1.0, rel_tol=1e-9)
        assert all(0 < v < 1 for v in config.weights.values())
        assert config.balancer["method"] in ("static", "famo")
        if config.balancer["method"] == "famo":
            lr = config.balancer["settings"]["lr"]
            assert isinstance(lr, float) and lr > 0


@pytest.mark.slow
def test_failed_and_pruned_trials_are_skipped_by_the_model_and_not_proposed_again():
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler())
    study.optimize(two_bowls, n_trials=5)
    outcomes = iter(["fail", "prune", "ok", "prune", "ok"])

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        values = two_bowls(trial)
        what = next(outcomes)
        if what == "fail":
            raise RuntimeError("loss is NaN")
        if what == "prune":
            raise optuna.TrialPruned()
        return values

    study.optimize(objective, n_trials=5, catch=(RuntimeError,))
    states = [t.state.name for t in study.trials[5:]]
    assert states == ["FAIL", "PRUNED", "COMPLETE", "PRUNED", "COMPLETE"]
    later = study.trials[5:]
    points = [(t.params["r.b"], t.params["r.c"]) for t in later]
    assert len({(round(a, 6), round(b, 6)) for a, b in points}) == len(points)


@pytest.mark.slow
def test_same_seed_same_trials_other_seed_other_trials():
    def run(seed: int) -> list[tuple[float, float]]:
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler(seed))
        study.optimize(two_bowls, n_trials=6)
        return [(t.params["r.b"], t.params["r.c"]) for t in study.trials]

    first = run(7)
    assert run(7) == first
    assert run(8) != first


def test_stored_constraints_reach_the_model(monkeypatch):
    """paretolab's stored violations (both the named and the dashboard form) enter the model once."""
    seen = {}
    import paretolab.samplers.ehvi as ehvi

    def spy(x, y, con, pending, **kw):
        seen["con"] = con
        return np.full(x.shape[1], 0.5)

    monkeypatch.setattr(ehvi, "propose", spy)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler())

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        values = two_bowls(trial)
        write_constraints(trial, {"ece": values[0] - 2.0}, dashboard=True)
        return values

    study.optimize(objective, n_trials=5)
    con = seen["con"]
    assert con.shape == (4, 1)  # 4 complete trials before the fifth, one constraint (not two)
    expected = [t.values[0] - 2.0 for t in study.trials[:4]]
    assert np.allclose(con[:, 0], expected)


def test_running_pruned_and_failed_trials_enter_as_pending_points(monkeypatch):
    """Another worker's running trial (and a pruned or failed one) is passed to the acquisition
    as pending, so the model does not propose it again; its params are not training data."""
    import paretolab.samplers.ehvi as ehvi
    seen = {}

    def spy(x, y, con, pending, **kw):
        seen.update(x=x, pending=pending)
        return np.full(x.shape[1], 0.5)

    monkeypatch.setattr(ehvi, "propose", spy)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler())
    study.optimize(two_bowls, n_trials=4)
    for params, state in [({"r.b": 0.1, "r.c": 0.2}, None), ({"r.b": 0.3, "r.c": 0.4}, "pruned"),
                          ({"r.b": 0.5, "r.c": 0.6}, "fail")]:
        study.enqueue_trial(params)
        trial = study.ask()
        two_bowls(trial)
        if state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif state == "fail":
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    study.optimize(two_bowls, n_trials=1)
    assert seen["x"].shape == (4, 2)
    assert seen["pending"] is not None and len(seen["pending"]) == 3
    assert study.trials[-1].params["r.b"] == pytest.approx(0.0, abs=1e-9)  # 0.5 of [-b, b]


@pytest.mark.slow
def test_two_workers_on_one_storage_see_each_others_running_trials(tmp_path):
    """Worker B (its own Study object on the same SQLite storage) holds a trial RUNNING while
    worker A proposes by the model: A passes B's trial to the acquisition as pending."""
    storage = f"sqlite:///{tmp_path / 'bo.db'}"
    optuna.create_study(study_name="bo", storage=storage, directions=["minimize", "minimize"])
    import paretolab.samplers.ehvi as ehvi
    real = ehvi.propose
    pending_counts: list[int] = []
    b_running, a_done = threading.Event(), threading.Event()

    def counting(x, y, con, pending, **kw):
        pending_counts.append(0 if pending is None else len(pending))
        return real(x, y, con, pending, **kw)

    def worker_b() -> None:
        study = optuna.load_study(study_name="bo", storage=storage, sampler=sampler(1))
        study.enqueue_trial({"r.b": 0.0, "r.c": 0.0})
        trial = study.ask()
        values = two_bowls(trial)
        b_running.set()
        a_done.wait(timeout=300)
        study.tell(trial, values)

    ehvi.propose = counting
    try:
        b = threading.Thread(target=worker_b)
        b.start()
        assert b_running.wait(timeout=60)
        study_a = optuna.load_study(study_name="bo", storage=storage, sampler=sampler(0))
        study_a.optimize(two_bowls, n_trials=6)
        a_done.set()
        b.join()
    finally:
        ehvi.propose = real
    study = optuna.load_study(study_name="bo", storage=storage)
    assert [t.state.name for t in study.trials].count("COMPLETE") == 7
    assert pending_counts and min(pending_counts) == 1  # B's running trial, in every proposal


def test_missing_botorch_is_a_one_line_error_naming_what_to_install(monkeypatch):
    import sys

    from paretolab.errors import UserError
    monkeypatch.setitem(sys.modules, "botorch", None)  # import botorch now raises ImportError
    with pytest.raises(UserError) as info:
        make_sampler("botorch", {}, 0, 10)
    assert "pip install 'botorch" in (info.value.hint or "")


def _rung_study(options: dict) -> optuna.Study:
    """4 complete trials of 90 steps with a rung record at 10 and 30 steps, then one trial
    pruned at the 10-step rung: what MO-ASHA leaves in storage."""
    from paretolab.records import RungRecord, TrialResult

    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler(**options))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        values = two_bowls(trial)
        for step in (10, 30):
            RungRecord(tuple(v + 90 / step for v in values), 0.0, step).write(trial, step)
        TrialResult(metrics={}, steps=90).write(trial)
        return values

    study.optimize(objective, n_trials=4)
    study.enqueue_trial({"r.b": 0.3, "r.c": 0.4})
    trial = study.ask()
    values = two_bowls(trial)
    RungRecord(tuple(v + 9.0 for v in values), 0.0, 10).write(trial, 10)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return study


def test_rung_results_enter_the_model_with_their_fidelity(monkeypatch):
    """With rung_results, every rung record below full length is a training row at fidelity
    steps / full steps, and a pruned trial is a baseline point instead of a pending one."""
    import paretolab.samplers.ehvi as ehvi
    seen = {}

    def spy(x, y, con, pending, **kw):
        seen.update(x=x, y=y, pending=pending, **kw)
        return np.full(x.shape[1], 0.5)

    monkeypatch.setattr(ehvi, "propose", spy)
    study = _rung_study({"rung_results": True})
    study.optimize(two_bowls, n_trials=1)
    assert seen["x"].shape == (4 + 4 * 2 + 1, 2)  # 4 full-length rows, 8 rungs of complete trials, 1 pruned
    expected = [round(10 / 90, 4)] * 5 + [round(30 / 90, 4)] * 4 + [1.0] * 4
    assert sorted(np.round(seen["fidelity"], 4).tolist()) == expected
    assert seen["baseline_x"].shape == (5, 2)  # the complete configurations and the pruned one
    assert seen["pending"] is None
    # row 4 is trial 0 at its 10-step rung, worse by 90 / 10 than at full length (row 0), and
    # sign-flipped like it to "larger is better"
    assert seen["fidelity"][4] == pytest.approx(10 / 90)
    assert np.allclose(seen["y"][4], seen["y"][0] - 9.0)

    monkeypatch.setattr(ehvi, "propose", spy)
    seen.clear()
    study = _rung_study({})  # off by default: full-length rows only, the pruned trial pending
    study.optimize(two_bowls, n_trials=1)
    assert seen["x"].shape == (4, 2) and "fidelity" not in seen and len(seen["pending"]) == 1


@pytest.mark.slow
def test_rung_results_proposal_is_a_valid_point_at_full_length():
    study = _rung_study({"rung_results": True})
    study.optimize(two_bowls, n_trials=2)
    for t in study.trials[-2:]:
        assert t.state.name == "COMPLETE"
        assert all(-BOUND <= t.params[k] <= BOUND for k in ("r.b", "r.c"))


@pytest.mark.slow
@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_one_trial_with_an_infinite_objective_does_not_break_later_proposals(bad):
    """A complete trial with an infinite value (``add_trial``, another client on the storage):
    qLogNEHVI standardised it into NaN and every later proposal failed ("Input data contains
    NaN values"); the value is clipped to its objective's finite range, as Optuna's GP does."""
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler(0))
    study.optimize(two_bowls, n_trials=5)
    dist = optuna.distributions.FloatDistribution(-BOUND, BOUND)
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE, values=[bad, 1.0],
        params={"r.b": 0.5, "r.c": 0.5}, distributions={"r.b": dist, "r.c": dist}))
    study.optimize(two_bowls, n_trials=2)
    assert [t.state.name for t in study.trials[-2:]] == ["COMPLETE", "COMPLETE"]
    assert {6, 7} <= set(study.sampler.generation_seconds)  # both proposed by the model


def test_infinite_outcomes_are_clipped_to_their_objectives_finite_range():
    from paretolab.samplers.ehvi import finite_outcomes

    y = np.array([[1.0, -np.inf], [np.inf, 2.0], [3.0, 4.0]])
    assert finite_outcomes(y).tolist() == [[1.0, 2.0], [3.0, 2.0], [3.0, 4.0]]


def test_rung_results_model_the_signed_constraint_values(monkeypatch):
    """With rung_results and a constraint, the model sees the constraint's signed value at full
    length and at every rung (feasible points keep how far inside they are), not the clipped
    total violation, which is 0 wherever a point is feasible."""
    import paretolab.samplers.ehvi as ehvi
    from paretolab.records import RungRecord, TrialResult
    seen = {}

    def spy(x, y, con, pending, **kw):
        seen.update(x=x, con=con)
        return np.full(x.shape[1], 0.5)

    monkeypatch.setattr(ehvi, "propose", spy)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler(rung_results=True))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        values = two_bowls(trial)
        for step in (10, 30):
            c = values[0] - 50.0 + step  # well inside the constraint (c <= 0)
            RungRecord(tuple(v + 90 / step for v in values), max(0.0, c), step,
                       violations={"ece <= 50": c}).write(trial, step)
        TrialResult(metrics={}, steps=90).write(trial)
        write_constraints(trial, {"ece <= 50": values[0] - 50.0}, dashboard=False)
        return values

    study.optimize(objective, n_trials=5)
    con = seen["con"]
    assert con.shape == (4 + 8, 1) and (con < 0).sum() >= 10  # signed: how far inside, not 0
    assert sorted(con[:, 0].tolist()) == sorted(
        [t.values[0] - 50.0 + s for t in study.trials[:4] for s in (0, 10, 30)])


def test_pruned_and_failed_pending_points_are_bounded(monkeypatch):
    """Fifteen failed trials: the latest ten stay pending points (a running one always does)."""
    import paretolab.samplers.ehvi as ehvi
    seen = {}

    def spy(x, y, con, pending, **kw):
        seen["pending"] = pending
        return np.full(x.shape[1], 0.5)

    monkeypatch.setattr(ehvi, "propose", spy)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler())
    study.optimize(two_bowls, n_trials=4)
    for k in range(15):
        study.enqueue_trial({"r.b": -4.0 + 0.5 * k, "r.c": 0.0})
        trial = study.ask()
        two_bowls(trial)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial({"r.b": 4.0, "r.c": 4.0})
    running = study.ask()
    two_bowls(running)
    study.optimize(two_bowls, n_trials=1)
    assert len(seen["pending"]) == ehvi.PENDING_LIMIT + 1 == 11
