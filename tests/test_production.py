"""Production: the README's loop reproduces the picked trial; ``pick.yaml`` is read as shown."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

import paretolab
from paretolab.balancers import Balancer
from paretolab.cli import app
from paretolab.errors import UserError
from paretolab.production import load_pick
from paretolab.records import trial_attrs
from paretolab.storage import open_storage

runner = CliRunner()
README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Pick a point and take it to production"

DIGITS = """\
    name: my-study
    task: digits
    objectives: [error, {sparsity: maximize}]
    train: {lr: 0.01, batch_size: 32, lr_schedule: cosine, warmup_steps: 3}
    search: {balancer: [static]}
    budget: {trials: 2, steps: 24, eval_every: 8}
    seed: 4
"""
MGDA_UB = """\
    name: my-study
    task: {ref: multitask_regression, params: {n_train: 128, n_val: 64, hidden: 16, depth: 2}}
    objectives: [task0, task1]
    train: {batch_size: 32}
    search: {balancer: [mgda_ub]}
    budget: {trials: 2, steps: 24, eval_every: 8}
    seed: 4
"""


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def readme_production_code() -> str:
    """The python block of the README section on production (the one a user copies)."""
    section = README.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def run_study(root: Path, text: str) -> optuna.Study:
    (root / "study.yaml").write_text(textwrap.dedent(text))
    cli("run", "study.yaml", "--no-progress")
    storage = open_storage(f"sqlite:///{root}/reports/my-study/study.db")
    return optuna.load_study(study_name="my-study", storage=storage)


@pytest.mark.slow
@pytest.mark.parametrize("text", [DIGITS, MGDA_UB], ids=["digits-static", "regression-mgda_ub"])
def test_the_readme_production_loop_reproduces_the_picked_trial_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.chdir(tmp_path)
    study = run_study(tmp_path, text)
    cli("pick", "reports/my-study")
    number = yaml.safe_load((tmp_path / "reports" / "my-study" / "pick.yaml").read_text())["trial"]
    trial = study.trials[number]
    namespace: dict = {}
    exec(compile(readme_production_code(), str(README), "exec"), namespace)
    assert namespace["pick"].config.balancer["method"] in text
    # bit-exact: the same seeding, data order, balancer, optimizer, schedule and step
    assert namespace["metrics"] == trial_attrs(trial)["metrics"]
    assert namespace["run"].done == trial_attrs(trial)["steps"]


def _write_pick(tmp_path: Path, *, old: bool) -> Path:
    """A pick file as 'paretolab pick' writes it now, or as it did before (a config block too)."""
    run = {"weights": {"loss1": 0.25, "loss2": 0.75},
           "balancer": {"method": "static", "settings": {"schedule": "constant"}},
           "train": {"optimizer": "adam", "lr": 0.05, "weight_decay": 0.0, "momentum": 0.9,
                     "batch_size": 8, "grad_clip": 10.0, "lr_schedule": "constant",
                     "warmup_steps": 0, "conflict_stats": "auto"},
           "task": "toy", "task_params": {"start": [0.0, 0.0]},
           "loss_groups": {"loss1": {"loss1": 1.0}, "loss2": {"loss2": 1.0}},
           "seed": 9, "steps": 30, "eval_every": 10}
    doc = {"study": "s", "trial": 0, "objectives": {"loss1": -9.0, "loss2": -9.0}, **run}
    if old:
        doc["config"] = {**run, "extra": {}}
    path = tmp_path / ("old.yaml" if old else "new.yaml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("old", [False, True], ids=["current", "with-config-block"])
def test_editing_the_visible_fields_of_pick_yaml_changes_what_is_trained(tmp_path: Path, old: bool) -> None:
    path = _write_pick(tmp_path, old=old)
    before = load_pick(path)
    assert before.config.weights == {"loss1": 0.25, "loss2": 0.75} and before.config.steps == 30
    doc = yaml.safe_load(path.read_text())
    doc["weights"] = {"loss1": 0.9, "loss2": 0.1}
    doc["balancer"] = {"method": "upgrad", "settings": {}}
    doc["train"]["lr"] = 0.01
    doc["steps"] = 12
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    after = load_pick(path)
    assert after.config.weights == {"loss1": 0.9, "loss2": 0.1}
    built = after.recipe("cpu").make_balancer()
    assert built.name == "upgrad" and built.weights == {"loss1": 0.9, "loss2": 0.1}
    assert after.config.train["lr"] == 0.01 and after.config.steps == 12
    assert paretolab.production.retrain(after, device="cpu").steps == 12


def test_an_old_pick_file_loads_to_the_same_run_as_a_current_one(tmp_path: Path) -> None:
    old, new = (load_pick(_write_pick(tmp_path, old=flag)) for flag in (True, False))
    assert old.config == new.config


def test_a_pick_file_without_the_run_fields_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("study: s\nweights: {a: 1.0}\n")
    with pytest.raises(UserError, match="not a pick file: it has no balancer, train, task"):
        load_pick(path)


def test_balancer_from_config_of_a_pick_rebuilds_the_trials_balancer(tmp_path: Path) -> None:
    pick = load_pick(_write_pick(tmp_path, old=False))
    rebuilt = Balancer.from_config(pick.balancer)
    assert rebuilt.to_config() == pick.balancer().to_config()
    assert {k: pick.balancer[k] for k in ("method", "losses", "weights")} == {
        k: rebuilt.to_config()[k] for k in ("method", "losses", "weights")}
    assert rebuilt.weights == {"loss1": 0.25, "loss2": 0.75}
    assert rebuilt.options["schedule"] == "constant"
