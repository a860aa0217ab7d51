"""The ``rl`` task: PPO's losses by hand, a short trial end to end, seeded evaluation, the
constraint path and the true-front judge. Tests that step an environment need mo-gymnasium
(``pip install 'paretolab[rl]'``) and skip without it unless PARETOLAB_REQUIRE_SYSTEM=1."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from paretolab.errors import TaskError
from paretolab.search_space import TrialConfig
from paretolab.tasks import make_task
from paretolab.tasks.rl.front import hypervolume_ratio, matched_points
from paretolab.tasks.rl.ppo import clipped_surrogate, gae
from paretolab.trainer import train

from conftest import cli, system_missing, write

DST = "deep-sea-treasure-concave-v0"
TINY = {"env": DST, "n_envs": 2, "rollout_steps": 8, "epochs": 1, "minibatches": 2}
TREASURES = {0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 16.0, 24.0, 50.0, 74.0, 124.0}


@pytest.fixture
def gym() -> None:
    if importlib.util.find_spec("mo_gymnasium") is None:
        system_missing("mo-gymnasium is not installed (pip install 'paretolab[rl]')")


def config(params: dict, steps: int = 6, seed: int = 0, balancer: dict | None = None,
           weights: tuple[float, float] = (0.5, 0.5)) -> TrialConfig:
    return TrialConfig(
        weights={"treasure": weights[0], "time": weights[1]},
        balancer=balancer or {"method": "static", "settings": {}},
        train={"lr": 3e-3, "optimizer": "adam", "weight_decay": 0.0, "momentum": 0.9, "batch_size": 64,
               "grad_clip": 0.5, "lr_schedule": "constant", "warmup_steps": 0},
        task="rl", task_params=params, loss_groups={"treasure": {"treasure": 1.0}, "time": {"time": 1.0}},
        seed=seed, steps=steps, eval_every=3)


# --- PPO by hand ------------------------------------------------------------------------------
def test_gae_matches_a_hand_computed_rollout() -> None:
    # one environment, three steps, two reward components; the episode ends at the last step
    rewards = torch.tensor([[[1.0, 0.0]], [[0.0, -1.0]], [[2.0, -1.0]]])
    values = torch.tensor([[[0.5, 0.0]], [[0.5, -1.0]], [[1.0, -1.0]]])
    last = torch.tensor([[3.0, -2.0]])  # ignored: the episode ended
    dones = torch.tensor([[0.0], [0.0], [1.0]])
    adv, ret = gae(rewards, values, last, dones, gamma=0.9, lam=0.5)
    # t=2: delta = r - V = (1, 0); t=1: delta = r + 0.9 V2 - V1 = (0.4, -0.9), A = delta + 0.45 A2
    # t=0: delta = (1 + 0.45 - 0.5, -0.9) = (0.95, -0.9), A = delta + 0.45 A1
    expected = torch.tensor([[[1.3325, -1.305]], [[0.85, -0.9]], [[1.0, 0.0]]])
    assert torch.allclose(adv, expected)
    assert torch.allclose(ret, expected + values)


def test_gae_bootstraps_the_last_value_of_a_running_episode() -> None:
    adv, _ = gae(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), torch.tensor([[2.0]]), torch.zeros(1, 1),
                 gamma=0.5, lam=1.0)
    assert float(adv) == pytest.approx(1.0)


def test_clipped_surrogate_matches_hand_values_and_clips_the_gradient() -> None:
    old = torch.zeros(3)
    new = torch.log(torch.tensor([1.5, 0.5, 1.0])).requires_grad_()  # ratios 1.5, 0.5, 1
    adv = torch.tensor([[1.0, -1.0], [1.0, -1.0], [2.0, 2.0]])
    loss = clipped_surrogate(new, old, adv, clip=0.2)
    # component 0: min(1.5, 1.2) = 1.2, min(0.5, 0.8) = 0.5, 2 -> -(3.7 / 3)
    # component 1: min(-1.5, -1.2) = -1.5, min(-0.5, -0.8) = -0.8, 2 -> -(-0.3 / 3)
    assert torch.allclose(loss, torch.tensor([-3.7 / 3, 0.1]))
    (grad,) = torch.autograd.grad(loss[0], new)
    # the clipped term (ratio 1.5 > 1.2 with A > 0) passes no gradient; the unclipped one
    # passes -ratio * A / 3
    assert grad[0] == 0.0 and float(grad[1]) == pytest.approx(-0.5 / 3)


# --- the true-front judge ---------------------------------------------------------------------
def test_matched_points_needs_every_return_equal() -> None:
    true = np.array([[1.0, -1.0], [2.0, -3.0], [124.0, -19.0]])
    found = np.array([[1.0, -1.0], [2.0, -4.0], [124.0, -19.0], [3.0, -1.0]])
    assert matched_points(found, true).tolist() == [True, False, True]
    assert matched_points(np.empty((0, 2)), true).tolist() == [False, False, False]


def test_hypervolume_ratio_against_the_true_front() -> None:
    true = np.array([[1.0, -1.0], [2.0, -3.0], [124.0, -19.0]])
    assert hypervolume_ratio(true, true) == pytest.approx(1.0)
    # reference (0, -20): the true front covers 1*19 + 1*17 + 122*1 = 158, (1, -1) alone 19
    assert hypervolume_ratio([[1.0, -1.0]], true) == pytest.approx(19 / 158)
    assert hypervolume_ratio([[0.0, -1.0], [1.0, -25.0]], true) == 0.0  # nothing above the reference


# --- the task ---------------------------------------------------------------------------------
def test_missing_mo_gymnasium_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mo_gymnasium", None)  # import raises ImportError
    with pytest.raises(TaskError) as info:
        make_task("rl", {"env": DST})
    assert "mo-gymnasium" in str(info.value) and "paretolab[rl]" in (info.value.hint or "")


def test_task_names_losses_after_reward_components(gym) -> None:
    task = make_task("rl", {"env": DST})
    assert task.losses == ("treasure", "time")
    assert task.metrics == ("treasure", "time", "env_steps")
    rg = make_task("rl", {"env": "resource-gathering-v0"})
    assert rg.losses == ("death", "gold", "gem")
    with pytest.raises(TaskError, match="mo-gymnasium cannot make"):
        make_task("rl", {"env": "no-such-env-v0"})


@pytest.mark.slow  # a few training runs: about 2-4 s on a loaded 2-core machine
def test_a_short_trial_trains_and_records_env_steps(gym) -> None:
    result = train(config(TINY, steps=6), "cpu")
    # 2 minibatches per rollout: 3 rollouts of 2 envs x 8 steps
    assert result.metrics["env_steps"] == 48.0
    assert result.curves["step"] == [3, 6] and result.curves["env_steps"] == [32.0, 48.0]
    assert result.metrics["treasure"] in TREASURES  # a greedy episode's treasure (0: none reached)
    assert -100.0 <= result.metrics["time"] <= -1.0
    # the losses' values are the negated returns of the finished training episodes
    assert all(v <= 0 for v in result.curves["loss:treasure"])
    assert all(v >= 0 for v in result.curves["loss:time"])


def test_loss_gradients_are_ppo_and_values_are_negated_returns(gym) -> None:
    task = make_task("rl", TINY)
    torch.manual_seed(0)
    model = task.build_model()
    losses = task.compute_losses(model, {"seed": torch.tensor([3])})
    expected = -task.recent_returns()
    assert [float(losses[n].detach()) for n in task.losses] == pytest.approx(expected.tolist())
    grads = torch.autograd.grad(losses["treasure"], list(model.policy.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # each value network only learns from its own component's loss
    other = torch.autograd.grad(losses["treasure"], list(model.values[1].parameters()), allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in other)


@pytest.mark.slow  # a few training runs: about 2-4 s on a loaded 2-core machine
def test_evaluation_is_deterministic_for_a_seed(gym) -> None:
    first = train(config(TINY, steps=6, seed=7), "cpu")
    second = train(config(TINY, steps=6, seed=7), "cpu")
    assert first.curves == second.curves and first.metrics == second.metrics
    task = make_task("rl", {**TINY, "eval_episodes": 2})
    torch.manual_seed(1)
    model = task.build_model()
    assert task.evaluate(model, torch.device("cpu")) == task.evaluate(model, torch.device("cpu"))


@pytest.mark.slow  # a few training runs: about 2-4 s on a loaded 2-core machine
def test_lagrangian_holds_the_time_component(gym) -> None:
    lagrangian = {"method": "lagrangian", "settings": {"constraint": "time", "threshold": 0.5}}
    result = train(config(TINY, steps=6, balancer=lagrangian, weights=(1.0, 0.0)), "cpu")
    # every episode takes at least one step: -time <= 0.5 is violated, so its multiplier grows
    assert result.balancer_stats["dual|time"][-1] > 0


@pytest.mark.slow
def test_a_trial_over_the_cost_threshold_is_infeasible(gym, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, f"""\
        name: rl_constrained
        task: {{ref: rl, params: {{env: {DST}, n_envs: 2, rollout_steps: 8, epochs: 1, minibatches: 2}}}}
        losses: [treasure, time]
        objectives:
          - {{name: treasure, direction: maximize}}
          - {{name: time, direction: maximize}}
        constraints: ['time >= -0.5']
        budget: {{trials: 2, steps: 4}}
    """)
    cli("run", str(path), "--no-progress")
    trials = pd.read_csv(tmp_path / "reports" / "rl_constrained" / "trials.csv")
    # a greedy episode takes at least one step (time <= -1): over the threshold, so infeasible
    assert len(trials) == 2 and (trials["time"] <= -1).all()
    assert not trials["feasible"].any() and (trials["total_violation"] >= 0.5).all()


@pytest.mark.parametrize("name", ["deep_sea_treasure", "resource_gathering"])
def test_shipped_rl_studies_validate(gym, name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the storage check may create reports/ here
    study = Path(__file__).resolve().parents[1] / "studies" / f"{name}.yaml"
    output = " ".join(cli("validate", "--no-run", str(study)).split())  # exit code 0 checked
    assert output.startswith("ok ") and f"study {name}, task rl" in output
