"""One Pareto-manifold run of a task (Dimitriadis et al., ICML 2023): train the anchors, then
evaluate ``theta(a)`` on a grid of preferences.

The run is the trial's :class:`~paretolab.recipe.Recipe` (seeding, task, batches, optimizer, lr
schedule, loss groups, balancer, gradient clipping, the NaN guard) over the anchors instead of one
model. Each step draws ``samples_per_step`` preferences, and for each one the model runs at
``theta(a)`` on the batch and the trial's balancer, with ``a`` as its preference weights, puts
the losses' update (divided by the number of samples) into the anchors' gradients.
"""

from __future__ import annotations

import copy
import functools
import time
from pathlib import Path
from typing import Any

import torch

from paretolab.errors import TrialFailure
from paretolab.one_run.manifold import ParetoManifold, anchor_count, preference_grid
from paretolab.one_run.outcome import ONE_RUN_EXTRA, OneRunResult, run_settings
from paretolab.recipe import Recipe, evaluate, seed_everything, torch_device
from paretolab.search_space import TrialConfig, mixed_seed

__all__ = ["ONE_RUN_EXTRA", "OneRunResult", "build_manifold", "load_point_model", "run_settings", "train_run"]

def build_manifold(recipe: Recipe, task: Any, model: torch.nn.Module, settings: dict[str, Any]
                   ) -> ParetoManifold:
    """The anchors, seeded from the trial: ``independent`` builds each anchor's start with its
    own seed (the first one is the trial's model), ``same`` starts every anchor at the model."""
    names = recipe.loss_names
    degree = int(settings["degree"])
    k = anchor_count(len(names), degree)
    starts = None
    if settings.get("init", "independent") == "independent":
        starts = [dict(model.named_parameters())]
        for j in range(1, k):
            seed_everything(mixed_seed(recipe.config.seed, 15485863, j))
            starts.append(dict(task.build_model().to(recipe.torch_device).named_parameters()))
    return ParetoManifold(model, len(names), degree=degree, anchors=starts,
                          concentration=float(settings["concentration"]),
                          seed=mixed_seed(recipe.config.seed, 104729))


def train_run(config: TrialConfig, device: str | torch.device = "auto", *,
              base_dir: Path | None = None) -> OneRunResult:
    """Train the manifold (or the soup's specialists: :mod:`paretolab.one_run.soup`) as
    ``config`` says and evaluate it on the preference grid."""
    try:
        if run_settings(config).get("method") == "soup":
            from paretolab.one_run.soup import train_soup

            return train_soup(config, device, base_dir=base_dir)
        return _train_run(config, device, base_dir)
    except torch.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise TrialFailure("out of GPU memory") from None


def _train_run(config: TrialConfig, device: str | torch.device, base_dir: Path | None) -> OneRunResult:
    start = time.perf_counter()
    settings = run_settings(config)
    recipe = Recipe(config, base_dir, torch_device(device))
    task = recipe.make_task()
    model = recipe.build_model(task)
    manifold = build_manifold(recipe, task, model, settings)
    names = recipe.loss_names
    shared_names = [n for n, p in model.named_parameters()
                    if any(p is q for q in (task.shared_parameters(model)
                                            if hasattr(task, "shared_parameters") else model.parameters()))]
    head_names = [n for n in manifold.names if n not in shared_names]
    shared = manifold.anchor_parameters(shared_names)
    heads = manifold.anchor_parameters(head_names)
    balancer = recipe.make_balancer()
    representation = task.representation_module(model) if hasattr(task, "representation_module") else None
    try:
        balancer.attach(model, representation)
    except ValueError as exc:
        raise TrialFailure(str(exc)) from None
    optimizer = recipe.optimizer(shared + heads, balancer)
    schedule = recipe.scheduler(optimizer)
    batches = recipe.batches(task)
    per_step = int(settings.get("samples_per_step", 1))
    clip = config.train.get("grad_clip")
    curves: dict[str, list[float]] = {"step": []}
    sums = {n: 0.0 for n in names}
    count = 0
    model.train()
    for step in range(1, config.steps + 1):
        batch = next(batches)
        optimizer.zero_grad(set_to_none=True)
        balancer.set_progress(step - 1, config.steps)
        for a in manifold.sample(per_step):
            balancer.weights = {n: float(v) for n, v in zip(names, a.tolist())}
            raw = manifold.call(a, functools.partial(task.compute_losses, model, batch))
            losses = recipe.group_losses(raw, step)
            balancer.backward({n: v / per_step for n, v in losses.items()}, shared, heads)
            for n in names:
                sums[n] += float(losses[n].detach()) / per_step
        count += 1
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(shared + heads, float(clip))
            if not torch.isfinite(norm):
                raise TrialFailure(f"gradient became non-finite at step {step}")
        optimizer.step()
        schedule.step()
        if step % config.eval_every == 0 or step == config.steps:
            curves["step"].append(step)
            for n in names:
                curves.setdefault(f"loss:{n}", []).append(sums[n] / max(1, count))
                sums[n] = 0.0
            count = 0
    train_time = time.perf_counter() - start
    grid = preference_grid(len(names), int(settings["preferences"]))
    evaluated = copy.deepcopy(model)
    metrics, times = [], []
    for a in grid:
        t0 = time.perf_counter()
        evaluated.load_state_dict(manifold.state_dict_at(a))
        metrics.append(evaluate(task, evaluated, recipe.torch_device, config.steps))
        times.append(time.perf_counter() - t0)
    return OneRunResult(preferences=[dict(zip(names, a)) for a in grid], metrics=metrics,
                      eval_time_s=times, steps=config.steps, train_time_s=train_time,
                      device=str(recipe.torch_device), curves=curves, manifold=manifold,
                      samples_per_step=per_step)


def load_point_model(config: TrialConfig, anchors_file: Path, preference: dict[str, float],
                     base_dir: Path | None = None, device: str | torch.device = "cpu") -> tuple[Any, torch.nn.Module]:
    """(task, the plain model at ``preference``) from a run's saved anchors."""
    recipe = Recipe(config, base_dir, torch_device(device))
    task = recipe.make_task()
    model = recipe.build_model(task)
    state = torch.load(anchors_file, map_location=recipe.torch_device, weights_only=True)
    if state.get("method") == "soup":  # a soup run's specialists, mixed by the point's coefficients
        from paretolab.one_run.soup import soup_state_dict

        model.load_state_dict(soup_state_dict(state, run_settings(config)["mix"]))
        return task, model
    manifold = ParetoManifold.from_state(model, state)
    a = [float(preference[n]) for n in recipe.loss_names]
    model.load_state_dict(manifold.state_dict_at(a))
    return task, model
