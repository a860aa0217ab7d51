"""Curriculum schedules (paretolab.curriculum): what a task sees during a trial, and the study
file's curriculum settings."""

from __future__ import annotations

import math

import pytest

from paretolab.curriculum import Curriculum
from paretolab.recipe import Recipe
from paretolab.search_space import TrialConfig
from paretolab.tasks.multitask_regression import MultitaskRegressionTask

from conftest import cli, write

TRAIN = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.9, "batch_size": 16,
         "grad_clip": 10.0, "lr_schedule": "constant", "warmup_steps": 0, "conflict_stats": "off"}
SMALL = {"n_train": 64, "n_val": 32, "hidden": 8, "depth": 1, "input_dim": 4, "output_dim": 2}


class RecordingTask(MultitaskRegressionTask):
    """A task that writes down every (progress, difficulty) it is told."""

    def __init__(self) -> None:
        super().__init__(**SMALL)
        self.seen: list[tuple[float, float]] = []
        self.accuracies: list[float] = []

    def evaluate(self, model, device):  # type: ignore[no-untyped-def]
        return {**super().evaluate(model, device), "acc": self.accuracies.pop(0)}

    def set_curriculum(self, progress: float, difficulty: float) -> None:
        self.seen.append((progress, difficulty))


def run_with(curriculum: dict, steps: int = 4, accuracies: list[float] | None = None
             ) -> list[tuple[float, float]]:
    config = TrialConfig(weights={"task0": 0.5, "task1": 0.5}, balancer={"method": "static", "settings": {}},
                         train={**TRAIN, **curriculum}, task="multitask_regression", task_params=SMALL,
                         loss_groups={"task0": {"task0": 1.0}, "task1": {"task1": 1.0}}, seed=0,
                         steps=steps, eval_every=steps)
    recipe = Recipe(config, device="cpu")
    task = RecordingTask()
    task.accuracies = list(accuracies or [])
    run = recipe.start(recipe.build_model(task), task)
    batches = recipe.batches(task)
    for _ in range(steps):
        run.step(run.losses(next(batches)))
        if accuracies is not None:
            run.evaluate()
    return task.seen


def test_a_task_sees_the_linear_schedule_it_was_given() -> None:
    seen = run_with({"curriculum": "linear", "curriculum_initial": 1.0, "curriculum_final": 3.0})
    assert seen == [(0.0, 1.0), (0.25, 1.5), (0.5, 2.0), (0.75, 2.5), (1.0, 3.0)]


def test_a_task_sees_the_exponential_schedule_it_was_given() -> None:
    seen = run_with({"curriculum": "exponential", "curriculum_initial": 1.0, "curriculum_final": 16.0})
    assert [p for p, _ in seen] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [d for _, d in seen] == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])


def test_an_adaptive_schedule_moves_only_when_the_metric_reaches_the_target() -> None:
    seen = run_with({"curriculum": "adaptive", "curriculum_initial": 0.0, "curriculum_final": 2.0,
                     "curriculum_metric": "acc", "curriculum_target": 0.8, "curriculum_increment": 0.5},
                    accuracies=[0.5, 0.9, 0.7, 0.95])
    # told at the start, after each step, and after each evaluation that moved it
    assert [d for _, d in seen] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]


def test_without_a_curriculum_the_task_hears_nothing() -> None:
    assert run_with({}) == []
    assert run_with({"curriculum": "none"}) == []


def test_schedules_it_cannot_run_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Curriculum("exponential", initial=0.0, final=2.0)
    with pytest.raises(ValueError, match="curriculum_metric"):
        Curriculum("adaptive", initial=0.0, final=2.0)
    schedule = Curriculum("adaptive", 1.0, 2.0, metric="loss", target=0.1, direction="minimize")
    schedule.observe({"loss": 0.5})
    assert schedule.difficulty(0.9) == 1.0
    schedule.observe({"loss": 0.05})
    assert math.isclose(schedule.difficulty(0.0), 1.25)


STUDY = """
    name: cur
    task: {{ref: multitask_regression, params: {{n_train: 64, n_val: 32}}}}
    objectives: [{{name: mean, direction: minimize}}]
    train: {{curriculum: {schedule}, curriculum_initial: 1, curriculum_final: 3{extra}}}
    search:
      params:
        curriculum_final: {{low: 2.0, high: 4.0}}
    budget: {{trials: 2, steps: 4}}
"""


def test_the_study_file_declares_and_searches_a_curriculum(tmp_path) -> None:
    ok = write(tmp_path, STUDY.format(schedule="linear", extra=""))
    cli("validate", str(ok))
    bad = write(tmp_path, STUDY.format(schedule="adaptive", extra=", curriculum_metric: accuracy, "
                                       "curriculum_target: 0.5"), "bad.yaml")
    out = cli("validate", str(bad), code=2)
    assert "curriculum watches 'accuracy'" in out
