"""`paretolab validate` catches what would otherwise fail at run time: a task that returns other
names or NaN, a task that raises, hostile YAML, folder clashes, and edits of a study that ran."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.errors import SpecError
from paretolab.spec import MAX_FILE_BYTES, check_study, load_spec, parse_spec

runner = CliRunner()

BASE = "name: s\ntask: toy\nobjectives: [loss1, loss2]\n"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def one_clear_error(result, fragment: str) -> None:
    """Exit 2, one ``error:`` line containing ``fragment``, no traceback."""
    assert result.exit_code == 2, result.output
    assert fragment in result.output, result.output
    assert "Traceback" not in result.output
    assert sum(line.startswith("error:") for line in result.output.splitlines()) == 1, result.output


# --- 13.2: a trial run of the task ----------------------------------------------------------
WRONG_TASK = """\
import math
import torch
from paretolab.tasks import Task


class Wrong(Task):
    losses = ("fit", "penalty")
    metrics = ("error", "calibration")

    def build_model(self):
        return torch.nn.Linear(2, 1)

    def batches(self, batch_size, generator):
        while True:
            yield torch.randn(batch_size, 2, generator=generator)

    def compute_losses(self, model, batch):
        out = model(batch)
        return {"fit": out.pow(2).mean(), "penalti": out.abs().mean()}

    def evaluate(self, model, device):
        return {"eror": 0.5, "calibration": math.nan}


class Raises(Wrong):
    def compute_losses(self, model, batch):
        return {"fit": model(batch).mean(), "penalty": 1 / 0}
"""


def test_validate_runs_the_task_and_reports_every_name_it_does_not_return(tmp_path: Path) -> None:
    write(tmp_path / "wrong.py", WRONG_TASK)
    study = write(tmp_path / "s.yaml", """\
        name: s
        task: wrong.py:Wrong
        objectives: [error]
        constraints: ["calibration <= 0.1"]
    """)
    result = runner.invoke(app, ["validate", str(study)])
    one_clear_error(result, "a trial run of the task")
    out = result.output
    assert "compute_losses() returned no loss 'penalty' (declared by the task); did you mean 'penalti'?" in out
    assert "evaluate() returned no metric 'error' (objective 0); did you mean 'eror'?" in out
    assert "evaluate() returned metric 'calibration' = nan (not finite)" in out

    skipped = runner.invoke(app, ["validate", "--no-run", str(study)])
    assert skipped.exit_code == 0, skipped.output
    assert "trial run" not in skipped.output


def test_an_exception_in_the_trial_run_names_the_users_line(tmp_path: Path) -> None:
    write(tmp_path / "wrong.py", WRONG_TASK)
    study = write(tmp_path / "s.yaml", "name: s\ntask: wrong.py:Raises\nobjectives: [error]\n")
    result = runner.invoke(app, ["validate", str(study)])
    one_clear_error(result, "compute_losses() raised ZeroDivisionError")
    assert f"{tmp_path / 'wrong.py'}:27" in result.output


def test_validate_of_a_working_task_says_the_trial_run_passed(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(write(tmp_path / "s.yaml", BASE))])
    assert result.exit_code == 0, result.output
    assert "trial run on cpu" in result.output


# --- 13.5: errors that hid their cause --------------------------------------------------------
def test_task_constructor_raising_anything_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    study = write(tmp_path / "s.yaml", "name: s\ntask: {ref: toy, params: {scale: \"abc\"}}\n"
                  "objectives: [loss1]\n")
    for command in ("validate", "run"):
        result = runner.invoke(app, [command, str(study)])
        one_clear_error(result, "building task 'toy' with params {'scale': 'abc'} failed: ValueError")
    assert not (tmp_path / "reports").exists()


def test_error_in_a_user_task_module_names_its_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "broken.py", "import math\n\nSCALE = math.sqrt(-1)\n")
    write(tmp_path / "ctor.py", "class T:\n    def __init__(self, k=0):\n        self.k = 1 / k\n")
    importing = runner.invoke(app, ["validate", str(write(tmp_path / "a.yaml",
                                                          "name: a\ntask: broken.py:T\nobjectives: [x]\n"))])
    one_clear_error(importing, f"{tmp_path / 'broken.py'}:3")
    building = runner.invoke(app, ["validate", str(write(tmp_path / "b.yaml",
                                                         "name: b\ntask: ctor.py:T\nobjectives: [x]\n"))])
    one_clear_error(building, f"ZeroDivisionError: division by zero (at {tmp_path / 'ctor.py'}:3)")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_objective_reference_must_be_finite(tmp_path: Path, value: str) -> None:
    study = write(tmp_path / "s.yaml", f"name: s\ntask: toy\nobjectives:\n  - {{name: loss1, ref: {value}}}\n")
    result = runner.invoke(app, ["validate", "--no-run", str(study)])
    one_clear_error(result, f"{study}:4: objectives.0.ref: must be a finite number")


def test_unusable_sqlite_storage_is_refused_by_validate_and_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("")
    study = write(tmp_path / "s.yaml", BASE + f"storage: sqlite:///{tmp_path}/a_file/sub/x.db\n")
    for command in ("validate", "run"):
        one_clear_error(runner.invoke(app, [command, str(study)]), "cannot create the SQLite file")


# --- 13.6: hostile YAML ---------------------------------------------------------------------
BILLION_LAUGHS = BASE + "description: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"x{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
    f"*a{i - 1}, *a{i - 1}]\n" for i in range(1, 10))


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    study = write(tmp_path / "s.yaml", BILLION_LAUGHS)
    start = time.process_time()
    result = runner.invoke(app, ["validate", str(study)])
    assert time.process_time() - start < 1.0
    one_clear_error(result, "expands to more than 20,000 values through YAML aliases")


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    study = write(tmp_path / "s.yaml", BASE + "description: &r [1, *r]\n")
    one_clear_error(runner.invoke(app, ["validate", str(study)]), "recursive anchor")


def test_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    study = tmp_path / "s.yaml"
    with study.open("w") as f:
        f.write(BASE + "description:\n")
        f.write("  - 1\n" * 1_500_000)  # 9 MB
    start = time.process_time()
    result = runner.invoke(app, ["validate", str(study)])
    assert time.process_time() - start < 1.0
    one_clear_error(result, "a study file may be at most 64 KiB")
    with pytest.raises(SpecError, match="at most 64 KiB"):
        parse_spec(study.read_text())


def test_long_list_under_the_size_limit_is_refused_fast(tmp_path: Path) -> None:
    study = write(tmp_path / "s.yaml", BASE + "description: [" + "1," * 30_000 + "1]\n")
    assert study.stat().st_size < MAX_FILE_BYTES
    start = time.process_time()
    result = runner.invoke(app, ["validate", str(study)])
    assert time.process_time() - start < 1.5  # CPU seconds (not wall: CI's load must not count); about 0.2
    one_clear_error(result, "more than 20,000 values")


def test_merge_keys_work_and_explicit_keys_override(tmp_path: Path) -> None:
    study = write(tmp_path / "s.yaml", """\
        name: s
        task: multitask_regression
        objectives: [task0, task1]
        search:
          balancer:
            - {method: cagrad, c: 0.4, <<: &schedule {schedule: linear, schedule_warmup: 3}}
            - {<<: *schedule, method: static, schedule_warmup: 5}
        budget:
          <<: {trials: 3, steps: 10}
          trials: 5
    """)
    spec = check_study(load_spec(study), check_storage_reachable=False).spec
    assert (spec.budget.trials, spec.budget.steps) == (5, 10)
    assert spec.search.balancer[0].settings == {"c": 0.4, "schedule": "linear", "schedule_warmup": 3}
    static = spec.search.balancer[1]
    assert static.method == "static" and static.settings == {"schedule": "linear", "schedule_warmup": 5}
    bad = write(tmp_path / "bad.yaml", "name: s\ntask: toy\nobjectives: [loss1]\nbudget:\n"
                "  <<: {trials: 3, stepz: 10}\n")
    result = runner.invoke(app, ["validate", str(bad)])
    one_clear_error(result, f"{bad}:5: budget.stepz: unknown field 'stepz'")


def test_duplicate_keys_are_still_refused_next_to_merge_keys(tmp_path: Path) -> None:
    study = write(tmp_path / "s.yaml", BASE + "budget:\n  <<: {steps: 3}\n  trials: 2\n  trials: 4\n")
    one_clear_error(runner.invoke(app, ["validate", str(study)]), "duplicate key 'trials'")


# --- 13.7: one folder per study name ----------------------------------------------------------
def test_non_ascii_names_get_distinct_folders_and_plain_names_keep_theirs() -> None:
    def folder(name: str) -> Path:
        return parse_spec(f"name: {name}\ntask: toy\nobjectives: [loss1]\n").study_dir

    assert folder("quickstart") == Path("reports/quickstart")
    assert folder("e2e-toy_v1.2") == Path("reports/e2e-toy_v1.2")
    names = ["研究", "実験", "étude", "etude!", "'a b'", "a_b", "study", "'x' ", "'_x'"]
    folders = [folder(n) for n in names]
    assert len(set(folders)) == len(folders), folders
    assert folder("étude").name.startswith("tude-")  # readable part, then the hash
    assert folder("'" + "y" * 150 + "'") != folder("'" + "y" * 149 + "z'")


def test_a_study_in_its_old_shared_folder_keeps_it(tmp_path: Path, monkeypatch) -> None:
    import optuna

    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports" / "a_b").mkdir(parents=True)
    optuna.create_study(study_name="a b", storage=f"sqlite:///{tmp_path}/reports/a_b/study.db")
    spec = parse_spec("name: a b\ntask: toy\nobjectives: [loss1]\n")
    assert spec.study_dir == Path("reports/a_b")
    other = parse_spec("name: a-b c\ntask: toy\nobjectives: [loss1]\n")
    assert other.study_dir.name.startswith("a-b_c-")


def test_a_study_does_not_write_into_a_folder_holding_another_studys_files(tmp_path: Path,
                                                                           monkeypatch) -> None:
    import optuna

    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports" / "a_b").mkdir(parents=True)
    optuna.create_study(study_name="a b", storage=f"sqlite:///{tmp_path}/reports/a_b/study.db")
    (tmp_path / "reports" / "a_b" / "trials.csv").write_text("number\n0\n")
    plain = write(tmp_path / "plain.yaml", "name: a_b\ntask: toy\nobjectives: [loss1]\n")
    one_clear_error(runner.invoke(app, ["run", str(plain)]),
                    "the folder 'reports/a_b' holds the files of study 'a b'; study 'a_b' would overwrite them")
    shared = write(tmp_path / "shared.yaml", "name: c\ntask: toy\nobjectives: [loss1]\noutput_dir: reports/a_b\n")
    one_clear_error(runner.invoke(app, ["validate", "--no-run", str(shared)]), f"{shared}:4: output_dir")
    assert (tmp_path / "reports" / "a_b" / "trials.csv").read_text() == "number\n0\n"
    same = write(tmp_path / "same.yaml", "name: a b\ntask: toy\nobjectives: [loss1]\n")
    assert runner.invoke(app, ["validate", "--no-run", str(same)]).exit_code == 0


@pytest.mark.slow
def test_two_non_ascii_studies_do_not_overwrite_each_other(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, steps in (("研究", 3), ("実験", 4)):
        study = write(tmp_path / f"{steps}.yaml", f"name: {name}\ntask: toy\nobjectives: [loss1, loss2]\n"
                      f"budget: {{trials: 1, steps: {steps}}}\ndevice: cpu\n")
        result = runner.invoke(app, ["run", "--no-progress", str(study)])
        assert result.exit_code == 0, result.output
    folders = sorted(p for p in (tmp_path / "reports").iterdir())
    assert len(folders) == 2 and all((f / "trials.csv").is_file() for f in folders)


# --- 13.9: edits of a study that already ran --------------------------------------------------
STUDY = """\
name: resumed
task: toy
objectives: [loss1, {name: loss2, ref: 5}]
constraints: ["loss1 <= 3"]
search:
  balancer: [static]
budget: {trials: 2, steps: 10}
device: cpu
"""


def _open(tmp_path: Path, text: str):
    from paretolab.study import open_study

    return open_study(check_study(parse_spec(text, source=str(tmp_path / "s.yaml"))))


@pytest.mark.parametrize("old,new,field", [
    ("balancer: [static]", "balancer: [static, upgrad]", "search.balancer: [static] -> [static, upgrad]"),
    ('"loss1 <= 3"', '"loss1 <= 2"', "constraints: [loss1 <= 3] -> [loss1 <= 2]"),
    ("steps: 10", "steps: 20", "budget.steps: 10 -> 20"),
    ("task: toy", "task: {ref: toy, params: {scale: 0.1}}", "task.params.scale: (absent) -> 0.1"),
    ("balancer: [static]", "balancer: [{method: static, schedule: linear}]",
     "search.balancer.0.settings.schedule: (absent) -> 'linear'"),
    ("device: cpu", "device: cpu\ntrain: {lr: 0.1}", "train.lr: 0.001 -> 0.1"),
])
def test_resume_refuses_an_edit_that_changes_what_a_trial_means(tmp_path: Path, monkeypatch,
                                                                 old: str, new: str, field: str) -> None:
    monkeypatch.chdir(tmp_path)
    _open(tmp_path, STUDY)
    with pytest.raises(SpecError) as err:
        _open(tmp_path, STUDY.replace(old, new))
    assert field in err.value.message
    assert "new name" in err.value.hint


def test_resume_accepts_more_trials_and_run_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _open(tmp_path, STUDY)
    edited = STUDY.replace("trials: 2", "trials: 9, timeout: 60").replace("ref: 5", "ref: 6") + \
        "workers: 2\nsampler: random\nseed: 4\nfaults: {max_retries: 0, max_consecutive_failures: 2}\n" \
        "pruning: {method: moasha, min_steps: 3}\ntrain: {conflict_stats: 'off'}\n"
    from paretolab.records import StudyMeta

    assert StudyMeta.from_study(_open(tmp_path, edited)).trials_budget == 9


@pytest.mark.slow
def test_run_refuses_a_balancer_added_after_trials_ran(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "s.yaml", STUDY)
    assert runner.invoke(app, ["run", "--no-progress", str(path)]).exit_code == 0
    write(path, STUDY.replace("balancer: [static]", "balancer: [static, upgrad]"))
    result = runner.invoke(app, ["run", "--no-progress", str(path)])
    one_clear_error(result, f"{path}:6: search.balancer: the stored study 'resumed' ran with another definition")
    assert "search.balancer: [static] -> [static, upgrad]" in result.output
    import optuna

    trials = optuna.load_study(study_name="resumed", storage="sqlite:///reports/resumed/study.db").trials
    assert len(trials) == 2  # no trial started under the changed definition
    one_clear_error(runner.invoke(app, ["validate", "--no-run", str(path)]),
                    "search.balancer: [static] -> [static, upgrad]")
    write(path, STUDY.replace("trials: 2", "trials: 3"))
    assert runner.invoke(app, ["validate", "--no-run", str(path)]).exit_code == 0
