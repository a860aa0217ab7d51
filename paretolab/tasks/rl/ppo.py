"""PPO losses: clipped surrogate (Schulman et al. 2017) with GAE (Schulman et al. 2016), per reward component.

``Proximal Policy Optimization Algorithms`` (Schulman, Wolski, Dhariwal, Radford & Klimov,
arXiv:1707.06347, 2017) gives the clipped surrogate, the value loss and the entropy bonus;
``High-Dimensional Continuous Control Using Generalized Advantage Estimation`` (Schulman,
Moritz, Levine, Jordan & Abbeel, ICLR 2016) gives the advantage estimator. Every function works
on a vector reward: the last axis of rewards, values and advantages is the reward component, so
each component gets its own advantage (from its own value head) and its own surrogate loss.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gae(rewards: torch.Tensor, values: torch.Tensor, last_values: torch.Tensor, dones: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimates and value targets of a rollout (Schulman et al. 2016).

    ``rewards``, ``values``: (T, N, K) for T steps of N environments and K reward components;
    ``last_values``: (N, K), the values of the observations after the last step; ``dones``: (T, N),
    1 where the episode ended at that step (the next value is then not bootstrapped: a truncated
    episode's bootstrap belongs in its reward). Returns ``(advantages, returns)``, both (T, N, K),
    with ``A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}``,
    ``delta_t = r_t + gamma * (1 - done_t) * V(s_{t+1}) - V(s_t)`` and ``returns = A + V``.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_values)
    next_values = last_values
    for t in reversed(range(steps)):
        keep = (1.0 - dones[t]).unsqueeze(-1)
        delta = rewards[t] + gamma * keep * next_values - values[t]
        running = delta + gamma * lam * keep * running
        advantages[t] = running
        next_values = values[t]
    return advantages, advantages + values


def clipped_surrogate(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                      clip: float) -> torch.Tensor:
    """The negated clipped surrogate objective ``-E[min(r A, clip(r, 1-eps, 1+eps) A)]`` per component.

    ``log_probs``, ``old_log_probs``: (B,) log-probabilities of the taken actions under the current
    and the collecting policy; ``advantages``: (B, K). Returns (K,): one loss per reward component.
    """
    ratio = torch.exp(log_probs - old_log_probs).unsqueeze(-1)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages
    return -torch.minimum(unclipped, clipped).mean(dim=0)


def value_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Per component (K,): the Huber loss of the value heads (B, K) against the GAE returns (B, K).

    Huber rather than squared error keeps a large-reward component (a treasure worth 124) from
    swamping the gradient; it equals half the squared error within 1 of the target.
    """
    return F.smooth_l1_loss(values, returns, reduction="none").mean(dim=0)


def normalize(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each component's advantages (B, K) centred and scaled to unit standard deviation."""
    centred = advantages - advantages.mean(dim=0, keepdim=True)
    return centred / (centred.std(dim=0, keepdim=True, unbiased=False) + eps)
