"""Study-file fields set on the command line (issue 30, item 3): ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

import paretolab
from paretolab.errors import SpecError
from paretolab.spec import load_spec

from conftest import cli, write

STUDY = """\
    name: tiny
    task: {ref: toy, params: {start: [0.0, 0.0]}}
    objectives: [loss1, loss2]
    search:
      params:
        lr: {low: 0.001, high: 0.05, log: true}
    budget: {trials: 2, steps: 10}
"""


def test_overrides_set_nested_fields_with_yaml_values(tmp_path: Path) -> None:
    path = write(tmp_path, STUDY)
    spec = load_spec(path, ["budget.trials=60", "sampler=tpe", "search.params.lr.high=0.1",
                            "objectives.1={name: loss2, ref: 2.5}", "train.grad_clip=null"])
    assert spec.budget.trials == 60 and spec.budget.steps == 10
    assert spec.sampler == "tpe" or getattr(spec.sampler, "name", None) == "tpe"
    assert spec.search.params["lr"].high == 0.1 and spec.search.params["lr"].log
    assert spec.objectives[1].ref == 2.5 and spec.train.grad_clip is None
    assert load_spec(path).budget.trials == 2  # the file itself is untouched


@pytest.mark.parametrize("override,message", [
    ("budget.trials=lots", "command line: budget.trials=lots: Input should be a valid integer"),
    ("budget.trial=3", "command line: budget.trial=3: unknown field 'trial'"),
    ("budget.trials", "cannot read the override 'budget.trials'"),
    ("budget.trials.x=3", "budget.trials is 2, not a mapping"),
    ("objectives.5.ref=1", "objectives is a list of 2"),
    ("objectives.0.ref=1", "objectives.0 is 'loss1', not a mapping"),
    ("search.params.lr.high=[1", "is not valid YAML"),
])
def test_a_bad_override_is_named_as_the_error(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, STUDY), [override])
    assert message in err.value.render()


def test_validate_takes_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, STUDY)
    assert "ok" in cli("validate", str(path), "budget.steps=5", "--no-run")
    output = cli("validate", str(path), "budget.steps=0", "--no-run", code=2)
    assert "command line: budget.steps=0" in output
    assert "command line: budget.trials=lots" in cli("worker", str(path), "budget.trials=lots", code=2)


@pytest.mark.slow
def test_a_run_records_its_overrides_and_a_resume_compares_the_effective_study(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, STUDY)
    output = cli("run", "study.yaml", "budget.trials=3", "train.lr=0.02", "search.params={}", "--no-progress")
    assert "w:loss1" in output and "of 3 complete trials)" in output
    results = paretolab.open_study("reports/tiny")
    assert len(results.trials) == 3
    assert results.meta.overrides == ["budget.trials=3", "train.lr=0.02", "search.params={}"]
    assert {r.config["train"]["lr"] for r in results.records} == {0.02}
    # the same effective study resumes, with a bigger budget
    cli("run", "study.yaml", "budget.trials=4", "train.lr=0.02", "search.params={}", "--no-progress")
    assert len(paretolab.open_study("reports/tiny").trials) == 4
    # a changed search space is refused before the run says it started
    output = cli("run", "study.yaml", "budget.trials=5", "train.lr=0.02", code=2)
    assert "ran with another definition" in output and "search.params" in output
    assert "it last ran with the overrides budget.trials=4 train.lr=0.02 search.params={}: give them again" \
        in output
    assert "the report can be regenerated" not in output
    assert len(paretolab.open_study("reports/tiny").trials) == 4
