"""Torch threads per worker: split from the cores or set by ``threads:``, recorded with each
trial, and used again by the production recipe and ``paretolab train`` (issue 26, item 12)."""

from __future__ import annotations

import textwrap

import optuna
import pytest
import torch

from paretolab import runner
from paretolab.devices import plan_workers
from paretolab.production import load_pick, retrain
from paretolab.records import load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage


def test_workers_split_the_cores_unless_the_study_file_gives_a_count(monkeypatch):
    monkeypatch.setattr("paretolab.devices.usable_cores", lambda: 5)
    assert [s.threads for s in plan_workers(2, "cpu")] == [3, 2]
    assert [s.threads for s in plan_workers(2, "cpu", threads=1)] == [1, 1]
    assert plan_workers(2, "cpu", threads=1)[0].env["OMP_NUM_THREADS"] == "1"


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.slow  # runs a study of the digits task
def test_a_trial_records_its_thread_count_and_the_recipe_trains_with_it(tmp_path, monkeypatch,
                                                                         restore_threads):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(2)
    text = textwrap.dedent("""\
        name: threads
        task: digits
        losses: [ce, l1]
        objectives: [nll, error]
        budget: {trials: 1, steps: 2}
        threads: 1
        """)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    assert torch.get_num_threads() == 2  # the run gives the process its count back
    study = optuna.load_study(study_name="threads", storage=open_storage(spec.storage_url))
    (record,) = load_records(study)
    assert record.config["extra"]["threads"] == 1

    from paretolab.pick import pick

    _, _, pick_path = pick(str(tmp_path / "reports" / "threads"), trial=record.number)
    assert "threads: 1" in pick_path.read_text()
    recipe = load_pick(pick_path).recipe("cpu")
    task = recipe.make_task()
    recipe.start(recipe.build_model(task), task)  # the production loop
    assert torch.get_num_threads() == 1

    torch.set_num_threads(2)
    seen: list[tuple[int, int, int]] = []
    done = retrain(load_pick(pick_path), steps=4, device="cpu",
                   progress=lambda s, n: seen.append((s, n, torch.get_num_threads())))
    assert seen and seen[-1][:2] == (4, 4)  # paretolab train's progress bar follows the steps
    assert {threads for _, _, threads in seen} == {1}  # retrained with the trial's count
    assert done.steps == 4 and torch.get_num_threads() == 2  # and the process got its 2 back
