"""Study-file validation: good files load, every bad file gets one clear message and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.errors import SpecError
from paretolab.spec import check_study, json_schema, load_spec, parse_spec

from conftest import write

runner = CliRunner()

BASE = """\
name: s
task: toy
objectives: [loss1, loss2]
"""


def test_full_study_file_loads_with_every_section(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        name: full
        task: {ref: digits, params: {hidden: 32}}
        losses:
          terms: [ce, l1, confidence]
          groups: {fit: {ce: 1.0, confidence: 0.1}}
        objectives:
          - {name: error, direction: minimize, ref: 1.0}
          - sparsity: maximize
        constraints: ["ece <= 0.05", "nll >= 0"]
        search:
          weights: {ranges: {fit: [0.1, 1.0], l1: {low: 1.0e-4, high: 1.0, log: true}}}
          balancer: [static]
          params:
            lr: {low: 1.0e-4, high: 1.0e-2, log: true}
            optimizer: [adam, sgd]
            batch_size: {type: int, low: 16, high: 128, log: true}
            task.hidden: {type: int, low: 16, high: 64, step: 16}
        train: {grad_clip: 5.0, lr_schedule: cosine}
        budget: {trials: 4, steps: 10, timeout: 60, eval_every: 5}
        sampler: {name: nsga2, options: {population_size: 8}}
        workers: 1
        device: cpu
        seed: 3
    """)
    checked = check_study(load_spec(path))
    assert checked.balanced_names == ["fit", "l1"]
    assert checked.loss_groups == {"fit": {"ce": 1.0, "confidence": 0.1}, "l1": {"l1": 1.0}}
    spec = checked.spec
    assert spec.directions == ["minimize", "maximize"]
    assert [str(c) for c in spec.constraints] == ["ece <= 0.05", "nll >= 0"]
    assert spec.constraints[0].violation(0.07) == pytest.approx(0.02)
    assert spec.constraints[1].violation(0.3) < 0
    assert spec.storage_url.endswith("reports/full/study.db")


def test_quickstart_and_shipped_studies_validate(posttrain_standin: Path) -> None:
    for path in sorted(Path("studies").glob("*.yaml")):
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, (path, result.output)


def test_schema_command_prints_json_schema_that_accepts_the_short_forms() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"name", "task", "objectives", "search", "budget", "sampler"} <= set(schema["properties"])
    assert "source" not in schema["properties"]
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    data = yaml.safe_load(Path("studies/quickstart.yaml").read_text())
    jsonschema.validate(data, schema)
    assert json_schema()["title"] == "paretolab study file"


SCHEMA_VALID = {
    "every-short-form": """\
name: s
task: toy
losses: [loss1, loss2]
objectives: {loss1: minimize, loss2: maximize}
constraints: "loss1 <= 1"
search: {balancer: upgrad, weights: simplex, params: {optimizer: [adam, sgd]}}
sampler: tpe
pruning: moasha
""",
    "long-forms": """\
name: s
task: {ref: toy, params: {scale: 2}}
losses: {terms: [loss1, loss2], groups: {both: [loss1, loss2]}}
objectives: [loss1, {loss2: maximize}, {name: pareto_distance, ref: 3}]
constraints: ["loss1 <= 1", {metric: loss2, op: ">=", value: 0}]
search:
  weights: {ranges: {both: [0.1, 1]}}
  balancer: [static, {method: cagrad, c: [0.1, 0.9]}]
  params:
    lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    batch_size: {type: int, low: 16, high: 128}
    task.scale: {low: 1, high: 4, step: 1}
sampler: {name: nsga2, options: {population_size: 8}}
faults: {max_consecutive_failures: 3}
workers: auto
""",
}
SCHEMA_INVALID = {
    "unknown-sampler": "sampler: cmaes\n",
    "unknown-field": "budgett: 1\n",
    "bad-direction": "objectives: [{loss1: up}]\n",
    "bad-weights-mode": "search: {weights: dirichlet}\n",
    "bad-constraint": "constraints: ['loss1 < 1']\n",
    "int-range-with-float": "search: {params: {batch_size: {type: int, low: 1.5, high: 3}}}\n",
    "zero-failures": "faults: {max_consecutive_failures: 0}\n",
}


@pytest.mark.parametrize("name", list(SCHEMA_VALID))
def test_schema_accepts_what_the_loader_accepts(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    text = SCHEMA_VALID[name]
    parse_spec(text)  # the loader takes it ...
    jsonschema.validate(yaml.safe_load(text), json_schema())  # ... and so does the schema


@pytest.mark.parametrize("name", list(SCHEMA_INVALID))
def test_schema_refuses_what_the_loader_refuses(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    text = "name: s\ntask: toy\nobjectives: [loss1]\n" + SCHEMA_INVALID[name]
    with pytest.raises(SpecError):
        parse_spec(text)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), json_schema())


def test_reading_a_study_file_imports_neither_optuna_nor_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from paretolab.spec import load_spec, json_schema, FaultSpec; "
            "load_spec('studies/quickstart.yaml'); json_schema(); "
            "print(sorted(m for m in ('optuna', 'torch', 'paretolab.storage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_list_of_sampler_names_and_train_knobs() -> None:
    from paretolab.samplers import SAMPLER_CLASSES
    from paretolab.spec import SAMPLERS, TRAIN_KNOBS, TrainSpec

    assert set(SAMPLERS) == {"auto", *SAMPLER_CLASSES}
    assert set(TRAIN_KNOBS) == set(TrainSpec.model_fields) - {"conflict_stats"}


def test_fault_defaults_are_the_specs_and_max_consecutive_failures_defaults_to_5() -> None:
    from paretolab import storage
    from paretolab.spec import FaultSpec, defaults

    faults = parse_spec(BASE).faults
    assert faults == FaultSpec()
    assert (faults.heartbeat_interval, faults.grace_period, faults.max_retries, faults.storage_patience,
            faults.max_consecutive_failures) == (storage.HEARTBEAT_INTERVAL_S, storage.GRACE_PERIOD_S,
                                                 storage.MAX_RETRIES, storage.STORAGE_PATIENCE_S, 5)
    assert defaults.MAX_CONSECUTIVE_FAILURES == 5
    assert parse_spec(BASE + "faults: {max_consecutive_failures: 2}\n").faults.max_consecutive_failures == 2
    assert "max_consecutive_failures" in json_schema()["$defs"]["FaultSpec"]["properties"]


BAD_FILES: list[tuple[str, str, str]] = [
    # (id, file text, a fragment the message must contain)
    ("yaml-syntax", "name: s\ntask: [toy\n", "YAML syntax error"),
    ("yaml-duplicate-key", BASE + "name: t\n", "duplicate key 'name'"),
    ("not-a-mapping", "- just\n- a list\n", "must be a YAML mapping"),
    ("empty-file", "", "must be a YAML mapping"),
    ("missing-name", "task: toy\nobjectives: [loss1]\n", "name: required field is missing"),
    ("missing-objectives", "name: s\ntask: toy\n", "objectives: required field is missing"),
    ("unknown-top-field", BASE + "budgett: {trials: 3}\n", "unknown field 'budgett'"),
    ("unknown-nested-field", BASE + "budget:\n  trials: 3\n  stepz: 4\n", "budget.stepz"),
    ("wrong-type", BASE + "budget:\n  trials: many\n", "budget.trials"),
    ("negative-trials", BASE + "budget: {trials: 0}\n", "budget.trials"),
    ("grace-not-above-heartbeat", BASE + "faults: {heartbeat_interval: 30, grace_period: 30}\n",
     "grace_period (30 s) must be longer than heartbeat_interval"),
    ("bad-direction", "name: s\ntask: toy\nobjectives:\n  - {name: loss1, direction: up}\n",
     "objectives.0.direction"),
    ("duplicate-objective", "name: s\ntask: toy\nobjectives: [loss1, loss1]\n", "listed twice"),
    ("bad-constraint-syntax", BASE + "constraints: ['loss1 < 3']\n", "cannot read constraint"),
    ("unknown-sampler", BASE + "sampler: cmaes\n", "sampler.name"),
    ("bad-sampler-option", BASE + "sampler: {name: nsga2, options: {popsize: 3}}\n",
     "no option 'popsize'"),
    ("sampler-seed-option", BASE + "sampler: {name: tpe, options: {seed: 3}}\n", "study's 'seed'"),
    ("range-low-above-high", BASE + "search:\n  params:\n    lr: {low: 1, high: 0.1}\n",
     "must be smaller than high"),
    ("log-range-from-zero", BASE + "search:\n  params:\n    lr: {low: 0, high: 0.1, log: true}\n",
     "log-scale range needs low > 0"),
    ("unknown-knob", BASE + "search:\n  params:\n    foo: [1, 2]\n", "unknown knob 'foo'"),
    ("bad-weights-mode", BASE + "search:\n  weights: dirichlet\n", "search.weights"),
    ("fixed-weights-missing-loss", BASE + "search:\n  weights: {fixed: {loss1: 1}}\n",
     "missing ['loss2']"),
    ("weight-for-unknown-loss", BASE + "search:\n  weights: {fixed: {loss1: 1, loss2: 1, loss3: 1}}\n",
     "weight for 'loss3'"),
    ("unknown-loss", "name: s\ntask: toy\nlosses: [loss1, lossX]\nobjectives: [loss1]\n",
     "does not produce a loss named 'lossX'"),
    ("group-unknown-loss", "name: s\ntask: toy\nlosses:\n  groups: {a: [loss1, nope]}\n"
     "objectives: [loss1]\n", "group 'a' names loss 'nope'"),
    ("loss-in-two-groups", "name: s\ntask: toy\nlosses:\n  groups: {a: [loss1], b: [loss1]}\n"
     "objectives: [loss1]\n", "is in two groups"),
    ("unknown-objective", "name: s\ntask: toy\nobjectives: [accuracy]\n",
     "does not measure an objective named 'accuracy'"),
    ("constraint-unknown-metric", BASE + "constraints: ['ece <= 0.1']\n",
     "constraint on 'ece'"),
    ("unknown-balancer", BASE + "search:\n  balancer: [nosuchmethod]\n", "unknown balancer"),
    ("unknown-balancer-setting", BASE + "search:\n  balancer: [{method: static, foo: 1}]\n",
     "has no setting 'foo'"),
    ("unknown-builtin-task", "name: s\ntask: toyy\nobjectives: [loss1]\n", "unknown task 'toyy'"),
    ("task-module-missing", "name: s\ntask: nosuchpkg.mod:Task\nobjectives: [loss1]\n",
     "cannot import module 'nosuchpkg.mod'"),
    ("task-file-missing", "name: s\ntask: missing_file.py:Task\nobjectives: [loss1]\n",
     "does not exist"),
    ("task-attr-missing", "name: s\ntask: paretolab.tasks.toy:Nope\nobjectives: [loss1]\n",
     "has no attribute 'Nope'"),
    ("task-bad-params", "name: s\ntask: {ref: toy, params: {nonsense: 1}}\nobjectives: [loss1]\n",
     "does not accept these params"),
    ("bad-device", BASE + "device: tpu\n", "unknown device 'tpu'"),
    ("bad-workers", BASE + "workers: 0\n", "workers"),
    ("zero-consecutive-failures", BASE + "faults: {max_consecutive_failures: 0}\n",
     "faults.max_consecutive_failures"),
    ("storage-not-a-url", BASE + "storage: not a url\n", "is not a storage URL"),
    ("storage-unreachable", BASE + "storage: postgresql://u:secret@127.0.0.1:1/db\n",
     "cannot reach storage"),
]


@pytest.mark.parametrize("text,fragment", [(t, f) for _, t, f in BAD_FILES],
                         ids=[i for i, _, _ in BAD_FILES])
def test_bad_file_gets_one_clear_message_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    text: str, fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, text)
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in ("validate", "run"):
        result = runner.invoke(app, [command, str(path)])
        assert result.exit_code == 2, (command, result.output)
        assert fragment in result.output, result.output
        assert "Traceback" not in result.output
        assert sum(line.startswith("error:") for line in result.output.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a failed run wrote files"


def test_error_names_the_line_of_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "budget:\n  trials: 3\n  stepz: 4\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert f"{path}:6: budget.stepz" in result.output
    assert "valid fields here: eval_every, repeats, steps, timeout, trial_timeout, trials" in result.output


def test_password_is_not_printed(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "storage: postgresql://u:secret@127.0.0.1:1/db\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert "secret" not in result.output and "***" in result.output


def test_missing_study_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "not found" in result.output


def test_readme_balancer_example_validates(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Loss balancers", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)[1]
    path = write(tmp_path, "name: r\ntask: multitask_regression\nobjectives: [task0, task1]\n" + block)
    checked = check_study(load_spec(path))
    assert [c.method for c in checked.spec.search.balancer] == ["static", "upgrad", "cagrad", "rgb", "famo"]
