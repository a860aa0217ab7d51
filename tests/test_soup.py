"""Rewarded soups in a study (one_run: {method: soup}), then: sampler, and warm starts."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

import paretolab
from paretolab.errors import SpecError
from paretolab.objective import Objective
from paretolab.one_run.soup import specialist_preferences
from paretolab.records import OneRunRecord, StudyMeta, count_done, front_candidates, load_records, trial_attrs
from paretolab.search_space import TrialConfig
from paretolab.spec import load_spec, parse_spec
from paretolab.spec.checks import check_study
from paretolab.trainer import train
from paretolab.warm_start import WarmStartRecord, checkpoint_file

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _text(name: str, tmp_path: Path, *, trials: int = 1, steps: int = 10,
          one_run: str = "{method: soup, preferences: 5}", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        name: {name}
        task: toy
        objectives: [loss1, loss2]
        train: {{lr: 0.5}}
        budget: {{trials: {trials}, steps: {steps}}}
        one_run: {one_run}
        output_dir: {tmp_path / name}
        """) + extra


def _in_memory(tmp_path: Path, trials: int = 1, **kw) -> tuple:
    spec = parse_spec(_text("mem", tmp_path, trials=trials, **kw))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(0))
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    objective = Objective(checked, "cpu")
    for _ in range(trials):
        study.optimize(objective, n_trials=1)
    return spec, study


def _role(t) -> str | None:
    link = OneRunRecord.read(t)
    return link.role if link is not None else None


# --- paretolab.soup ----------------------------------------------------------------------------
def _net_states(n: int) -> list[dict[str, torch.Tensor]]:
    out = []
    for i in range(n):
        torch.manual_seed(i)
        net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        net.train()
        for _ in range(i + 1):  # different running statistics and batch counts
            net(torch.randn(8, 3))
        out.append(net.state_dict())
    return out


def test_soup_at_a_vertex_is_that_specialist_and_mixes_float_tensors_linearly():
    states = _net_states(3)
    for i in range(3):
        vertex = [1.0 if j == i else 0.0 for j in range(3)]
        mixed = paretolab.soup(states, vertex)
        assert set(mixed) == set(states[i]) and all(torch.equal(mixed[k], states[i][k]) for k in mixed)
    mixed = paretolab.soup(states, [0.2, 0.3, 0.5])
    for key in ("0.weight", "1.running_mean", "1.running_var"):  # parameters and float buffers
        want = 0.2 * states[0][key] + 0.3 * states[1][key] + 0.5 * states[2][key]
        assert torch.allclose(mixed[key], want, atol=1e-6)
    # an integer buffer comes from the state dict of largest weight
    assert mixed["1.num_batches_tracked"] == states[2]["1.num_batches_tracked"] == 3
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    net.load_state_dict(mixed)  # a plain state dict of the model


def test_soup_refuses_state_dicts_that_do_not_match():
    a, b = _net_states(2)
    with pytest.raises(ValueError, match="one weight per state dict"):
        paretolab.soup([a, b], [1.0])
    del b["0.bias"]
    with pytest.raises(ValueError, match="same entries"):
        paretolab.soup([a, b], [0.5, 0.5])


def test_analyze_probes_are_spread_over_training():
    from paretolab.analyze import layer_of, probe_steps

    assert probe_steps(10, 3) == [1, 6, 10] and probe_steps(4, 10) == [1, 2, 3, 4] and probe_steps(7, 1) == [7]
    assert layer_of("encoder.0.weight") == "encoder.0" and layer_of("x") == "x"


def test_default_specialists_sit_at_the_corners():
    prefs = specialist_preferences(["a", "b", "c"], {"corner": 0.8})
    assert prefs[0] == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    assert prefs[2] == pytest.approx({"a": 0.1, "b": 0.1, "c": 0.8})
    listed = specialist_preferences(["a", "b"], {"specialists": [{"a": 3, "b": 1}, {"b": 1}]})
    assert listed == [{"a": 0.75, "b": 0.25}, {"a": 0.0, "b": 1.0}]


@pytest.mark.parametrize("one_run, extra, message", [
    ("{method: pml, pretrain_steps: 5}", "", "for method: soup"),
    ("{method: soup, specialists: [{loss1: 1}]}", "", "at least 2 specialists"),
    ("{method: soup, then: sampler}", "search: {weights: {ranges: {loss1: [0, 1], loss2: [0, 1]}}}\n",
     "spread log or uniform"),
    ("{method: soup}", "search: {weights: {spread: uniform}}\n", "remove search.weights"),
    ("{method: soup, degree: 2}", "", "are for method: pml"),
])
def test_soup_section_errors_are_clear(tmp_path, one_run, extra, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(_text("bad", tmp_path, one_run=one_run, extra=extra))


# --- a soup run in a study -----------------------------------------------------------------------
@pytest.mark.slow
def test_a_soup_run_adds_its_points_once_linked_to_it_and_its_vertices_are_the_specialists(tmp_path):
    spec, study = _in_memory(tmp_path)
    trials = study.get_trials()
    run, points = trials[0], trials[1:]
    assert _role(run) == "run" and [_role(t) for t in points] == ["point"] * 5
    assert OneRunRecord.read(run).points == tuple(t.number for t in points)
    assert all(OneRunRecord.read(t).run == run.number for t in points)
    assert count_done(study) == 1  # the run counts once, its points never
    # its cost: both specialists' steps, once; the points cost only their evaluation
    assert trial_attrs(run)["steps"] == 2 * 10 and all(trial_attrs(t)["steps"] == 0 for t in points)
    assert [r.number for r in front_candidates(load_records(study))] == [t.number for t in points]
    # a point's weights are the preference its model stands for: its mix of the specialists'
    first, last = trial_attrs(points[0]), trial_attrs(points[-1])
    assert first["config"]["weights"] == pytest.approx({"loss1": 0.9, "loss2": 0.1})
    assert first["config"]["extra"]["one_run"]["mix"] == [1.0, 0.0]
    assert last["config"]["weights"] == pytest.approx({"loss1": 0.1, "loss2": 0.9})
    # theta at a vertex is that specialist: the metrics of training it alone at its preference
    config = TrialConfig.from_dict(trial_attrs(run)["config"])
    for point, pref in ((points[0], {"loss1": 0.9, "loss2": 0.1}), (points[-1], {"loss1": 0.1, "loss2": 0.9})):
        alone = train(replace(config, weights=pref, extra={}), "cpu", base_dir=spec.base_dir)
        assert trial_attrs(point)["metrics"] == pytest.approx(alone.metrics, rel=1e-6)
    assert list(points[0].values) != list(points[-1].values)  # the specialists differ


def test_a_user_task_gives_the_soup_its_starting_checkpoint(tmp_path):
    (tmp_path / "mytask.py").write_text(textwrap.dedent("""\
        import torch
        from paretolab.tasks.toy import ToyTask

        class Started(ToyTask):
            def initial_state(self):
                return {"x": torch.tensor([5.0, -9.0])}
        """))
    text = _text("mem", tmp_path, steps=1).replace("task: toy", "task: mytask.py:Started")
    text = text.replace("lr: 0.5", "lr: 1.0e-6")
    (tmp_path / "s.yaml").write_text(text)
    spec = load_spec(tmp_path / "s.yaml")
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions)
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    study.optimize(Objective(checked, "cpu"), n_trials=1)
    saved = torch.load(Path(OneRunRecord.read(study.trials[0]).anchors), weights_only=True)
    assert saved["method"] == "soup" and len(saved["specialists"]) == 2
    for state in saved["specialists"]:  # one step of a tiny lr from the task's own start
        assert torch.allclose(state["x"], torch.tensor([5.0, -9.0]), atol=1e-4)


@pytest.mark.slow
def test_pick_of_a_soup_point_saves_its_mixed_weights_and_train_reproduces_it(tmp_path):
    from paretolab.pick import pick
    from paretolab.production import checkpoint_metrics, load_pick, retrain
    from paretolab.runner import run_study

    path = tmp_path / "pk.yaml"
    path.write_text(_text("pk", tmp_path))
    run_study(check_study(load_spec(path)), workers=1, progress=False)
    choice, source, written = pick(tmp_path / "pk", trial=3)  # the middle of 5: mix [0.5, 0.5]
    assert choice.record.one_run.role == "point"
    picked = load_pick(written)
    run = OneRunRecord.read(source.study.trials[0])
    saved = torch.load(Path(run.anchors), weights_only=True)
    state = torch.load(picked.checkpoint, weights_only=True)
    want = 0.5 * saved["specialists"][0]["x"] + 0.5 * saved["specialists"][1]["x"]
    assert set(state) == {"x"} and torch.allclose(state["x"], want)
    assert checkpoint_metrics(picked, "cpu") == pytest.approx(choice.record.metrics, rel=1e-6)
    done = retrain(picked, device="cpu")  # what 'paretolab train pick.yaml' runs
    assert done.checkpoint == pytest.approx(choice.record.metrics, rel=1e-6)
    assert done.steps == 10 and set(done.metrics) >= {"loss1", "loss2"}
    assert 'id="fig-soup-path"' in (tmp_path / "pk" / "report.html").read_text()  # the path, drawn

    # paretolab analyze: per-layer gradient norms of each loss, stored beside the study, drawn
    from typer.testing import CliRunner

    from paretolab.cli import app

    cli = CliRunner()
    done_cli = cli.invoke(app, ["analyze", str(tmp_path / "pk"), "--trial", "3", "--probes", "3"])
    assert done_cli.exit_code == 0, done_cli.output
    stored = json.loads((tmp_path / "pk" / "analysis" / "trial-3.json").read_text())
    assert stored["steps"] == [1, 6, 10] and stored["layers"] == ["x"]
    assert set(stored["norms"]) == {"loss1", "loss2"}
    assert all(len(rows) == 3 and rows[0][0] > 0 for rows in stored["norms"].values())
    assert cli.invoke(app, ["report", str(tmp_path / "pk")]).exit_code == 0
    assert 'id="fig-gradient-flow"' in (tmp_path / "pk" / "report.html").read_text()
    refused = cli.invoke(app, ["analyze", str(tmp_path / "pk"), "--trial", "0"])
    assert refused.exit_code == 2 and "one-run training" in refused.output


# --- then: sampler ---------------------------------------------------------------------------
@pytest.mark.slow
def test_then_sampler_runs_one_soup_then_per_weight_trials_that_see_its_points(tmp_path):
    spec, study = _in_memory(tmp_path, trials=3, one_run="{method: soup, preferences: 3, then: sampler}")
    roles = [_role(t) for t in study.trials]
    assert roles == ["run", "point", "point", "point", None, None]
    assert count_done(study) == 3
    for t in study.trials[1:4]:  # each point carries its preference as the sampler's weight param
        w = trial_attrs(t)["config"]["weights"]
        assert t.params["r.loss2"] == pytest.approx(math.log(w["loss2"] / w["loss1"]))
        assert "r.loss2" in t.distributions
    for t in study.trials[4:]:  # ordinary per-weight trials of the sampler
        assert trial_attrs(t)["steps"] == 10 and "r.loss2" in t.params


@pytest.mark.slow
def test_soup_then_sampler_with_resume_and_two_workers_has_one_run(tmp_path):
    path = tmp_path / "wk.yaml"
    path.write_text(_text("wk", tmp_path, trials=4, one_run="{method: soup, preferences: 3, then: sampler}"))
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
    path.write_text(path.read_text().replace("trials: 4", "trials: 6"))
    subprocess.run([sys.executable, str(script), str(path), "1"], check=True, timeout=300)
    study = optuna.load_study(study_name="wk", storage=f"sqlite:///{tmp_path / 'wk' / 'study.db'}")
    runs = [t for t in study.trials if _role(t) == "run"]
    points = [t for t in study.trials if _role(t) == "point"]
    assert len(runs) == 1 and runs[0].state.name == "COMPLETE"
    assert len(points) == 3 and OneRunRecord.read(runs[0]).points == tuple(t.number for t in points)
    assert count_done(study) == 6


# --- warm starts -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_warm_started_trial_starts_at_its_source_metrics_and_counts_only_its_steps(tmp_path):
    spec, study = _in_memory(tmp_path, trials=3, one_run="{method: soup, preferences: 3, then: sampler}",
                             extra="init: {from: nearest, steps: 4}\n")
    by_number = {t.number: t for t in study.trials}
    for t in study.trials[4:]:
        record = WarmStartRecord.read(t)
        assert record is not None  # the soup's points are sources too
        source = by_number[record.source]
        assert record.start_metrics == pytest.approx(trial_attrs(source)["metrics"], rel=1e-6)
        assert trial_attrs(t)["steps"] == 4
        assert trial_attrs(t)["config"]["extra"]["warm_start"] == {"from": record.source}
        assert checkpoint_file(spec, t.number).is_file()
    # the nearest in preference space
    t = study.trials[4]
    w = trial_attrs(t)["config"]["weights"]["loss1"]
    nearest = min(study.trials[1:4], key=lambda p: abs(trial_attrs(p)["config"]["weights"]["loss1"] - w))
    assert WarmStartRecord.read(t).source == nearest.number


def test_warm_start_from_a_missing_checkpoint_fails_with_a_clear_reason(tmp_path):
    text = _text("ws", tmp_path, trials=2).split("one_run:")[0] + f"output_dir: {tmp_path / 'ws'}\n" \
        "init: {from: nearest}\n"
    spec = parse_spec(text)
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(0))
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    objective = Objective(checked, "cpu")
    study.optimize(objective, n_trials=1)
    first = study.trials[0]
    assert first.state.name == "COMPLETE" and WarmStartRecord.read(first) is None  # nothing to start from
    checkpoint_file(spec, first.number).unlink()
    study.optimize(objective, n_trials=1, catch=(Exception,))
    failed = study.trials[1]
    assert failed.state.name == "FAIL"
    reason = failed.user_attrs["failure"]
    assert "warm start from trial 0" in reason and "final.pt is missing" in reason


# --- the README ---------------------------------------------------------------------------------
def test_readme_soup_section_validates_and_its_helper_runs(tmp_path):
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### A front from a few fine-tunes", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)[1]
    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\noutput_dir: {tmp_path / 'r'}\ntask: digits\nlosses: [ce, l1]\n"
                    "objectives: [error, sparsity]\n" + block)
    spec = load_spec(path)
    assert spec.one_run.method == "soup" and spec.one_run.then == "sampler"
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    a, b, model = nn.Linear(2, 1), nn.Linear(2, 1), nn.Linear(2, 1)
    exec(compile(code, "README.md", "exec"), {"model": model, "specialist_a": a, "specialist_b": b})
    assert torch.allclose(model.weight, 0.3 * a.weight + 0.7 * b.weight)


def test_the_report_draws_each_objective_along_the_soups_interpolation_path():
    """Records alone: a soup run's points on its specialists' edge become one line per objective,
    in order along the edge, with the straight line between the ends (the barrier check)."""
    from paretolab.records import TrialResult, TrialStart, point_trial
    from paretolab.report.landscape import interpolation_figure

    study = optuna.create_study(directions=["minimize", "minimize"])
    run = study.ask()
    OneRunRecord("run", run.number).write(run)
    for m in (0.0, 1.0, 0.5):  # stored out of order
        config = {"weights": {"x": 1 - m, "y": m}, "extra": {"one_run": {"mix": [1 - m, m]}}}
        study.add_trial(point_trial([m, 1 - m + (0.3 if m == 0.5 else 0.0)], TrialStart(config),
                                    TrialResult(metrics={}, steps=0),
                                    OneRunRecord("point", run.number, preference=config["weights"]), {},
                                    params={}, distributions={}, dashboard=False))
    study.tell(run, [1.0, 1.3])
    fig = interpolation_figure(load_records(study), ["a", "b"])
    path_b, straight_b = fig.data[2], fig.data[3]
    assert list(path_b.x) == [0.0, 0.5, 1.0] and list(path_b.y) == [1.0, 0.8, 0.0]
    assert list(straight_b.y) == [1.0, 0.0]  # the middle point sits 0.3 above it: a barrier
    assert interpolation_figure([], ["a", "b"]) is None


@pytest.mark.slow
def test_a_soup_on_posttrain_fine_tunes_from_its_cached_checkpoint(tmp_path, monkeypatch):
    """The posttrain task's build_model() returns its pre-trained checkpoint: that is the soup's
    shared start; theta at a vertex is the specialist trained alone at its preference."""
    from paretolab.one_run.soup import train_soup
    from paretolab.tasks import make_task
    from paretolab.tasks.posttrain.pretrain import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    torch.set_num_threads(1)
    tiny = {"layers": 1, "width": 16, "heads": 2, "pretrain_steps": 3, "group": 4, "eval_prompts": 8,
            "max_new": 8}
    names = ["correct", "brief", "format", "kl"]
    config = TrialConfig(
        weights={n: 0.25 for n in names}, balancer={"method": "static", "settings": {}},
        train={"lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0, "momentum": 0.9, "batch_size": 2,
               "grad_clip": 1.0, "lr_schedule": "constant", "warmup_steps": 0},
        task="posttrain", task_params=tiny, loss_groups={n: {n: 1.0} for n in names}, seed=0, steps=2,
        eval_every=2, extra={"one_run": {"method": "soup", "preferences": 4, "corner": 0.7}})
    outcome = train_soup(config, "cpu")
    assert outcome.steps == 4 * 2 and len(outcome.metrics) == 4  # 4 specialists; the vertices
    start = make_task("posttrain", tiny).starting_state_dict()
    for state in outcome.state["specialists"]:  # fine-tuned from the checkpoint: changed, nearby
        assert any(not torch.equal(state[k], start[k]) for k in start)
    corner = {"correct": 0.7, "brief": 0.1, "format": 0.1, "kl": 0.1}
    assert outcome.preferences[0] == pytest.approx(corner)
    alone = train(replace(config, weights=corner, extra={}), "cpu")
    assert outcome.metrics[0] == pytest.approx(alone.metrics, rel=1e-6)
