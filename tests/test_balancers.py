"""The balancer interface: registry, settings, configs, state, schedules, diagnostics."""

from __future__ import annotations

import json
from importlib.util import find_spec

import pytest
import torch
from _nets import NAMES, PREF, MultiTaskNet

import paretolab.balancers.jacobian as jacobian_module
from paretolab.balancers import (
    Balancer,
    MissingDependencyError,
    available,
    describe_balancers,
    get_balancer_class,
    make_balancer,
)
from paretolab.balancers.schedules import ramp

EXPECTED = {"static", "chebyshev", "stch", "uncertainty", "dwa", "rlw", "gls", "famo", "lagrangian",
            "upgrad", "mgda", "pcgrad", "cagrad", "nashmtl", "imtlg", "alignedmtl", "dualproj",
            "graddrop", "gradvac", "config", "gradnorm", "dbmtl", "mgda_ub", "rgb"}
INSTALLED = sorted(n for n, c in available().items() if not c.missing_dependencies())


def MultiTask() -> MultiTaskNet:
    return MultiTaskNet(batch=32)


def run_step(balancer: Balancer, model: MultiTaskNet, step: int = 0) -> torch.Tensor:
    """One backward; returns the gradient of all model parameters as one vector."""
    model.zero_grad()
    losses, z = model.losses_and_features()
    balancer.set_progress(step, 100)
    balancer.backward(losses, model.shared(), model.task_params(), representation=z)
    return torch.cat([p.grad.flatten() for p in model.parameters()])


# --- registry and description ----------------------------------------------------------------
def test_registry_lists_every_method():
    assert set(available()) == EXPECTED
    for name, cls in available().items():
        assert cls.name == name and cls.level in ("loss", "gradient")
        assert cls.preference_meaning and cls.source


def test_describe_is_json_and_defaults_fit_their_ranges():
    rows = describe_balancers()
    json.dumps(rows)
    assert {r["name"] for r in rows} == EXPECTED
    for row in rows:
        cls = get_balancer_class(row["name"])
        assert set(row["settings"]) >= {"schedule", "schedule_warmup", "schedule_losses"}
        for key, s in cls.settings.items():
            assert s.coerce(key, s.default) == s.default
            if s.kind in ("int", "float"):
                assert s.low <= s.default <= s.high, (row["name"], key)
                assert not s.log or s.low > 0
            if s.choices:
                assert s.default in s.choices
        assert row["installed"] == (not cls.missing_dependencies())


@pytest.mark.parametrize("name", ["cagrad", "nashmtl"])
def test_missing_optional_dependency_names_the_pip_package(name, monkeypatch):
    """The solver-backed methods name paretolab's extra (simulated: cvxpy not installed)."""
    import paretolab.balancers.base as base_module

    hint = "pip install 'paretolab[solvers]'"
    real = base_module.find_spec
    monkeypatch.setattr(base_module, "find_spec", lambda m: None if m == "cvxpy" else real(m))
    with pytest.raises(MissingDependencyError) as info:
        make_balancer(name, NAMES)
    assert hint in str(info.value) and isinstance(info.value, ImportError)
    row = next(r for r in describe_balancers() if r["name"] == name)
    assert not row["installed"] and hint in row["install_hint"]


def test_bad_settings_and_weights_are_rejected():
    with pytest.raises(ValueError, match="no setting"):
        make_balancer("rgb", NAMES, settings={"nope": 1})
    with pytest.raises(ValueError, match="not one of"):
        make_balancer("rgb", NAMES, settings={"magnitude": "huge"})
    with pytest.raises(ValueError, match="integer"):
        make_balancer("rgb", NAMES, settings={"alpha_steps": 2.5})
    with pytest.raises(ValueError, match=">= 0"):
        make_balancer("static", NAMES, {"a": -1.0, "b": 1.0, "c": 0.0})
    with pytest.raises(ValueError, match="unknown losses"):
        make_balancer("static", NAMES, settings={"schedule_losses": "zzz"})
    with pytest.raises(KeyError, match="unknown balancer"):
        make_balancer("nope", NAMES)


def test_settings_are_coerced_so_configs_round_trip():
    b = make_balancer("rgb", NAMES, PREF, {"alpha_steps": 4.0, "lambd": 2})
    assert b.options["alpha_steps"] == 4 and isinstance(b.options["alpha_steps"], int)
    assert b.options["lambd"] == 2.0 and isinstance(b.options["lambd"], float)
    config = json.loads(json.dumps(b.to_config()))
    assert Balancer.from_config(config).to_config() == b.to_config()


# --- every method: update, config round trip, state -----------------------------------------------
@pytest.mark.parametrize("name", INSTALLED)
def test_every_method_fills_finite_gradients_and_rebuilds_exactly(name):
    options = {"schedule": "linear_warmup", "schedule_warmup": 0.5}
    model = MultiTask()
    balancer = make_balancer(name, NAMES, PREF, options)
    for step in range(3):
        torch.manual_seed(step)
        grad = run_step(balancer, model, step)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        for p in model.parameters():
            assert p.grad is not None
    config = json.loads(json.dumps(balancer.to_config()))
    assert config["method"] == name and config["settings"]["schedule"] == "linear_warmup"
    rebuilt = Balancer.from_config(config)
    assert rebuilt.to_config() == balancer.to_config()
    rebuilt.load_state_dict(balancer.state_dict())
    torch.manual_seed(7)
    expected = run_step(balancer, model, 3)
    torch.manual_seed(7)
    assert torch.allclose(run_step(rebuilt, model, 3), expected, atol=1e-6)


def test_gradient_level_heads_get_the_weighted_sum_of_their_losses():
    model = MultiTask()
    make_balancer("upgrad", NAMES, PREF).backward(model.losses_and_features()[0], model.shared(),
                                                  model.task_params())
    got = [p.grad.clone() for p in model.task_params()]
    model.zero_grad()
    losses, _ = model.losses_and_features()
    sum(PREF[n] * losses[n] for n in NAMES).backward()
    for g, p in zip(got, model.task_params()):
        assert torch.allclose(g, p.grad, atol=1e-7)


def test_backward_accumulates_into_existing_grads():
    model = MultiTask()
    balancer = make_balancer("pcgrad", NAMES, PREF)
    once = run_step(balancer, model)
    losses, _ = model.losses_and_features()
    balancer.backward(losses, model.shared(), model.task_params())  # no zeroing in between
    twice = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.allclose(twice, 2 * once, atol=1e-6)


def test_uncertainty_exposes_its_log_variances():
    model = MultiTask()
    balancer = make_balancer("uncertainty", NAMES, PREF)
    (log_var,) = balancer.parameters()
    run_step(balancer, model)
    assert log_var.grad is not None and log_var.grad.shape == (3,)
    losses, _ = model.losses_and_features()
    # d/ds_i of T w_i (exp(-s) L / 2 + s / 2) at s = 0 is T w_i (1 - L_i) / 2
    expected = torch.tensor([3 * PREF[n] * (1 - losses[n].item()) / 2 for n in NAMES])
    assert torch.allclose(log_var.grad, expected, atol=1e-5)


@pytest.mark.parametrize("by_hand", [True, False])
def test_dwa_weights_follow_the_epoch_losses(by_hand):
    settings = {"temperature": 1.0, "epoch_steps": 0 if by_hand else 1}
    balancer = make_balancer("dwa", ["a", "b"], {"a": 0.5, "b": 0.5}, settings)
    theta = torch.ones(2, requires_grad=True)
    epochs = [(4.0, 4.0), (2.0, 4.0)]  # a halves, b stays
    for la, lb in epochs:
        balancer.backward({"a": theta[0] * la, "b": theta[1] * lb}, [theta])
        if by_hand:
            balancer.on_epoch_end()
    theta.grad = None
    balancer.backward({"a": theta[0], "b": theta[1]}, [theta])
    rates = torch.tensor([0.5, 1.0])
    expected = 2 * torch.softmax(rates, 0)  # K softmax(w / T), times T w_i = 1
    assert torch.allclose(theta.grad, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["gls", "famo", "dbmtl", "gradnorm"])
def test_log_based_methods_reject_non_positive_losses(name):
    theta = torch.ones(2, requires_grad=True)
    balancer = make_balancer(name, ["a", "b"])
    with pytest.raises(ValueError, match="positive|> 0"):
        balancer.backward({"a": theta[0] - 2.0, "b": theta[1]}, [theta])


def test_gls_is_the_weighted_geometric_mean():
    theta = torch.tensor([2.0, 8.0], requires_grad=True)
    make_balancer("gls", ["a", "b"], {"a": 0.25, "b": 0.75}).backward(
        {"a": theta[0], "b": theta[1]}, [theta])
    value = 2.0**0.25 * 8.0**0.75
    assert torch.allclose(theta.grad, torch.tensor([0.25 * value / 2.0, 0.75 * value / 8.0]))


def test_chebyshev_moves_only_the_worst_weighted_loss():
    theta = torch.tensor([1.0, 1.0], requires_grad=True)
    make_balancer("chebyshev", ["a", "b"], {"a": 0.2, "b": 0.8}).backward(
        {"a": 3 * theta[0], "b": theta[1]}, [theta])
    assert torch.allclose(theta.grad, torch.tensor([0.0, 0.8]))


# --- Lagrangian ------------------------------------------------------------------------------
def test_lagrangian_dual_ascent():
    b = make_balancer("lagrangian", ["task", "safety"], {"task": 1.0, "safety": 0.0},
                      {"threshold": 1.0, "dual_lr": 0.5})
    theta = torch.tensor([3.0], requires_grad=True)
    b.backward({"task": theta[0], "safety": theta[0] ** 2}, [theta])
    assert torch.allclose(theta.grad, torch.tensor([1.0]))  # lambda was 0
    assert b.stats()["dual|safety"] == pytest.approx(0.5 * (9.0 - 1.0))
    theta.grad = None
    b.backward({"task": theta[0], "safety": theta[0] ** 2}, [theta])
    assert torch.allclose(theta.grad, torch.tensor([1.0 + 4.0 * 6.0]))
    for _ in range(20):  # satisfied constraint: the multiplier decays to zero, never below
        b.backward({"task": theta[0], "safety": theta[0] ** 2 * 0.0}, [theta])
    assert b.stats()["dual|safety"] == 0.0


@pytest.mark.slow  # over 0.9 s
def test_lagrangian_keeps_the_constraint_in_training():
    """min (x - 2)^2 subject to x^2 <= 1: the constrained optimum is x = 1."""
    x = torch.tensor([0.0], requires_grad=True)
    b = make_balancer("lagrangian", ["task", "safety"], {"task": 1.0, "safety": 0.0},
                      {"threshold": 1.0, "dual_lr": 0.1})
    opt = torch.optim.SGD([x], lr=0.05)
    for _ in range(2000):
        opt.zero_grad()
        b.backward({"task": (x[0] - 2) ** 2, "safety": x[0] ** 2}, [x])
        opt.step()
    assert x.item() == pytest.approx(1.0, abs=0.02)
    unconstrained = make_balancer("static", ["task", "safety"], {"task": 1.0, "safety": 0.0})
    y = torch.tensor([0.0], requires_grad=True)
    opt = torch.optim.SGD([y], lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        unconstrained.backward({"task": (y[0] - 2) ** 2, "safety": y[0] ** 2}, [y])
        opt.step()
    assert y.item() == pytest.approx(2.0, abs=0.01)


# --- MGDA-UB -------------------------------------------------------------------------------------
def test_mgda_ub_needs_the_representation():
    model = MultiTask()
    losses, _ = model.losses_and_features()
    with pytest.raises(ValueError, match=r"attach\(model, representation_module\)"):
        make_balancer("mgda_ub", NAMES).backward(losses, model.shared(), model.task_params())
    with pytest.raises(ValueError, match=r"representation_module\(model\)"):
        make_balancer("mgda_ub", NAMES).attach(model)
    assert get_balancer_class("mgda_ub").needs_representation
    assert not get_balancer_class("mgda").needs_representation


@pytest.mark.parametrize("attached", [True, False])
def test_mgda_ub_is_mgda_on_representation_gradients(attached):
    from torchjd.aggregation import MGDAWeighting

    model = MultiTask()
    balancer = make_balancer("mgda_ub", NAMES, PREF)
    if attached:  # the hook captures the representation; no representation= needed
        balancer.attach(model, model.trunk)
        model.zero_grad()
        balancer.backward(model.losses_and_features()[0], model.shared(), model.task_params())
        got = torch.cat([p.grad.flatten() for p in model.parameters()])
    else:
        got = run_step(balancer, model)
    model.zero_grad()
    losses, z = model.losses_and_features()
    rows = torch.stack([torch.autograd.grad(losses[n], z, retain_graph=True)[0].flatten()
                        for n in NAMES])
    scale = torch.tensor([1 / (3 * PREF[n]) for n in NAMES])
    alpha = MGDAWeighting()((rows @ rows.T) * scale[:, None] * scale[None, :]) * scale
    shared_loss = sum(alpha[i] * losses[n] for i, n in enumerate(NAMES))
    shared = torch.autograd.grad(shared_loss, model.shared(), retain_graph=True)
    heads = torch.autograd.grad(sum(PREF[n] * losses[n] for n in NAMES), model.task_params())
    assert torch.allclose(got, torch.cat([g.flatten() for g in (*shared, *heads)]), atol=1e-6)


# --- schedules ---------------------------------------------------------------------------------
def test_ramps():
    assert ramp("constant", 0.5, (0, 100)) == 1.0
    assert ramp("linear_warmup", 0.5, (25, 100)) == pytest.approx(0.5)
    assert ramp("linear_warmup", 0.5, (80, 100)) == 1.0
    assert ramp("cosine", 0.5, (25, 100)) == pytest.approx(0.5)
    assert ramp("cosine", 0.5, (10, 100)) < 0.2
    assert ramp("linear_warmup", 0.5, None) == 1.0


def test_schedule_lets_a_loss_gain_importance():
    b = make_balancer("static", ["main", "aux"], {"main": 0.6, "aux": 0.4},
                      {"schedule": "linear_warmup", "schedule_warmup": 0.5})
    b.set_progress(0, 100)
    assert b.current_weights() == {"main": 1.0, "aux": 0.0}
    b.set_progress(25, 100)
    w = b.current_weights()
    assert w["aux"] == pytest.approx(0.2 / 0.8) and sum(w.values()) == pytest.approx(1.0)
    b.set_progress(60, 100)
    assert b.current_weights() == pytest.approx({"main": 0.6, "aux": 0.4})
    theta = torch.zeros(2, requires_grad=True)
    b.set_progress(0, 100)
    b.backward({"main": theta[0], "aux": theta[1]}, [theta])
    assert torch.allclose(theta.grad, torch.tensor([1.0, 0.0]))


def test_schedule_of_a_named_loss_and_gradient_level_method():
    b = make_balancer("upgrad", NAMES, PREF, {"schedule": "cosine", "schedule_losses": "c"})
    b.set_progress(0, 10)
    assert b.current_weights() == pytest.approx({"a": 0.5 / 0.8, "b": 0.3 / 0.8, "c": 0.0})
    # with no weight outside the scheduled losses the schedule has nothing to move
    b = make_balancer("static", ["a", "b"], {"a": 0.0, "b": 1.0}, {"schedule": "cosine"})
    b.set_progress(0, 10)
    assert b.current_weights() == {"a": 0.0, "b": 1.0}


# --- conflict diagnostics ---------------------------------------------------------------------
def manual_stats(model: MultiTask):
    losses, _ = model.losses_and_features()
    grads = [torch.cat([g.flatten() for g in torch.autograd.grad(losses[n], model.shared(),
                                                                 retain_graph=True)])
             for n in NAMES]
    cos = float(grads[0] @ grads[1] / (grads[0].norm() * grads[1].norm()))
    return cos, float(grads[0].norm() / grads[1].norm())


@pytest.mark.parametrize("name", ["static", "upgrad", "rgb", "graddrop", "dbmtl", "gradnorm",
                                  "mgda_ub"])
def test_conflict_stats_values_and_cost(name, monkeypatch):
    model = MultiTask()
    cos, ratio = manual_stats(model)
    calls = []
    original = jacobian_module.TaskJacobian.compute.__func__

    def counting(cls, *args, **kwargs):
        calls.append(args[1])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(jacobian_module.TaskJacobian, "compute", classmethod(counting))
    balancer = make_balancer(name, NAMES, PREF)
    balancer.attach(model, model.trunk)
    losses, _ = model.losses_and_features()
    stats = balancer.backward(losses, model.shared(), model.task_params(), conflict_stats=True)
    json.dumps(stats)
    assert stats["cosine"]["a|b"] == pytest.approx(cos, abs=1e-5)
    assert stats["norm_ratio"]["a|b"] == pytest.approx(ratio, rel=1e-5)
    assert stats["free"] == balancer.conflict_stats_free
    full_jacobians = [c for c in calls if len(c) == len(model.shared())]
    assert len(full_jacobians) == 1  # free: the method's own; else: the one extra pass
    assert all(p.grad is not None for p in model.parameters())
    losses, _ = model.losses_and_features()
    calls.clear()
    assert balancer.backward(losses, model.shared(), model.task_params()) is None
    assert len([c for c in calls if len(c) == len(model.shared())]) == (
        1 if balancer.conflict_stats_free else 0)


def test_conflict_stats_before_backward_and_after():
    model = MultiTask()
    cos, _ = manual_stats(model)
    balancer = make_balancer("static", NAMES, PREF)
    losses, _ = model.losses_and_features()
    assert balancer.conflict_stats(losses, model.shared())["cosine"]["a|b"] == pytest.approx(
        cos, abs=1e-5)
    balancer.backward(losses, model.shared(), model.task_params())
    with pytest.raises(RuntimeError, match="conflict_stats=True"):
        balancer.conflict_stats(losses, model.shared())


def test_conflict_stats_free_flags():
    assert make_balancer("upgrad", NAMES).conflict_stats_free
    assert not make_balancer("static", NAMES).conflict_stats_free
    assert not make_balancer("mgda_ub", NAMES).conflict_stats_free
    assert make_balancer("gradnorm", NAMES, settings={"norm_on": "all"}).conflict_stats_free


@pytest.mark.skipif(find_spec("quadprog") is None, reason="compares with torchjd's quadprog projector")
def test_nnls_projector_matches_quadprog():
    from torchjd.linalg import QuadprogProjector

    from paretolab.balancers.projector import NNLSProjector

    g = torch.Generator().manual_seed(0)
    J = torch.randn(4, 9, generator=g, dtype=torch.float64)
    G = J @ J.T
    U = torch.eye(4, dtype=torch.float64)
    assert torch.allclose(NNLSProjector()(U, G), QuadprogProjector()(U, G), atol=1e-6)


# --- user balancers by reference ----------------------------------------------------------------
USER_BALANCER = '''
import torch
from paretolab.balancers import Balancer, Setting


class HalfSum(Balancer):
    """A test method: the preference-weighted sum times a factor."""

    name = "test_user_half_sum"
    settings = {"factor": Setting(0.5, low=0.1, high=1.0, help="scale of the sum")}
    preference_meaning = "weights of the sum"
    source = "a test"

    def fill_grads(self, losses, shared_params, task_params):
        values = self.stack(losses)
        (self.options["factor"] * (self.preference_tensor(values) * values).sum()).backward()
        return None


NOT_A_BALANCER = 3
'''


def test_a_user_balancer_by_file_reference(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.py").write_text(USER_BALANCER)
    cls = get_balancer_class("sub/mine.py:HalfSum", base_dir=tmp_path)
    assert issubclass(cls, Balancer) and "schedule" in cls.settings
    theta = torch.ones(2, requires_grad=True)
    balancer = make_balancer("sub/mine.py:HalfSum", ["a", "b"], {"a": 0.25, "b": 0.75},
                             {"factor": 1.0}, base_dir=tmp_path)
    balancer.backward({"a": 2 * theta[0], "b": theta[1]}, [theta])
    assert torch.allclose(theta.grad, torch.tensor([0.5, 0.75]))
    config = json.loads(json.dumps(balancer.to_config()))
    assert config["method"] == f"{(tmp_path / 'sub' / 'mine.py').resolve()}:HalfSum"
    assert Balancer.from_config(config).to_config() == config  # from any directory


def test_a_user_balancer_by_module_reference(tmp_path, monkeypatch):
    (tmp_path / "userpkg_for_balancers").mkdir()
    (tmp_path / "userpkg_for_balancers" / "__init__.py").write_text("")
    (tmp_path / "userpkg_for_balancers" / "methods.py").write_text(USER_BALANCER)
    monkeypatch.syspath_prepend(str(tmp_path))
    ref = "userpkg_for_balancers.methods:HalfSum"
    balancer = make_balancer(ref, ["a", "b"])
    assert balancer.to_config()["method"] == ref
    assert type(Balancer.from_config(balancer.to_config())) is type(balancer)


def test_bad_balancer_references_say_what_is_wrong(tmp_path):
    from paretolab.balancers import BalancerRefError

    (tmp_path / "mine.py").write_text(USER_BALANCER)
    (tmp_path / "broken.py").write_text("import math\n\nx = 1\ny = math.nope\n")
    (tmp_path / "syntax.py").write_text("def f(:\n    pass\n")

    def error(ref: str) -> str:
        with pytest.raises(BalancerRefError) as info:
            get_balancer_class(ref, base_dir=tmp_path)
        assert isinstance(info.value, KeyError)  # callers that catch unknown names still do
        return str(info.value)

    assert "not a Balancer subclass" in error("mine.py:NOT_A_BALANCER")
    assert "not a Balancer subclass" in error("mine.py:torch")
    assert "has no attribute 'Nope'" in error("mine.py:Nope")
    assert "does not exist" in error("missing.py:X")
    message = error("broken.py:X")
    assert f"{(tmp_path / 'broken.py').resolve()}:4" in message and "nope" in message
    assert f"{(tmp_path / 'syntax.py').resolve()}:1" in error("syntax.py:X")
    assert "cannot import module 'no_such_pkg_xyz.mod'" in error("no_such_pkg_xyz.mod:X")
    assert "does not implement fill_grads" in error("paretolab.balancers.base:Balancer")


def test_the_study_search_space_takes_a_reference(tmp_path):
    from paretolab.errors import SpecError
    from paretolab.search_space import balancer_space
    from paretolab.spec import BalancerChoice

    (tmp_path / "mine.py").write_text(USER_BALANCER)
    space = balancer_space(BalancerChoice(method="mine.py:HalfSum", settings={"factor": [0.2, 0.9]}),
                           base_dir=tmp_path)
    assert space["factor"].low == 0.2 and space["schedule"] == "constant"
    with pytest.raises(SpecError, match="not a Balancer subclass") as info:
        balancer_space(BalancerChoice(method="mine.py:NOT_A_BALANCER"), base_dir=tmp_path)
    assert "fix:" in str(info.value)


@pytest.mark.slow
def test_a_study_file_names_a_user_balancer_by_file(tmp_path, monkeypatch):
    """End to end: `method: mine.py:HalfSum` (relative to the study file) with a searched
    setting runs a tiny study whose trials used the user's class."""
    import textwrap

    import optuna
    from typer.testing import CliRunner

    from paretolab.cli import app
    from paretolab.records import trial_attrs

    study_dir = tmp_path / "study"
    study_dir.mkdir()
    (study_dir / "mine.py").write_text(USER_BALANCER)
    (study_dir / "study.yaml").write_text(textwrap.dedent("""\
        name: userbal
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        search:
          balancer: [{method: "mine.py:HalfSum", factor: [0.1, 1.0]}]
        budget: {trials: 3, steps: 5, eval_every: 5}
        sampler: random
    """))
    monkeypatch.chdir(study_dir)  # the default storage, reports/, goes under the study folder
    result = CliRunner().invoke(app, ["run", str(study_dir / "study.yaml"), "--no-progress"])
    assert result.exit_code == 0, result.output
    storage = f"sqlite:///{study_dir / 'reports' / 'userbal' / 'study.db'}"
    study = optuna.load_study(study_name="userbal", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    for t in study.trials:
        config = trial_attrs(t)["config"]["balancer"]
        assert config["method"] == "mine.py:HalfSum"
        assert 0.1 <= config["settings"]["factor"] <= 1.0


def readme_blocks(section: str) -> list[tuple[str, str]]:
    """(language, code) of the fenced blocks of one README section."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", body, flags=re.S)


def test_the_readme_user_balancer_example_runs(tmp_path, monkeypatch, capsys):
    """The README's 'Your own balancer' section, word for word: the module, the study file's
    balancer list and the direct use."""
    import yaml

    from paretolab.search_space import balancer_space
    from paretolab.spec import BalancerChoice

    blocks = readme_blocks("Your own balancer")
    module, study, usage = ([code for lang, code in blocks if lang == want][i]
                            for want, i in (("python", 0), ("yaml", 0), ("python", 1)))
    assert module.startswith("# my_balancers.py")
    (tmp_path / "my_balancers.py").write_text(module)
    monkeypatch.chdir(tmp_path)
    exec(compile(usage, "README usage", "exec"), {})
    assert "tensor" in capsys.readouterr().out
    for choice in yaml.safe_load(study)["search"]["balancer"]:
        balancer_space(BalancerChoice.model_validate(choice), base_dir=tmp_path)
    # the example class follows the contract: it trains, round-trips and keeps its state
    cls = get_balancer_class("my_balancers.py:NormalizedSum", base_dir=tmp_path)
    model = MultiTask()
    balancer = cls(NAMES, PREF, decay=0.5)
    run_step(balancer, model)
    rebuilt = Balancer.from_config(json.loads(json.dumps(balancer.to_config())))
    rebuilt.load_state_dict(balancer.state_dict())
    assert torch.allclose(run_step(rebuilt, model, 1), run_step(balancer, model, 1))
