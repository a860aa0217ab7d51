"""One training run, the whole front: Pareto manifold learning inside a study (paretolab.one_run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
from torch import nn

from paretolab.errors import SpecError, UserError
from paretolab.objective import Objective
from paretolab.one_run import ParetoManifold, anchor_count, preference_grid
from paretolab.records import (
    OneRunRecord,
    StudyMeta,
    count_done,
    counts_toward_budget,
    front_candidates,
    front_summary,
    load_records,
    trial_attrs,
)
from paretolab.spec import load_spec, parse_spec
from paretolab.spec.checks import check_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _spec_text(name: str, tmp_path: Path, *, trials: int = 1, steps: int = 20, extra: str = "",
               one_run: str = "{preferences: 5}") -> str:
    return textwrap.dedent(f"""\
        name: {name}
        task: toy
        objectives: [loss1, loss2]
        train: {{lr: 0.05}}
        budget: {{trials: {trials}, steps: {steps}}}
        one_run: {one_run}
        output_dir: {tmp_path / name}
        """) + extra


def _write(tmp_path: Path, name: str, **kw) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(_spec_text(name, tmp_path, **kw))
    return path


# --- the manifold ------------------------------------------------------------------------------
def _anchors(model: nn.Module, k: int) -> list[dict[str, torch.Tensor]]:
    out = []
    for j in range(k):
        torch.manual_seed(100 + j)
        out.append({n: torch.randn_like(p) for n, p in model.named_parameters()})
    return out


@pytest.mark.parametrize("degree", [1, 2])
def test_theta_at_a_vertex_is_that_anchors_model(degree):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    k = anchor_count(3, degree)
    starts = _anchors(model, k)
    manifold = ParetoManifold(model, 3, degree=degree, anchors=starts)
    x = torch.randn(5, 4)
    for i in range(3):
        vertex = [1.0 if j == i else 0.0 for j in range(3)]
        state = manifold.state_dict_at(vertex)
        for name, tensor in starts[i].items():
            assert torch.equal(state[name], tensor)
        plain = manifold.model_at(vertex)
        ref = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        ref.load_state_dict(starts[i])
        assert torch.allclose(plain(x), ref(x))
        # the call the trainer makes runs the model at theta(a), too
        assert torch.allclose(manifold.call(vertex, lambda: model(x)), ref(x))


def test_degree_one_mixes_linearly_and_gradients_reach_the_anchors():
    model = nn.Linear(2, 1)
    starts = _anchors(model, 2)
    manifold = ParetoManifold(model, 2, anchors=starts)
    mixed = manifold.mixed([0.25, 0.75])
    assert torch.allclose(mixed["weight"], 0.25 * starts[0]["weight"] + 0.75 * starts[1]["weight"])
    out = manifold.call([0.25, 0.75], lambda: model(torch.ones(1, 2)).sum())
    out.backward()
    g0, g1 = manifold.anchors[0]["weight"].grad, manifold.anchors[1]["weight"].grad
    assert torch.allclose(g1, 3 * g0)  # d/d theta_j = a_j * d/d theta
    assert model.weight.grad is None  # the model's own parameters are not trained


def test_preference_grid_and_sampling():
    two = preference_grid(2, 5)
    assert two[0] == [1.0, 0.0] and two[-1] == [0.0, 1.0] and len(two) == 5
    three = preference_grid(3, 11)  # the largest lattice of at most 11 points: h = 3, 10 points
    assert len(three) == 10 and all(abs(sum(a) - 1) < 1e-9 for a in three)
    assert [1.0, 0.0, 0.0] in three and [0.0, 0.0, 1.0] in three
    manifold = ParetoManifold(nn.Linear(2, 1), 3, concentration=0.5, seed=3)
    rows = manifold.sample(64)
    assert rows.shape == (64, 3) and torch.allclose(rows.sum(1), torch.ones(64)) and (rows >= 0).all()
    again = ParetoManifold(nn.Linear(2, 1), 3, concentration=0.5, seed=3).sample(64)
    assert torch.equal(rows, again)


@pytest.mark.slow
def test_near_zero_concentration_gives_no_zero_preference_and_mgda_trains(tmp_path):
    """At concentration 0.02 a third of Dirichlet draws underflow to exact zeros in float32;
    mgda divides by the preference and the run failed with a non-finite gradient."""
    manifold = ParetoManifold(nn.Linear(2, 1), 2, concentration=0.02, seed=0)
    rows = manifold.sample(1000)
    assert (rows > 0).all() and torch.allclose(rows.sum(1), torch.ones(1000))
    text = _spec_text("mgda", tmp_path, steps=20, one_run="{preferences: 5, concentration: 0.02}").replace(
        "train: {lr: 0.05}", "train: {lr: 0.05}\nsearch: {balancer: [mgda]}")
    spec = parse_spec(text)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(0))
    checked = check_study(spec, check_storage_reachable=False)
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    study.optimize(Objective(checked, "cpu"), n_trials=1)
    assert study.trials[0].state.name == "COMPLETE", trial_attrs(study.trials[0]).get("failure")


# --- the study file --------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ("one_run: {degree: 7}", "degree must be 1, 2, 3 or 4"),
    ("one_run: {concentration: [2.0, 1.0]}", "0 < low < high"),
    ("one_run: {concentration: 0}", "concentration must be > 0"),
    ("one_run: {preferences: 1}", "preferences"),
    ("one_run: {method: cosmos}", "method"),
    ("one_run: {anchors: 3}", "anchors"),
])
def test_one_run_section_errors_are_clear(tmp_path, change, message):
    text = _spec_text("bad", tmp_path).replace("one_run: {preferences: 5}", change)
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize("extra, message", [
    ("pruning: moasha\n", "one_run and pruning cannot be combined"),
    ("search: {weights: {spread: uniform}}\n", "remove search.weights"),
])
def test_one_run_refuses_what_does_not_apply(tmp_path, extra, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(_spec_text("bad", tmp_path, extra=extra))


def test_one_run_needs_a_task(tmp_path):
    text = _spec_text("bad", tmp_path).replace("task: toy", "trainer: {function: 'x.py:train'}\n"
                                               "losses: [loss1, loss2]")
    with pytest.raises(SpecError, match="needs 'task'"):
        parse_spec(text)


# --- a one-run trial -----------------------------------------------------------------------------
def _run_in_memory(tmp_path: Path, trials: int = 1, one_run: str = "{preferences: 5}"):
    spec = parse_spec(_spec_text("mem", tmp_path, trials=trials, one_run=one_run))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(0))
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    objective = Objective(checked, "cpu")
    for _ in range(trials):
        study.optimize(objective, n_trials=1)
    return spec, study


@pytest.mark.slow
def test_a_run_adds_its_evaluated_preferences_as_trials(tmp_path):
    spec, study = _run_in_memory(tmp_path, one_run="{preferences: 5, degree: [1, 2], "
                                                   "concentration: [0.5, 2.0], samples_per_step: 2}")
    trials = study.get_trials()
    run = trials[0]
    assert OneRunRecord.read(run).role == "run"
    points = [t for t in trials if OneRunRecord.read(t) and OneRunRecord.read(t).role == "point"]
    assert len(points) == 5 and OneRunRecord.read(run).points == tuple(t.number for t in points)
    grid = preference_grid(2, 5)
    for t, a in zip(points, grid):
        attrs = trial_attrs(t)
        assert attrs["config"]["weights"] == {"loss1": a[0], "loss2": a[1]}
        assert t.user_attrs["w.loss1"] == a[0]
        assert OneRunRecord.read(t).run == run.number
        assert list(t.values) == [attrs["metrics"]["loss1"], attrs["metrics"]["loss2"]]
        assert t.params == run.params and "one_run.degree" in t.params  # the run's searched settings
        assert not counts_toward_budget(t.state.name, t.user_attrs)
    # the run counts once, its cost once; the points cost only their evaluation
    assert count_done(study) == 1
    assert OneRunRecord.read(run).train_steps == 20  # batches; 2 preferences each: 40 passes
    assert trial_attrs(run)["steps"] == 40 and all(trial_attrs(t)["steps"] == 0 for t in points)
    # the run's own values are its points' nadir: never on the front, and left out by paretolab
    values = [list(t.values) for t in points]
    assert list(run.values) == [max(v[0] for v in values), max(v[1] for v in values)]
    records = load_records(study)
    assert [r.number for r in front_candidates(records)] == [t.number for t in points]
    assert run.number not in front_summary(StudyMeta.read(study), records).numbers


def test_points_count_only_once_their_run_completed():
    """Records alone (no training): a run's points enter the front once the run is COMPLETE; an
    interrupted run's points stay out, and the redone run's points go in; no point is budget."""
    from paretolab.records import TrialResult, TrialStart, point_trial

    study = optuna.create_study(directions=["minimize", "minimize"])
    StudyMeta("s", ["a", "b"], ["minimize", "minimize"], [None, None], [], ["x", "y"], 2, {}).write(study)

    def run_with_points(state, shift):
        run = study.ask()
        OneRunRecord("run", run.number).write(run)
        for a in (0.0, 0.5, 1.0):
            study.add_trial(point_trial(
                [a + shift, 1 - a + shift], TrialStart({"weights": {"x": 1 - a, "y": a}}),
                TrialResult(metrics={"a": a, "b": 1 - a}, steps=0),
                OneRunRecord("point", run.number, preference={"x": 1 - a, "y": a}), {},
                params={}, distributions={}, dashboard=True))
        study.tell(run, [1.0 + shift, 1.0 + shift] if state == "COMPLETE" else None,
                   state=getattr(optuna.trial.TrialState, state))
        return run.number

    lost = run_with_points("FAIL", 0.0)  # interrupted after adding its points (better ones)
    redone = run_with_points("COMPLETE", 0.1)
    records = load_records(study)
    kept = front_candidates(records)
    assert {r.one_run.run for r in kept} == {redone} and len(kept) == 3
    assert lost not in {r.number for r in kept} and redone not in {r.number for r in kept}
    assert front_summary(StudyMeta.read(study), records).numbers == [r.number for r in kept]
    assert count_done(study) == 1  # the completed run; no point, not the interrupted run


@pytest.mark.slow
def test_pick_of_a_point_saves_its_model_and_train_reloads_it(tmp_path):
    from paretolab.pick import pick
    from paretolab.production import checkpoint_metrics, load_pick, retrain
    from paretolab.runner import run_study
    from paretolab.verify import verify

    path = _write(tmp_path, "pk", steps=30)
    run_study(check_study(load_spec(path)), workers=1, progress=False)
    choice, source, written = pick(tmp_path / "pk", trial=3)
    assert choice.record.one_run.role == "point"
    picked = load_pick(written)
    assert picked.preference == choice.record.one_run.preference
    assert picked.checkpoint == written.parent / "pick.pt" and picked.checkpoint.is_file()
    state = torch.load(picked.checkpoint, weights_only=True)
    assert set(state) == {"x"}  # a plain state dict of the toy's model
    assert checkpoint_metrics(picked, "cpu") == pytest.approx(choice.record.metrics, rel=1e-6)
    done = retrain(picked, device="cpu")
    assert done.checkpoint == pytest.approx(choice.record.metrics, rel=1e-6)
    assert done.steps == 30 and set(done.metrics) >= {"loss1", "loss2"}  # the fixed-weight model
    with pytest.raises(UserError, match="one-run training"):
        pick(tmp_path / "pk", trial=0)
    with pytest.raises(UserError, match="one_run study"):
        verify(tmp_path / "pk")
    trials = pd.read_csv(tmp_path / "pk" / "trials.csv")
    assert list(trials["one_run"][:6]) == ["run"] + ["point"] * 5 and set(trials["run"]) == {0}
    assert not trials["on_front"][0] and trials["on_front"][1:].any()


@pytest.mark.slow
def test_resume_and_two_workers_add_each_runs_points_once(tmp_path):
    path = _write(tmp_path, "wk", trials=3, steps=15)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""\
        import sys
        from paretolab.runner import run_study
        from paretolab.spec import load_spec
        from paretolab.spec.checks import check_study

        if __name__ == "__main__":
            run_study(check_study(load_spec(sys.argv[1])), workers=int(sys.argv[2]), progress=False)
        """))
    subprocess.run([sys.executable, str(script), str(path), "2"], check=True, timeout=300)
    path.write_text(path.read_text().replace("trials: 3", "trials: 4"))  # resume with one more run
    subprocess.run([sys.executable, str(script), str(path), "1"], check=True, timeout=300)
    study = optuna.load_study(study_name="wk", storage=f"sqlite:///{tmp_path / 'wk' / 'study.db'}")
    runs = [t for t in study.trials if OneRunRecord.read(t) and OneRunRecord.read(t).role == "run"]
    points = [t for t in study.trials if OneRunRecord.read(t) and OneRunRecord.read(t).role == "point"]
    assert len(runs) == 4 and all(t.state.name == "COMPLETE" for t in runs)
    assert len(points) == 4 * 5 and count_done(study) == 4
    for run in runs:
        mine = [t.number for t in points if OneRunRecord.read(t).run == run.number]
        assert tuple(mine) == OneRunRecord.read(run).points and len(mine) == 5
    assert len({tuple(OneRunRecord.read(t).preference.items()) + (OneRunRecord.read(t).run,)
                for t in points}) == 20  # no point twice


# --- the README -------------------------------------------------------------------------------
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_section() -> str:
    return README.read_text().split("## One run, the whole front", 1)[1].split("\n## ", 1)[0]


def test_readme_one_run_study_validates(tmp_path):
    import re

    block = re.search(r"```yaml\n(.*?)```", _readme_section(), re.S)[1]
    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\noutput_dir: {tmp_path / 'r'}\n" + block)
    spec = load_spec(path)
    assert spec.one_run.preferences == 21 and spec.one_run.degree == 1


@pytest.mark.slow
def test_readme_own_loop_learns_a_trade_off():
    import re

    code = re.search(r"```python\n(.*?)```", _readme_section(), re.S)[1]
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=True)

    def my_losses(model, batch):
        return ((model(x) - y) ** 2).mean(), model.weight.abs().sum()

    namespace = {"model": model, "my_losses": my_losses, "batches": range(100)}
    exec(compile(code, str(README), "exec"), namespace)
    manifold = namespace["manifold"]
    ends = [[float(v) for v in my_losses(manifold.model_at(a), None)] for a in ([1, 0], [0, 1])]
    assert ends[0][0] < ends[1][0] and ends[0][1] > ends[1][1]  # each end favours its own loss
