"""Group relative policy optimisation (GRPO; Shao et al. 2024, "DeepSeekMath: Pushing the
Limits of Mathematical Reasoning in Open Language Models", arXiv:2402.03300), one loss per reward.

Each prompt gets a group of G sampled completions. A reward's advantage for completion i is its
reward relative to the group: ``r_i - mean(r)`` (``centered``) or ``(r_i - mean(r)) / (std(r) +
eps)`` (``standardized``, the paper's). The policy loss of a reward is PPO's clipped surrogate
(Schulman et al. 2017) with that advantage on every token of the completion, averaged over a
completion's tokens and then over completions; the KL to the frozen reference policy is the
paper's per-token estimator ``pi_ref/pi - log(pi_ref/pi) - 1`` (Schulman's "k3", never negative).

With ``centered`` advantages the surrogate is linear in the advantage (up to clipping), so the
weighted sum of the per-reward losses ``sum_k w_k L_k`` is the surrogate of the weighted reward
``sum_k w_k r_k`` with the group mean as baseline: what TRL's ``reward_weights`` mean, less TRL's
division by the group's standard deviation of the summed reward (one scale per group that cannot
be split between rewards). ``standardized`` gives every reward unit spread in each group, so a
weight weighs a reward's ranking of the completions whatever its scale.
"""

from __future__ import annotations

import torch

ADVANTAGES = ("centered", "standardized")


def group_advantages(rewards: torch.Tensor, group: int, mode: str = "centered", eps: float = 1e-4
                     ) -> torch.Tensor:
    """(N * G, K) rewards, groups of ``group`` consecutive rows -> (N * G, K) advantages."""
    if mode not in ADVANTAGES:
        raise ValueError(f"advantages must be one of {ADVANTAGES}, got {mode!r}")
    rows, k = rewards.shape
    grouped = rewards.reshape(rows // group, group, k)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if mode == "standardized":
        centred = centred / (grouped.std(dim=1, keepdim=True, unbiased=False) + eps)
    return centred.reshape(rows, k)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each completion's tokens (B, L) -> (B,), then over completions -> scalar."""
    per_sequence = (values * mask).sum(dim=-1) / mask.sum(dim=-1).clamp_min(1.0)
    return per_sequence.mean()


def clipped_surrogates(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                       mask: torch.Tensor, clip: float) -> torch.Tensor:
    """(K,) losses ``-min(rho A_k, clip(rho, 1 - clip, 1 + clip) A_k)``, one per reward.

    ``log_probs``, ``old_log_probs``, ``mask``: (B, L) per completion token; ``advantages``: (B, K).
    """
    ratio = torch.exp(log_probs - old_log_probs).unsqueeze(-1)  # (B, L, 1)
    adv = advantages.unsqueeze(1)  # (B, 1, K)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv)
    per_token = -surrogate.permute(2, 0, 1)  # (K, B, L)
    return torch.stack([masked_mean(loss, mask) for loss in per_token])


def kl_k3(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """Per token ``exp(d) - d - 1`` with ``d = log pi_ref - log pi``: an unbiased, never negative
    estimate of KL(pi || pi_ref) on tokens sampled from pi."""
    d = ref_log_probs - log_probs
    return torch.exp(d) - d - 1.0


def exact_kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """(B, L) per-position KL(pi || pi_ref) summed over the vocabulary (for evaluation)."""
    log_p = torch.log_softmax(logits, dim=-1)
    log_q = torch.log_softmax(ref_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)
