"""Properties every registered balancer must have (the contract), run on each of them.

In the spirit of torchjd's shared aggregator tests: a new balancer gets all of these by being
registered. The last part trains short real trials through the trainer and checks that every
searchable setting of every balancer changes the outcome (a setting that silently does nothing,
like DWA's temperature when its epochs never ended, fails there).
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from _nets import NAMES, PREF, MultiTaskNet

from paretolab.balancers import (
    Balancer,
    BalancerCheckFailed,
    Setting,
    available,
    check_balancer,
    get_balancer_class,
    make_balancer,
)
from paretolab.balancers.schedules import SCHEDULE_SETTINGS

INSTALLED = sorted(n for n, c in available().items() if not c.missing_dependencies())
Net = MultiTaskNet


def fresh(name: str, names=NAMES, weights=None, settings=None) -> tuple[Balancer, Net]:
    net = Net(len(names))
    balancer = make_balancer(name, names, weights if weights is not None else
                             {n: PREF.get(n, 1.0) for n in names}, settings)
    balancer.attach(net, net.trunk)
    return balancer, net


def step(balancer: Balancer, net: Net, k: int = 0, names=NAMES, zero: bool = True) -> None:
    if zero:
        net.zero_grad(set_to_none=True)
    balancer.set_progress(k, 10)
    balancer.backward(net.losses(names), net.shared(), net.task_params())


# --- the class contract ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(available()))
def test_schedule_settings_present_and_defaults_coerce(name):
    cls = get_balancer_class(name)
    assert set(SCHEDULE_SETTINGS) <= set(cls.settings)
    for key, setting in cls.settings.items():
        assert setting.coerce(key, setting.default) == setting.default
        if setting.kind == "int":
            assert isinstance(setting.coerce(key, float(setting.default)), int)
        if setting.kind == "float":
            assert isinstance(setting.coerce(key, int(setting.default) if float(
                setting.default).is_integer() else setting.default), float)


#: a single loss: the update is a positive multiple of its gradient; these methods document a
#: scale other than 1 (each as in its paper): CAGrad (1 + c) g, Nash-MTL g / |g| (then clipped to
#: max_norm), RGB's unit mean g / |g|, Uncertainty 0.5 g (exp(-s) L / 2 at s = 0), DB-MTL the EMA
#: (1 - beta) g / L of the log-loss gradient.
SINGLE_LOSS_SCALE = {
    "cagrad": lambda g, loss: 1.5,
    "nashmtl": lambda g, loss: 1.0 / g.norm(),
    "rgb": lambda g, loss: 1.0 / g.norm(),
    "uncertainty": lambda g, loss: 0.5,
    "dbmtl": lambda g, loss: 0.1 / loss,
}


@pytest.mark.parametrize("name", INSTALLED)
def test_a_single_loss_reduces_to_its_gradient(name):
    balancer, net = fresh(name, names=["a"], weights={"a": 1.0})
    net.zero_grad(set_to_none=True)
    loss = net.losses(["a"])["a"]
    expected = torch.cat([g.flatten() for g in torch.autograd.grad(loss, net.shared())])
    step(balancer, net, names=["a"])
    got = torch.cat([p.grad.flatten() for p in net.shared()])
    scale = SINGLE_LOSS_SCALE.get(name, lambda g, value: 1.0)(expected, loss.detach())
    assert torch.allclose(got, expected * scale, rtol=1e-4, atol=1e-7), name


@pytest.mark.parametrize("name", INSTALLED)
def test_every_installed_balancer_passes_check_balancer(name):
    """Finite gradients, accumulation like loss.backward(), config round trip, determinism and
    exact continuation from state_dict: paretolab.balancers.check_balancer, which users run on
    their own classes."""
    check_balancer(get_balancer_class(name))


def test_check_balancer_names_the_property_a_class_lacks(monkeypatch):
    import paretolab.balancers.base as base

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # the test's class leaves no trace

    class Overwrites(Balancer):
        """Sets .grad instead of adding to it (a broken test method)."""

        name = "test_overwrites"

        def fill_grads(self, losses, shared_params, task_params):
            params = [*shared_params, *(task_params or [])]
            grads = torch.autograd.grad(self.stack(losses).sum(), params, allow_unused=True)
            for p, g in zip(params, grads):
                p.grad = torch.zeros_like(p) if g is None else g

    with pytest.raises(BalancerCheckFailed, match="fails 'accumulation'.*replaced an existing .grad"):
        check_balancer(Overwrites)
    check_balancer(Overwrites, checks=["finite gradients", "config round trip", "determinism"])
    with pytest.raises(TypeError):
        check_balancer(int)  # type: ignore[arg-type]


def test_a_subclass_without_settings_gets_the_schedule_and_registers(monkeypatch):
    import paretolab.balancers.base as base

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # the test's classes leave no trace

    class Halves(Balancer):
        """Half of each loss's gradient (a test method)."""

        name = "test_halves"

        def fill_grads(self, losses, shared_params, task_params):
            (0.5 * self.stack(losses).sum()).backward()

    class Child(Halves):
        name = "test_halves_child"
        settings = {"k": Setting(2, low=1, high=4)}

    assert set(SCHEDULE_SETTINGS) <= set(Halves.settings)
    assert set(Child.settings) == {"k", *SCHEDULE_SETTINGS}
    assert get_balancer_class("test_halves") is Halves
    assert get_balancer_class("test_halves_child") is Child
    b = make_balancer("test_halves", ["a", "b"], settings={"schedule": "linear_warmup"})
    assert b.options["schedule_warmup"] == SCHEDULE_SETTINGS["schedule_warmup"].default
    assert Balancer.from_config(b.to_config()).to_config() == b.to_config()
    with pytest.raises(TypeError, match="built-in"):
        type("Impostor", (Halves,), {"name": "upgrad", "__module__": "somewhere"})
    with pytest.raises(TypeError, match="reserved"):
        type("Clash", (Halves,), {"settings": {"schedule": Setting("x")}})


def test_the_trainer_needs_nothing_beyond_the_base_class():
    """Everything the trainer calls is defined by Balancer itself (no duck typing)."""
    for method in ("attach", "backward", "set_progress", "parameters", "stats", "to_config",
                   "state_dict", "load_state_dict", "on_epoch_end", "conflict_stats"):
        assert callable(getattr(Balancer, method))
    assert isinstance(Balancer.conflict_stats_free, property)


# --- every searchable setting changes a short trial -----------------------------------------------
STEPS = 24
#: a tiny version of the built-in regression task (it has a representation module, for MGDA-UB)
TASK_PARAMS = {"n_tasks": 3, "input_dim": 4, "output_dim": 2, "n_train": 64, "n_val": 32,
               "hidden": 8, "depth": 1, "scale_spread": 2.0}
#: plain SGD: Adam would hide settings that only rescale the whole update (Nash-MTL's max_norm,
#: Aligned-MTL's scale_mode), since Adam's step does not depend on the gradient's scale
TRAIN = {"optimizer": "sgd", "lr": 0.02, "momentum": 0.0, "batch_size": 16,
         "conflict_stats": "off"}
#: settings that must be set for another setting to act within a short trial
CONTEXT = {
    ("*", "schedule_warmup"): {"schedule": "linear_warmup"},
    ("dwa", "temperature"): {"epoch_steps": 5},
}
#: (method, setting) that legitimately cannot change a trial, and why
EXEMPT = {
    ("nashmtl", "schedule_warmup"): "Nash-MTL is invariant to loss scaling: the ramp only acts "
                                    "through the first step, where a scheduled weight is 0 at "
                                    "any warm-up length",
}
#: solver-backed methods: a cvxpy problem per step makes their trials slow
SLOW = {"cagrad", "nashmtl"}


def searchable() -> list:
    return [pytest.param(name, key, marks=[pytest.mark.slow] if name in SLOW else [])
            for name in INSTALLED for key, s in available()[name].settings.items()
            if s.searchable]


def variants(setting: Setting) -> list[object]:
    """The values to compare with the default: both ends of the range, or every other choice."""
    if setting.choices is not None:
        return [c for c in setting.choices if c != setting.default]
    if isinstance(setting.default, bool):
        return [not setting.default]
    low, high = setting.low, setting.high
    ends = [low, high] if setting.kind == "float" else [int(low), int(high)]
    return [v for v in ends if v != setting.default]


@functools.cache
def trial(method: str, settings: tuple[tuple[str, object], ...]) -> dict[str, float]:
    """The final metrics of a short real trial through the trainer (cached: baselines repeat)."""
    from paretolab.search_space import TrialConfig
    from paretolab.spec import TrainSpec
    from paretolab.trainer import train

    names = [f"task{i}" for i in range(3)]
    config = TrialConfig(weights={"task0": 0.5, "task1": 0.3, "task2": 0.2},
                         balancer={"method": method, "settings": dict(settings)},
                         train={**TrainSpec().model_dump(), **TRAIN},
                         task="multitask_regression", task_params=TASK_PARAMS,
                         loss_groups={n: {n: 1.0} for n in names}, seed=3, steps=STEPS,
                         eval_every=STEPS)
    return train(config, "cpu").metrics


def differs(a: dict[str, float], b: dict[str, float]) -> bool:
    return max(abs(a[m] - b[m]) / max(abs(b[m]), 1e-12) for m in b) > 1e-6


@pytest.mark.parametrize("method,key", searchable())
def test_every_searchable_setting_changes_a_short_trial(method, key):
    """Every other choice of a categorical setting changes the trial; for a range, at least one
    end does (the other may legitimately saturate, e.g. a window longer than the trial)."""
    if (method, key) in EXEMPT:
        pytest.skip(EXEMPT[method, key])
    setting = available()[method].settings[key]
    context = {**CONTEXT.get(("*", key), {}), **CONTEXT.get((method, key), {})}
    base = trial(method, tuple(sorted(context.items())))
    outcomes = {}
    for value in variants(setting):
        outcomes[value] = trial(method, tuple(sorted({**context, key: value}.items())))
        assert all(math.isfinite(v) for v in outcomes[value].values()), (method, key, value)
    changed = {value: differs(result, base) for value, result in outcomes.items()}
    if setting.kind in ("int", "float"):
        assert any(changed.values()), \
            f"{method}: {key} at {list(changed)} gives the same trial as {setting.default!r}"
    else:
        same = [value for value, c in changed.items() if not c]
        assert not same, f"{method}: {key}={same} gives the same trial as {setting.default!r}"


def test_no_import_cycle_between_base_registry_schedules():
    """The contract's modules import each other in one direction (also inside functions)."""
    import ast
    from pathlib import Path

    import paretolab.balancers as package

    folder = Path(package.__file__).parent
    core = {"base", "registry", "schedules", "setting", "refs", "jacobian", "diagnostics"}
    edges = {}
    for name in core:
        tree = ast.parse((folder / f"{name}.py").read_text())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["paretolab", "balancers"] and len(parts) == 3:
                    targets.add(parts[2])
        edges[name] = targets & core

    def reaches(start: str, goal: str, seen: frozenset = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in edges.get(start, ()))

    assert not [name for name in core if reaches(name, name)], edges
