"""The stored trial format: typed records round-trip, and studies written by earlier versions
(one attribute per key; bundled start/result with Optuna 5 constraints only) read the same."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from paretolab.records import (
    FailureRecord,
    RungRecord,
    StudyMeta,
    TrialResult,
    TrialStart,
    count_done,
    counts_toward_budget,
    front_summary,
    interrupted,
    is_weight_param,
    knobs,
    load_records,
    read_violations,
    rung_key,
    trial_attrs,
    trial_record,
    weight_param,
    write_constraints,
)
from paretolab.tables import trials_frame

CONFIG = {"weights": {"ce": 0.25, "l1": 0.75}, "balancer": {"method": "static", "settings": {}},
          "seed": 11, "train": {"lr": 0.01}}
PARAMS = {"r.l1": 1.0986, "lr": 0.01}
DISTS = {"r.l1": optuna.distributions.FloatDistribution(-5, 5),
         "lr": optuna.distributions.FloatDistribution(1e-4, 1, log=True)}
METRICS = {"error": 0.1, "ece": 0.2}
CURVES = {"step": [5, 10], "error": [0.3, 0.1]}


def _meta() -> StudyMeta:
    return StudyMeta(name="s", objectives=["error"], directions=["minimize"], refs=[None],
                     constraints=["ece <= 0.1"], losses=["ce", "l1"], trials_budget=3, spec={})


def test_weight_params_are_told_apart_from_searched_settings() -> None:
    names = [weight_param(p, "ce") for p in ("u.", "r.", "w.")]
    assert names == ["u.ce", "r.ce", "w.ce"] and all(is_weight_param(n) for n in names)
    assert knobs({"r.ce": 0.3, "lr": 0.1, "rgb.lambd": 0.5}) == {"lr": 0.1, "rgb.lambd": 0.5}
    with pytest.raises(ValueError):
        weight_param("x.", "ce")


def test_records_written_by_a_trial_read_back_typed_and_flat() -> None:
    study = optuna.create_study(directions=["minimize"])
    study.enqueue_trial(PARAMS)
    trial = study.ask(DISTS)
    TrialStart(CONFIG, worker=2, host="box:7").write(trial)
    RungRecord((0.3,), 0.1, 5, {"error": 0.3}, exposed=True).write(trial, 5)
    TrialResult(metrics=METRICS, curves=CURVES, steps=10, wall_time_s=1.5, device="cpu",
                conflict={"step": [5], "cos:ce|l1": [-0.2]}).write(trial)
    write_constraints(trial, {"ece <= 0.1": 0.1}, dashboard=True)
    study.tell(trial, [0.1])
    frozen = study.trials[0]

    assert TrialStart.read(frozen) == TrialStart(CONFIG, 2, "box:7")
    assert TrialStart.read(frozen).seed == 11
    assert frozen.user_attrs["w.ce"] == 0.25 and frozen.user_attrs["w.l1"] == 0.75  # the dashboard's view
    assert RungRecord.read(frozen, 5) == RungRecord((0.3,), 0.1, 5, {"error": 0.3}, True)
    assert RungRecord.read(frozen, 10) is None
    result = TrialResult.read(frozen)
    assert result.metrics == METRICS and result.steps == 10 and result.conflict["cos:ce|l1"] == [-0.2]
    assert result.pruned_at is None and FailureRecord.read(frozen) is None

    # both constraint forms are stored, read once by name
    assert frozen.system_attrs["constraints"] == [0.1]
    assert read_violations(frozen) == {"ece <= 0.1": 0.1}
    record = trial_record(frozen)
    assert record.violations == {"ece <= 0.1": 0.1} and record.total_violation == pytest.approx(0.1)
    assert record.knobs == {"lr": 0.01} and record.start.worker == 2 and record.result.device == "cpu"
    flat = trial_attrs(frozen)
    assert flat["config"] == CONFIG and flat["wall_time_s"] == 1.5 and flat[rung_key(5)]["exposed"]
    columns = trials_frame(_meta(), [record]).columns
    assert "violation:ece <= 0.1" in columns and "violation:0" not in columns


def test_failures_count_toward_the_budget_unless_interrupted_or_lost() -> None:
    study = optuna.create_study(directions=["minimize"])
    for record in (FailureRecord("ValueError: bad", "Traceback ..."), interrupted(), None):
        trial = study.ask()
        if record is not None:
            record.write(trial)
        study.tell(trial, state=TrialState.FAIL)
    failed, cut, lost = study.trials
    assert FailureRecord.read(failed) == FailureRecord("ValueError: bad", "Traceback ...")
    assert FailureRecord.read(cut).interrupted and FailureRecord.read(lost) is None
    assert [counts_toward_budget(t.state.name, t.user_attrs) for t in study.trials] == [True, False, False]
    assert count_done(study) == 1
    assert [r.counts_toward_budget for r in load_records(study)] == [True, False, False]


def _old_trials() -> list[optuna.trial.FrozenTrial]:
    """The same complete trial as stored by the per-key format (before start/result bundles)
    and by the bundled format with Optuna 5 constraints only (before the dashboard's list)."""
    per_key = optuna.trial.create_trial(
        state=TrialState.COMPLETE, values=[0.1], params=PARAMS, distributions=DISTS,
        constraints={"ece <= 0.1": 0.1},
        user_attrs={"config": CONFIG, "knobs": {"lr": 0.01}, "worker": 1, "metrics": METRICS,
                    "curves": CURVES, "wall_time_s": 1.5, "device": "cpu", "steps": 10,
                    rung_key(5): {"values": [0.3], "violation": 0.1}})
    bundled = optuna.trial.create_trial(
        state=TrialState.COMPLETE, values=[0.1], params=PARAMS, distributions=DISTS,
        constraints={"ece <= 0.1": 0.1},
        user_attrs={"start": {"config": CONFIG, "worker": 1},
                    "result": {"metrics": METRICS, "curves": CURVES, "wall_time_s": 1.5,
                               "device": "cpu", "steps": 10},
                    rung_key(5): {"values": [0.3], "violation": 0.1, "step": 5, "metrics": {}}})
    return [per_key, bundled]


@pytest.mark.parametrize("index", [0, 1], ids=["per-key", "bundled"])
def test_studies_written_by_earlier_versions_read_the_same(index: int) -> None:
    t = _old_trials()[index]
    record = trial_record(t)
    assert record.config == CONFIG and record.metrics == METRICS and record.knobs == {"lr": 0.01}
    assert record.violations == {"ece <= 0.1": 0.1} and not record.feasible
    assert record.start == TrialStart(CONFIG, 1) and record.start.seed == 11
    assert record.result.wall_time_s == 1.5 and record.result.curves == CURVES
    assert record.result.device == "cpu" and record.result.steps == 10 and record.failure is None
    rung = RungRecord.read(t, 5)
    assert rung.values == (0.3,) and rung.violation == 0.1 and rung.exposed is False
    flat = trial_attrs(t)
    for key in ("config", "worker", "metrics", "curves", "wall_time_s", "device", "steps", "knobs"):
        assert flat[key] == trial_attrs(_old_trials()[1 - index])[key], key
    study = optuna.create_study(directions=["minimize"])
    study.add_trial(t)
    summary = front_summary(_meta(), load_records(study))
    assert summary.numbers == [0] and not summary.feasible.any()


def test_gp_studies_keep_optunas_constraint_form_only() -> None:
    """The GP sampler models each constraint on its own and needs the same names in every
    trial: a duplicate list would count each constraint twice (and break resumed studies)."""
    import warnings

    from paretolab.records import dashboard_constraints

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp = optuna.create_study(directions=["minimize"], sampler=optuna.samplers.GPSampler(seed=0))
    assert not dashboard_constraints(gp)
    assert dashboard_constraints(optuna.create_study(directions=["minimize"]))
    trial = gp.ask()
    write_constraints(trial, {"ece <= 0.1": 0.1}, dashboard=dashboard_constraints(gp))
    gp.tell(trial, [0.0])
    assert gp.trials[0].constraints == {"ece <= 0.1": 0.1}


def test_study_metadata_round_trips() -> None:
    study = optuna.create_study(directions=["minimize"])
    assert StudyMeta.read(study) is None
    with pytest.raises(KeyError, match="not created by paretolab"):
        StudyMeta.from_study(study)
    _meta().write(study)
    assert StudyMeta.read(study) == StudyMeta.from_study(study) == _meta()


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_optuna_reads_the_doubled_constraints_as_before(sampler: str) -> None:
    """With both constraint forms stored, Optuna's samplers run without a warning and
    ``best_trials`` holds the feasible non-dominated trials, as with the named form alone."""
    import warnings

    samplers = {"tpe": optuna.samplers.TPESampler(seed=0, n_startup_trials=4),
                "nsga2": optuna.samplers.NSGAIISampler(seed=0, population_size=4)}
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=samplers[sampler])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(12):
            trial = study.ask()
            x = trial.suggest_float("x", 0.0, 1.0)
            write_constraints(trial, {"x <= 0.5": x - 0.5, "x >= 0.1": 0.1 - x}, dashboard=True)
            study.tell(trial, [x, 1.0 - x])
    feasible = {t.number for t in study.trials if 0.1 <= t.params["x"] <= 0.5}
    assert {t.number for t in study.best_trials} == feasible
    assert all(len(t.constraints) == 4 and read_violations(t).keys() == {"x <= 0.5", "x >= 0.1"}
               for t in study.trials)
