"""Rewarded soups (Rame et al., NeurIPS 2023; model soups, Wortsman et al., ICML 2022): fine-tune
one specialist per loss from one shared starting checkpoint, then interpolate their weights.

A soup run trains ``k`` specialists (by default one per loss, at its *corner* preference: ``corner``
on its own loss and the rest spread evenly over the others), each an ordinary training of the
trial's recipe (balancer, optimizer, schedule) at its preference, all starting from the same
checkpoint: the task's ``initial_state()`` when it defines one (e.g. a pre-trained model read from
a cache), else the model ``build_model()`` gives at the trial's seed, optionally trained first for
``pretrain_steps`` steps at the centre preference. It then evaluates
``theta(l) = sum_i l_i theta_i`` on a grid of ``l`` over the specialists' simplex; each becomes a
point of the study (:mod:`paretolab.one_run.trial`, exactly as a manifold's points). A point's
weights are the preference its model stands for, ``sum_i l_i p_i`` (``p_i``: specialist ``i``'s
preference); its mixing coefficients ``l`` are kept as ``mix``.

What is interpolated (:func:`soup`): every floating-point tensor of the state dicts, parameters and
buffers alike (BatchNorm's running statistics are mixed too); every other entry (integer buffers
such as ``num_batches_tracked``, non-tensor extra state) is taken from the state dict of largest
weight (the first of them on a tie), so ``theta(e_i)`` is exactly specialist ``i``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from paretolab.errors import TrialFailure
from paretolab.one_run.manifold import preference_grid
from paretolab.one_run.outcome import OneRunResult, run_settings
from paretolab.recipe import Recipe, evaluate, torch_device
from paretolab.search_space import TrialConfig

SOUP = "soup"  # the method's name, in run settings and in the saved specialists file


def soup(state_dicts: Sequence[Mapping[str, Any]], weights: Sequence[float]) -> dict[str, Any]:
    """The weighted sum of ``state_dicts`` (same keys, same shapes): ``sum_i w_i theta_i`` for
    every floating-point tensor (accumulated in float32 or wider, cast back to its dtype), the
    entry of the largest weight for anything else. ``weights`` are used as given (a point of the
    simplex interpolates; others extrapolate)::

        model.load_state_dict(paretolab.soup([a.state_dict(), b.state_dict()], [0.3, 0.7]))
    """
    states, w = list(state_dicts), [float(x) for x in weights]
    if not states or len(states) != len(w):
        raise ValueError(f"soup needs one weight per state dict, got {len(states)} state dicts "
                         f"and {len(w)} weights")
    keys = list(states[0])
    for i, state in enumerate(states[1:], 1):
        if set(state) != set(keys):
            diff = sorted(set(state) ^ set(keys))[:3]
            raise ValueError(f"state dict {i} does not have the same entries as the first: {diff}")
    top = max(range(len(w)), key=lambda i: (w[i], -i))
    out: dict[str, Any] = {}
    for key in keys:
        first = states[top][key]
        if not (isinstance(first, torch.Tensor) and first.is_floating_point()):
            out[key] = first.clone() if isinstance(first, torch.Tensor) else first
            continue
        wide = torch.promote_types(first.dtype, torch.float32)
        total = None
        for wi, state in zip(w, states):
            if wi == 0.0:
                continue
            tensor = state[key]
            if tensor.shape != first.shape:
                raise ValueError(f"{key!r} has shape {tuple(tensor.shape)} in one state dict and "
                                 f"{tuple(first.shape)} in another")
            term = tensor.detach().to(device=first.device, dtype=wide) * wi
            total = term if total is None else total + term
        out[key] = (total if total is not None else torch.zeros_like(first, dtype=wide)).to(first.dtype)
    return out


def specialist_preferences(names: Sequence[str], settings: Mapping[str, Any]) -> list[dict[str, float]]:
    """The preference of every specialist: the study's ``specialists`` (normalised to sum to
    one), else one per loss at its corner (``corner`` on it, the rest spread evenly)."""
    listed = settings.get("specialists")
    if listed:
        out = []
        for pref in listed:
            total = sum(float(pref.get(n, 0.0)) for n in names)
            out.append({n: float(pref.get(n, 0.0)) / total for n in names})
        return out
    corner, k = float(settings.get("corner", 0.9)), len(names)
    if k == 1:
        return [{names[0]: 1.0}]
    rest = (1.0 - corner) / (k - 1)
    return [{n: corner if j == i else rest for j, n in enumerate(names)} for i in range(k)]


def starting_state(recipe: Recipe, task: Any) -> dict[str, Any] | None:
    """The shared starting checkpoint: ``task.initial_state()`` when the task defines it (a state
    dict of ``build_model()``'s model), else None (each training builds the same model at the
    trial's seed)."""
    getter = getattr(task, "initial_state", None)
    if getter is None:
        return None
    state = getter()
    if state is None:
        return None
    if not isinstance(state, Mapping):
        raise TrialFailure(f"{type(task).__name__}.initial_state() must return a state dict, "
                           f"got {type(state).__name__}")
    return dict(state)


def train_soup(config: TrialConfig, device: str | torch.device = "auto", *,
               base_dir: Path | None = None) -> OneRunResult:
    """Train the specialists as ``config`` says and evaluate their soup on the preference grid
    (its ``state`` is what ``anchors.pt`` keeps)."""
    from paretolab.trainer import train

    start = time.perf_counter()
    settings = run_settings(config)
    names = list(config.loss_groups)
    recipe = Recipe(config, base_dir, torch_device(device))
    task = recipe.make_task()
    init = starting_state(recipe, task)
    steps = 0
    curves: dict[str, list[float]] = {"step": []}
    pretrain = int(settings.get("pretrain_steps") or 0)
    if pretrain:
        centre = {n: 1.0 / len(names) for n in names}
        done = train(replace(config, weights=centre, steps=pretrain,
                             eval_every=min(config.eval_every, pretrain)),
                     recipe.torch_device, base_dir=base_dir, init_state=init, keep_state=True)
        init, steps = done.state, pretrain
        _extend(curves, done.curves, names, 0)
    prefs = specialist_preferences(names, settings)
    specialists = []
    for pref in prefs:
        done = train(replace(config, weights=dict(pref)), recipe.torch_device, base_dir=base_dir,
                     init_state=init, keep_state=True)
        assert done.state is not None
        specialists.append({k: v.detach() for k, v in done.state.items()})
        _extend(curves, done.curves, names, steps)
        steps += done.steps
    train_time = time.perf_counter() - start
    model = recipe.build_model(task)
    grid = preference_grid(len(prefs), int(settings["preferences"]))
    metrics, times, points = [], [], []
    for mix in grid:
        t0 = time.perf_counter()
        model.load_state_dict(soup(specialists, mix))
        metrics.append(evaluate(task, model, recipe.torch_device, steps))
        times.append(time.perf_counter() - t0)
        points.append({n: sum(m * p[n] for m, p in zip(mix, prefs)) for n in names})
    state = {"method": SOUP, "preferences": prefs,
             "specialists": [{k: v.cpu() for k, v in s.items()} for s in specialists]}
    return OneRunResult(preferences=points, metrics=metrics, eval_time_s=times, steps=steps,
                      train_time_s=train_time, device=str(recipe.torch_device), curves=curves,
                      mixes=[list(m) for m in grid], state=state)


def _extend(curves: dict[str, list[float]], part: Mapping[str, list[Any]], names: Sequence[str],
            offset: int) -> None:
    """Append one training's loss curves to the run's, its steps shifted by ``offset``."""
    curves["step"].extend(int(s) + offset for s in part.get("step", []))
    for n in names:
        curves.setdefault(f"loss:{n}", []).extend(part.get(f"loss:{n}", []))


def soup_state_dict(saved: Mapping[str, Any], mix: Sequence[float]) -> dict[str, Any]:
    """The state dict at mixing coefficients ``mix`` from a soup run's saved specialists."""
    specialists = saved["specialists"]
    if len(mix) != len(specialists):
        raise ValueError(f"this soup has {len(specialists)} specialists, got {len(mix)} coefficients")
    return soup(specialists, mix)
