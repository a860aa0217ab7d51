"""``paretolab.open_study``: a study's results from Python, the same as the commands print
(issue 30, item 1), and a pick of one's own trainer (item 5)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

import paretolab
from paretolab.errors import UserError
from paretolab.locate import StudySource
from paretolab.records import StudyMeta
from paretolab.results import StudyResults

from conftest import cli
from test_report import synthetic_study


@pytest.fixture()
def stored(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/many.db"
    synthetic_study(30, name="one", storage=url, constrained=True)
    return url


def test_trials_front_and_hypervolume_match_the_tables_and_the_status() -> None:
    study = synthetic_study(30, name="one", constrained=True)
    source = StudySource(study, StudyMeta.from_study(study), Path("reports/one"), None)
    results = StudyResults(source)
    trials = results.trials
    assert len(trials) == 30 and set(trials["state"]) == {"COMPLETE", "FAIL", "PRUNED"}
    for column in ("error", "sparsity", "feasible", "violation:violation <= 0", "w:loss0", "w:loss1",
                   "balancer", "seed", "verdict"):
        assert column in trials.columns, column
    front = results.front
    assert front["on_front"].all() and list(front["error"]) == sorted(front["error"])
    # the same front and hypervolume as paretolab status prints
    from paretolab.status import read_status

    status = read_status(source.study, source.meta)
    assert sorted(front["trial"]) == sorted(status.summary.numbers)
    assert results.hypervolume() == pytest.approx(status.summary.hypervolume)
    # a wider reference point encloses more
    wider = [r + 1.0 if d == "minimize" else r - 1.0 for r, d in zip(status.summary.ref_point, results.directions)]
    assert results.hypervolume(wider) > results.hypervolume()
    assert "front of" in repr(results)


@pytest.mark.slow  # a SQLite storage
def test_a_storage_url_opens_and_an_unknown_study_is_a_user_error(stored: str, tmp_path: Path) -> None:
    assert len(paretolab.open_study(stored, study="one").trials) == 30
    with pytest.raises(UserError, match="no study named 'two'"):
        paretolab.open_study(stored, study="two")
    with pytest.raises(UserError, match="no such study"):
        paretolab.open_study(tmp_path / "nowhere")


@pytest.mark.slow  # a SQLite storage and a report
def test_report_writes_the_page_and_tables(stored: str, tmp_path: Path) -> None:
    out = paretolab.open_study(stored, study="one").report(tmp_path / "out")
    assert out == tmp_path / "out" / "report.html" and out.is_file()
    assert (tmp_path / "out" / "trials.csv").is_file() and (tmp_path / "out" / "front.csv").is_file()


# --- on real toy studies ----------------------------------------------------------------------
STUDY = """\
    name: my-study
    task: {ref: toy, params: {start: [0.0, 0.0]}}
    objectives: [loss1, loss2]
    train: {lr: 0.05}
    search: {balancer: [{method: static, settings: {schedule: search}}]}
    budget: {trials: 6, steps: 30}
    seed: 3
"""

TRAINER = """\
    name: fn
    trainer: {function: fns.py:train, params: {width: 3}}
    losses: [a, b]
    objectives: [loss1, loss2]
    train: {lr_schedule: cosine}
    search:
      params:
        depth: {low: 1, high: 4}
    budget: {trials: 3, steps: 4}
"""

FNS = """\
def train(trial):
    assert trial.params["width"] == 3
    return {"loss1": trial.weights["b"] + trial.params["depth"], "loss2": trial.weights["a"]}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("results")
    (root / "study.yaml").write_text(textwrap.dedent(STUDY))
    (root / "fn.yaml").write_text(textwrap.dedent(TRAINER))
    (root / "fns.py").write_text(FNS)
    old = Path.cwd()
    os.chdir(root)
    try:
        cli("run", "study.yaml", "--no-progress")
        cli("run", "fn.yaml", "--no-progress")
    finally:
        os.chdir(old)
    yield root


@pytest.mark.slow
def test_pick_from_python_chooses_what_the_command_chooses(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    results = paretolab.open_study("study.yaml")  # a study file names the same study
    picked = results.pick(method="asf", prefer={"loss1": 0.8, "loss2": 0.2}, write=False)
    assert not (root / "reports" / "my-study" / "pick.yaml").exists()
    output = cli("pick", "reports/my-study", "--method", "asf", "--prefer", "loss1=0.8,loss2=0.2")
    assert "w:loss1" in output and "w:loss2" in output  # the table shows each point's weights
    written = paretolab.load_pick(root / "reports" / "my-study" / "pick.yaml")
    assert picked.trial == written.trial and picked.weights == written.weights
    assert picked.params == written.params and picked.params["lr"] == 0.05
    assert set(picked.weights) == {"loss1", "loss2"} and sum(picked.weights.values()) == pytest.approx(1.0)
    assert picked.weights == picked.balancer["weights"]
    row = results.front.set_index("trial").loc[picked.trial]
    assert [row["loss1"], row["loss2"]] == pytest.approx(list(picked.objectives.values()))
    assert results.pick(trial=picked.trial, write=True).trial == picked.trial


@pytest.mark.slow
def test_a_trainer_pick_lists_only_what_the_trainer_is_given(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    cli("pick", "reports/fn")
    doc = yaml.safe_load((root / "reports" / "fn" / "pick.yaml").read_text())
    # its fixed and searched params and the training setting the file chose; not the built-in
    # recipe's optimizer, batch size or clipping
    assert doc["params"]["width"] == 3 and doc["params"]["lr_schedule"] == "cosine"
    assert 1 <= doc["params"]["depth"] <= 4
    assert not {"optimizer", "batch_size", "grad_clip", "momentum"} & set(doc["params"])
    assert "train" not in doc and "task_params" not in doc
    picked = paretolab.load_pick(root / "reports" / "fn" / "pick.yaml")
    assert picked.params["depth"] == doc["params"]["depth"] and picked.params["width"] == 3
    with pytest.raises(UserError, match="recipes are for built-in tasks.*retrain"):
        picked.recipe()
    output = cli("train", "reports/fn/pick.yaml")  # the configuration next to its results
    assert f"weights: a={doc['weights']['a']:.4g}, b={doc['weights']['b']:.4g}" in output
    assert "balancer: static" in output and f"depth={doc['params']['depth']:.4g}" in output
    # retraining gives the function what the trial gave it
    done = paretolab.retrain(picked)
    values = dict((name, after) for name, _, _, after in done.rows)
    assert values["loss1"] == pytest.approx(doc["weights"]["b"] + doc["params"]["depth"])
    assert np.isfinite(values["loss2"])


@pytest.mark.slow
def test_the_readme_example_runs(root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The README's 'Results from Python' block, on the toy study (its objectives renamed)."""
    from conftest import README

    section = README.read_text().split("### Results from Python", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"error"', '"loss1"').replace('"sparsity"', '"loss2"').replace('"out/"', repr(str(tmp_path)))
    monkeypatch.chdir(root)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["pick"].weights and (tmp_path / "report.html").is_file()
    assert len(namespace["study"].front) >= 1
