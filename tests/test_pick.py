"""``paretolab pick`` / ``train`` and ``load_pick`` on real toy studies."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

import paretolab
from paretolab import decision
from paretolab.balancers import make_balancer
from paretolab.errors import UserError
from paretolab.production import load_pick
from paretolab.records import trial_attrs
from paretolab.search_space import TrialConfig
from paretolab.storage import open_storage

from conftest import README, cli

# each test reads a real toy study, or runs one (the shared one takes about 3 s to build)
pytestmark = pytest.mark.slow

STUDY = """\
    name: my-study
    task: {ref: toy, params: {start: [0.0, 0.0]}}
    objectives: [loss1, loss2]
    train: {lr: 0.05}
    search: {balancer: [{method: static, settings: {schedule: search, schedule_warmup: search}}]}
    budget: {trials: 8, steps: 40}
    seed: 3
"""


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real toy study (8 trials of 40 steps), shared by the tests of this module."""
    root = tmp_path_factory.mktemp("pick")
    (root / "study.yaml").write_text(textwrap.dedent(STUDY))
    old = Path.cwd()
    os.chdir(root)
    try:
        cli("run", "study.yaml", "--no-progress")
    finally:
        os.chdir(old)
    yield root


@pytest.fixture()
def here(study_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(study_dir)
    return study_dir


def trials(root: Path) -> list[optuna.trial.FrozenTrial]:
    storage = open_storage(f"sqlite:///{root}/reports/my-study/study.db")
    return optuna.load_study(study_name="my-study", storage=storage).trials


def front_values(root: Path) -> tuple[list[int], np.ndarray]:
    done = [t for t in trials(root) if t.state.name == "COMPLETE"]
    return [t.number for t in done], np.array([t.values for t in done])


def picked(root: Path) -> dict:
    return yaml.safe_load((root / "reports" / "my-study" / "pick.yaml").read_text())


def test_knee_pick_writes_pick_yaml_with_everything_to_rebuild_the_trial(here: Path) -> None:
    output = cli("pick", "reports/my-study")
    numbers, values = front_values(here)
    expected = numbers[decision.knee(values, ["minimize", "minimize"])]
    doc = picked(here)
    assert doc["trial"] == expected and doc["method"] == "knee"
    assert re.search(rf"->\s*│\s*{expected}\s", output)  # shown beside its neighbours
    assert len(re.findall(r"│\s+\d+\s+│", output)) >= 2
    trial = trials(here)[expected]
    assert doc["objectives"] == dict(zip(["loss1", "loss2"], trial.values))
    assert "config" not in doc  # one copy of the run: the visible fields
    loaded = load_pick(here / "reports" / "my-study" / "pick.yaml")
    assert loaded.config.to_dict() == trial_attrs(trial)["config"]
    assert doc["weights"] == trial_attrs(trial)["config"]["weights"]
    assert doc["balancer"] == trial_attrs(trial)["config"]["balancer"]
    assert set(doc["balancer"]["settings"]) >= {"schedule", "schedule_warmup"}
    assert doc["knobs"] == trial_attrs(trial)["knobs"] and doc["knobs"]
    assert doc["task"] == "toy" and doc["task_params"] == {"start": [0.0, 0.0]}
    assert doc["seed"] == trial_attrs(trial)["config"]["seed"] and doc["train"]["lr"] == 0.05
    stored = trial_attrs(trial)["config"]
    assert {k: doc[k] for k in stored if k != "extra"} == {k: v for k, v in stored.items() if k != "extra"}


@pytest.mark.parametrize("method", ["asf", "pseudo-weights"])
def test_preference_moves_the_pick_toward_the_preferred_objective(here: Path, method: str) -> None:
    numbers, values = front_values(here)
    cli("pick", "study.yaml", "--method", method, "--prefer", "loss1=0.95,loss2=0.05")
    low = picked(here)
    cli("pick", "study.yaml", "--method", method, "--prefer", "loss1=0.05,loss2=0.95")
    high = picked(here)
    assert low["prefer"] == {"loss1": 0.95, "loss2": 0.05} and low["method"] == method
    assert low["objectives"]["loss1"] < high["objectives"]["loss1"]
    choose = decision.asf if method == "asf" else decision.pseudo_weights
    assert low["trial"] == numbers[choose(values, ["minimize", "minimize"], [0.95, 0.05])]


def test_where_filters_first_and_names_the_closest_when_nothing_meets_it(here: Path) -> None:
    numbers, values = front_values(here)
    threshold = float(np.median(values[:, 0]))
    cli("pick", "reports/my-study", "--where", f"loss1<={threshold}")
    assert picked(here)["objectives"]["loss1"] <= threshold
    assert picked(here)["where"] == [f"loss1<={threshold}"]
    best = numbers[int(np.argmin(values[:, 0]))]
    output = cli("pick", "reports/my-study", "--where", "loss1<=-1000", "--where",
                 "pareto_distance<0", code=2)
    assert "no trial meets" in output and f"closest is trial {best} " in output
    assert "Traceback" not in output


def test_user_errors_are_one_clear_message(here: Path) -> None:
    assert "valid objectives: loss1, loss2" in cli("pick", "reports/my-study", "--method", "asf",
                                                    "--prefer", "accuracy=1", code=2)
    assert "needs --prefer" in cli("pick", "reports/my-study", "--method", "asf", code=2)
    assert "unknown metric 'nope'" in cli("pick", "reports/my-study", "--where", "nope<1", code=2)
    assert "trial 99" in cli("pick", "reports/my-study", "--trial", "99", code=2)
    assert "no such study directory, study file or storage URL" in cli("pick", "no-such-dir", code=2)
    with pytest.raises(UserError, match="does not exist"):
        load_pick(here / "missing.yaml")
    (here / "bad.yaml").write_text("a: 1\n")
    with pytest.raises(UserError, match="not a pick file: it has no weights, balancer"):
        load_pick(here / "bad.yaml")


def test_a_specific_trial_round_trips_to_an_identical_balancer(here: Path) -> None:
    cli("pick", "reports/my-study", "--trial", "2")
    doc = picked(here)
    assert doc["trial"] == 2 and doc["method"] == "trial"
    config = trial_attrs(trials(here)[2])["config"]
    p = paretolab.load_pick(here / "reports" / "my-study" / "pick.yaml")
    original = make_balancer(config["balancer"]["method"], list(config["loss_groups"]),
                             config["weights"], config["balancer"]["settings"])
    rebuilt = p.balancer()
    assert type(rebuilt) is type(original)
    assert rebuilt.to_config() == original.to_config()
    assert type(rebuilt).from_config(rebuilt.to_config()).to_config() == original.to_config()
    assert p.config == TrialConfig.from_dict(config)
    assert p.hyperparameters == config["train"]
    assert p.balancer(["loss2", "loss1"]).loss_names == ("loss2", "loss1")
    with pytest.raises(UserError):
        p.balancer(["loss1", "other"])
    import torch

    opt = p.optimizer([torch.nn.Parameter(torch.zeros(2))], rebuilt)
    assert type(opt).__name__.lower() == config["train"]["optimizer"]
    assert opt.param_groups[0]["lr"] == config["train"]["lr"]
    assert p.make_task().losses == ("loss1", "loss2")


def test_paretolab_train_retrains_the_pick_longer_on_toy(here: Path) -> None:
    cli("pick", "reports/my-study")
    doc = picked(here)
    output = cli("train", "reports/my-study/pick.yaml", "--steps", "200", "--device", "cpu")
    assert "retrained 200" in output
    for name in ("loss1", "loss2"):
        row = re.search(rf"{name} \(min\)\s*│\s*(\S+)\s*│\s*(\S+)", output)
        assert row, output
        assert float(row[1]) == pytest.approx(doc["objectives"][name], abs=5e-3 * abs(float(row[1])))
        assert np.isfinite(float(row[2]))
    assert "must be a positive" in cli("train", "reports/my-study/pick.yaml", "--steps", "0", code=2)


def test_no_feasible_trial_is_said_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        name: infeasible
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        constraints: ['pareto_distance <= -1']
        budget: {trials: 3, steps: 10}
    """))
    cli("run", "c.yaml", "--no-progress")
    output = cli("pick", "c.yaml", code=2)
    assert "meets the study's constraints" in output and "closest is trial" in output
    assert not (tmp_path / "reports" / "infeasible" / "pick.yaml").exists()


def test_readme_production_snippet_runs_on_toy(here: Path) -> None:
    cli("pick", "reports/my-study")
    section = README.read_text().split("## Pick a point and take it to production", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert len(code.strip().splitlines()) <= 25
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    metrics = namespace["metrics"]
    assert set(metrics) >= {"loss1", "loss2", "pareto_distance"}
    # a real training run: it ends closer to the toy's Pareto set than it started (0, 0)
    from paretolab.tasks.toy import pareto_distance

    assert metrics["pareto_distance"] < pareto_distance([0.0, 0.0])
