"""Built-in task ``rl``: PPO (Schulman et al. 2017) on mo-gymnasium environments, a loss per reward component.

Each reward component (deep-sea-treasure: ``treasure`` and ``time``) has its own value network
and so its own GAE advantage, and the task returns one loss per component: the PPO clipped
surrogate with that component's advantage, plus its value network's loss and the entropy bonus.
The study's weights and every balancer therefore act on the reward components.

The value of each loss is the negated mean undiscounted episodic return of its component over
the most recently finished training episodes (its gradient is the PPO gradient above): what a
loss-level balancer sees is how well the policy does on that component, and ``lagrangian`` with
``constraint: time, threshold: 13`` holds ``-time <= 13``, i.e. episodes of at most 13 steps.

The task contract's batch generator never sees the model, so ``batches()`` only yields seeds and
:meth:`RLTask.compute_losses` collects the rollouts: whenever the current rollout has been used
for ``epochs`` passes of ``minibatches`` minibatches, it collects a new one of ``rollout_steps``
steps in each of ``n_envs`` environments with the current policy; each call is then one PPO
update on one minibatch (``budget.steps`` counts PPO updates). ``train.batch_size`` is not used.

Objectives: each component's mean undiscounted episodic return over ``eval_episodes`` episodes
of the greedy (argmax) policy, the environments reset with seeds ``eval_seed``, ``eval_seed + 1``,
...; the metric ``env_steps`` counts the training environment steps so far.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from paretolab.errors import TaskError
from paretolab.tasks.base import Task
from paretolab.tasks.rl.envs import ObservationEncoder, component_names, make_env
from paretolab.tasks.rl.ppo import clipped_surrogate, gae, normalize, value_loss


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, outputs))


def _actor_critic(model: nn.Module) -> ActorCritic:
    """The task's own model (the Task contract types it as any ``nn.Module``)."""
    assert isinstance(model, ActorCritic)
    return model


class ActorCritic(nn.Module):
    """A policy network (logits over the actions) and one value network per reward component."""

    def __init__(self, obs_dim: int, actions: int, components: int, hidden: int):
        super().__init__()
        self.policy = _mlp(obs_dim, hidden, actions)
        self.values = nn.ModuleList(_mlp(obs_dim, hidden, 1) for _ in range(components))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, K): every component's value estimate."""
        return torch.cat([v(obs) for v in self.values], dim=-1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.policy(obs), self.value(obs)


class RLTask(Task):
    """PPO on a mo-gymnasium environment with discrete actions (see the module docstring)."""

    def __init__(self, env: str = "deep-sea-treasure-concave-v0", components: Sequence[str] | None = None,
                 n_envs: int = 8, rollout_steps: int = 32, epochs: int = 4, minibatches: int = 4,
                 gamma: float = 0.99, gae_lambda: float = 0.95, clip: float = 0.2, vf_coef: float = 0.5,
                 ent_coef: float = 0.01, hidden: int = 64, eval_episodes: int = 1, eval_seed: int = 0,
                 max_episode_steps: int | None = None, normalize_advantages: bool = True,
                 return_window: int = 16):
        for name, value in (("n_envs", n_envs), ("rollout_steps", rollout_steps), ("epochs", epochs),
                            ("minibatches", minibatches), ("hidden", hidden),
                            ("eval_episodes", eval_episodes), ("return_window", return_window)):
            if int(value) < 1:
                raise TaskError(f"{name} must be a positive integer, got {value!r}",
                                where=f"task.params.{name}")
        bounds: tuple[tuple[str, float, float, float], ...] = (
            ("gamma", gamma, 0, 1), ("gae_lambda", gae_lambda, 0, 1), ("clip", clip, 0, math.inf))
        for name, given, low, high in bounds:
            if not low <= float(given) <= high:
                raise TaskError(f"{name} must be in [{low}, {high}], got {given!r}",
                                where=f"task.params.{name}")
        if int(n_envs) * int(rollout_steps) < int(minibatches):
            raise TaskError("n_envs * rollout_steps must be at least minibatches",
                            where="task.params.minibatches")
        self.env_id = env
        self.max_episode_steps = max_episode_steps
        probe = make_env(env, max_episode_steps)
        self.components = component_names(env, probe, components)
        self.encoder = ObservationEncoder(probe.observation_space)
        self.actions = int(probe.action_space.n)
        probe.close()
        self.losses = self.components
        self.metrics = (*self.components, "env_steps")
        self.n_envs, self.rollout_steps = int(n_envs), int(rollout_steps)
        self.epochs, self.minibatches = int(epochs), int(minibatches)
        self.gamma, self.gae_lambda, self.clip = float(gamma), float(gae_lambda), float(clip)
        self.vf_coef, self.ent_coef, self.hidden = float(vf_coef), float(ent_coef), int(hidden)
        self.eval_episodes, self.eval_seed = int(eval_episodes), int(eval_seed)
        self.normalize_advantages = bool(normalize_advantages)
        self.env_steps = 0
        self._envs: list[Any] = []
        self._obs: list[Any] = []
        self._episode = np.zeros((self.n_envs, len(self.components)))
        self._finished: deque[np.ndarray] = deque(maxlen=int(return_window))
        self._rollout: dict[str, torch.Tensor] | None = None
        self._order: list[torch.Tensor] = []
        self._sampler: torch.Generator | None = None

    # --- the contract ---------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return ActorCritic(self.encoder.dim, self.actions, len(self.components), self.hidden)

    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """The policy's parameters: every component's surrogate acts on them (each value network
        only gets its own component's gradient)."""
        return list(_actor_critic(model).policy.parameters())

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """Seeds only (the rollouts need the current policy: :meth:`compute_losses` collects them)."""
        while True:
            yield {"seed": torch.randint(0, 2**31 - 1, (1,), generator=generator)}

    def compute_losses(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One PPO update's losses on the next minibatch, collecting a new rollout when due."""
        seed = int(batch["seed"].reshape(-1)[0])
        if not self._order:
            self._collect(model, seed)
        assert self._rollout is not None
        idx = self._order.pop()
        data = {k: v[idx] for k, v in self._rollout.items()}
        logits, values = model(data["obs"])
        dist = torch.distributions.Categorical(logits=logits)
        advantages = normalize(data["adv"]) if self.normalize_advantages else data["adv"]
        surrogate = clipped_surrogate(dist.log_prob(data["act"]), data["logp"], advantages, self.clip)
        total = surrogate + self.vf_coef * value_loss(values, data["ret"]) \
            - self.ent_coef * dist.entropy().mean()
        shown = -torch.as_tensor(self.recent_returns(), dtype=total.dtype, device=total.device)
        # the gradient is PPO's; the value is the negated recent return (see the module docstring)
        losses = total - total.detach() + shown
        return {name: losses[i] for i, name in enumerate(self.components)}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Mean undiscounted return of each component under the greedy policy, and ``env_steps``."""
        returns = [self.greedy_return(model, self.eval_seed + e, device) for e in range(self.eval_episodes)]
        mean = np.mean(returns, axis=0)
        out = {name: float(mean[i]) for i, name in enumerate(self.components)}
        out["env_steps"] = float(self.env_steps)
        return out

    # --- rollouts ------------------------------------------------------------------------
    def recent_returns(self) -> np.ndarray:
        """Mean return of each component over the last finished training episodes (the running
        episodes' partial returns until one has finished)."""
        if self._finished:
            return np.mean(np.stack(self._finished), axis=0)
        return self._episode.mean(axis=0)

    def _reset_envs(self, seed: int) -> None:
        self._envs = [make_env(self.env_id, self.max_episode_steps) for _ in range(self.n_envs)]
        self._obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(self._envs)]
        for i, env in enumerate(self._envs):
            env.action_space.seed(seed + i)
        self._sampler = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def _collect(self, model: nn.Module, seed: int) -> None:
        """Run the current policy for ``rollout_steps`` steps in every environment; store the
        observations, actions, log-probabilities, GAE advantages and returns, and the order of
        the next ``epochs * minibatches`` minibatches."""
        if not self._envs:
            self._reset_envs(seed)
        device = next(model.parameters()).device
        steps, n, k = self.rollout_steps, self.n_envs, len(self.components)
        obs_buf = torch.zeros(steps, n, self.encoder.dim)
        act_buf = torch.zeros(steps, n, dtype=torch.long)
        logp_buf = torch.zeros(steps, n)
        val_buf = torch.zeros(steps, n, k)
        rew_buf = torch.zeros(steps, n, k)
        done_buf = torch.zeros(steps, n)
        for t in range(steps):
            obs = self.encoder(self._obs)
            logits, values = model(obs.to(device))
            logits, values = logits.cpu(), values.cpu()
            probs = torch.softmax(logits, dim=-1)
            actions = torch.multinomial(probs, 1, generator=self._sampler).squeeze(-1)
            obs_buf[t], act_buf[t], val_buf[t] = obs, actions, values
            logp_buf[t] = torch.log(probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1).clamp_min(1e-12))
            for i, env in enumerate(self._envs):
                next_obs, reward, terminated, truncated, _ = env.step(int(actions[i]))
                reward = np.asarray(reward, dtype=np.float64).ravel()
                self._episode[i] += reward
                rew_buf[t, i] = torch.as_tensor(reward, dtype=torch.float32)
                if terminated or truncated:
                    if truncated and not terminated:  # bootstrap the cut-off episode's tail
                        tail = _actor_critic(model).value(self.encoder([next_obs]).to(device)).cpu()[0]
                        rew_buf[t, i] += self.gamma * tail
                    done_buf[t, i] = 1.0
                    self._finished.append(self._episode[i].copy())
                    self._episode[i] = 0.0
                    next_obs, _ = env.reset()
                self._obs[i] = next_obs
        last = _actor_critic(model).value(self.encoder(self._obs).to(device)).cpu()
        self.env_steps += steps * n
        adv, ret = gae(rew_buf, val_buf, last, done_buf, self.gamma, self.gae_lambda)
        size = steps * n
        self._rollout = {
            "obs": obs_buf.reshape(size, -1).to(device), "act": act_buf.reshape(size).to(device),
            "logp": logp_buf.reshape(size).to(device), "adv": adv.reshape(size, k).to(device),
            "ret": ret.reshape(size, k).to(device)}
        chunk = size // self.minibatches
        order: list[torch.Tensor] = []
        for _ in range(self.epochs):
            perm = torch.randperm(size, generator=self._sampler)
            order += [perm[j * chunk:(j + 1) * chunk] for j in range(self.minibatches)]
        self._order = order[::-1]  # popped from the end: the first minibatch first

    @torch.no_grad()
    def greedy_return(self, model: nn.Module, seed: int, device: torch.device | None = None) -> np.ndarray:
        """The undiscounted return vector of one episode of the argmax policy (env reset with ``seed``)."""
        device = device or next(model.parameters()).device
        env = make_env(self.env_id, self.max_episode_steps)
        obs, _ = env.reset(seed=seed)
        total = np.zeros(len(self.components))
        while True:
            action = int(_actor_critic(model).policy(self.encoder([obs]).to(device)).argmax(dim=-1)[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total += np.asarray(reward, dtype=np.float64).ravel()
            if terminated or truncated:
                env.close()
                return total
