"""The training recipe shared by the trainer and production: seeding inside the API, one step
for every balancer, the trainer's evaluation steps (interface I3)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from paretolab.balancers.registry import describe_balancers
from paretolab.errors import TrialFailure
from paretolab.recipe import Recipe
from paretolab.search_space import TrialConfig
from paretolab.trainer import train

TRAIN = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.9, "batch_size": 16,
         "grad_clip": 10.0, "lr_schedule": "cosine", "warmup_steps": 2, "conflict_stats": "auto"}
SMALL = {"n_train": 64, "n_val": 32, "hidden": 8, "depth": 2, "input_dim": 8, "output_dim": 4}
#: settings a method cannot run without (a loss name to constrain)
NEEDS = {"lagrangian": {"constraint": "task1", "threshold": 0.5}}


def regression(method: str = "static", settings: dict | None = None, steps: int = 12,
               seed: int = 3) -> TrialConfig:
    names = ["task0", "task1"]
    return TrialConfig(weights={"task0": 0.4, "task1": 0.6},
                       balancer={"method": method, "settings": settings or {}}, train=dict(TRAIN),
                       task="multitask_regression", task_params=dict(SMALL),
                       loss_groups={n: {n: 1.0} for n in names}, seed=seed, steps=steps, eval_every=4)


def test_building_the_model_through_the_recipe_starts_from_the_trials_weights() -> None:
    recipe = Recipe(regression(), device="cpu")
    task = recipe.make_task()
    first = recipe.build_model(task).state_dict()
    torch.rand(100)  # whatever ran before, the model starts the same
    again = recipe.build_model(task).state_dict()
    other = Recipe(regression(seed=4), device="cpu").build_model(task).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


INSTALLED = [m["name"] for m in describe_balancers() if m["installed"]]


@pytest.mark.parametrize("method", INSTALLED)
def test_every_balancer_trains_through_the_recipe_step(method: str) -> None:
    recipe = Recipe(regression(method, NEEDS.get(method)), device="cpu")
    task = recipe.make_task()
    model = recipe.build_model(task)
    run = recipe.start(model, task, total_steps=3)
    before = [p.detach().clone() for p in model.parameters()]
    batches = recipe.batches(task)
    for _ in range(2):
        assert run.step(run.losses(next(batches))) is None
    stats = run.step(run.losses(next(batches)), conflict_stats=True)
    assert set(stats["cosine"]) == {"task0|task1"} and -1.0001 <= stats["cosine"]["task0|task1"] <= 1.0001
    assert run.done == 3 and run.schedule.last_epoch == 3
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    metrics = run.evaluate()
    assert set(metrics) == {"task0", "task1", "mean"}


def test_own_model_and_losses_with_mgda_ub_match_the_trainer_exactly() -> None:
    """The README's 'your own model' form: shared params and the representation module given
    by hand, losses grouped with recipe.group_losses."""
    config = regression("mgda_ub")
    recipe = Recipe(config, device="cpu")
    task = recipe.make_task()
    model = recipe.build_model(task)
    run = recipe.start(model, shared_params=task.shared_parameters(model),
                       representation_module=task.representation_module(model))
    batches = recipe.batches(task)
    for _ in range(config.steps):
        run.step(recipe.group_losses(task.compute_losses(model, next(batches))))
    assert run.evaluate(task) == train(config, "cpu").metrics


def test_mgda_ub_without_a_representation_module_says_what_to_give() -> None:
    recipe = Recipe(regression("mgda_ub"), device="cpu")
    task = recipe.make_task()
    model = recipe.build_model(task)
    with pytest.raises(TrialFailure, match="representation"):
        recipe.start(model, shared_params=task.shared_parameters(model))


def test_the_trainer_evaluates_at_the_given_eval_steps_only() -> None:
    config = dataclasses.replace(regression(steps=10), eval_every=4, extra={"eval_steps": [5]})
    seen: list[int] = []
    result = train(config, "cpu", eval_steps=(3, 7), on_eval=lambda step, _m: seen.append(step))
    assert result.curves["step"] == seen == [3, 4, 7, 8, 10]  # extra["eval_steps"] is not read
    # evaluating more often changes nothing in the run itself
    assert result.metrics == train(dataclasses.replace(config, extra={}), "cpu").metrics
