"""RGB: rotation-based gradient balancing (ours; the paper below has no official code).

Source: "Preserving Gradient Harmony: A Rotation-Based Gradient Balancing for Multi-Task Conflict
Remedy", ICLR 2026 submission (OpenReview l0QAezg8HX, rejected, no official code), as the
submission and two public re-implementations describe it. Per step, with task gradients ``g_i``:

1. ``ĝ_i = g_i / max(|g_i|, 1e-8)``.
2. Consensus ``y = normalize(mean_i ĝ_i)``; ``d_t = y`` on the first step, then
   ``d_t = normalize(mu d_{t-1} + (1 - mu) y)`` (every step).
3. On steps with ``t mod update_interval != 0`` (or ``T = 1``) nothing is rotated (``r_i = ĝ_i``).
4. Otherwise each ``ĝ_i`` is rotated by ``alpha_i in [0, pi/2)`` towards ``d_t`` in the plane of
   ``ĝ_i`` and ``d_t``: ``r_i = cos(alpha_i) ĝ_i + sin(alpha_i) w_i`` with
   ``w_i = normalize(d_t - (ĝ_i . d_t) ĝ_i)``; tasks with ``|ĝ_i . d_t| > 0.999`` stay put.
5. ``alpha`` (warm-started from the previous step) takes ``alpha_steps`` steps of size
   ``lr_inner`` on ``conflict(alpha) + lambd * proximity(alpha)``, where ``conflict`` is the mean
   over pairs of ``(1 - r_i . r_j) / 2`` and ``proximity = sum_i |r_i - ĝ_i|^2 / (4T)``.
6. The update is ``v = sum_i p_i m_i r_i / sum_i p_i`` with ``m_i = 1`` (``magnitude=mean_unit``,
   the public code) or ``m_i = T |g_i|`` (``norm_weighted``, the other description: at a uniform
   preference ``v = sum_i |g_i| r_i``); ``p`` is the preference.

Choices where the sources are silent or disagree (ours, documented):

* Everything after the Jacobian is done in the ``(T+1)``-dimensional span of ``ĝ_1..ĝ_T, d_t``:
  the inner step costs ``O(T^2)``, not ``O(T D)``; only ``J d_{t-1}``, ``d_t`` and ``v`` touch
  ``D``-sized vectors. The result is the same as the ``D``-space formulas.
* The proximity term is stepped semi-implicitly,
  ``alpha <- (alpha - lr dconflict) / (1 + lr lambd sinc(alpha) / (2T))``, which has the same
  fixed points as plain gradient descent but is stable for any ``lambd`` (explicit steps
  oscillate once ``lr lambd / (2T) > 1``); so ``lambd -> inf`` gives ``alpha = 0``: the plain
  normalised mean.
* A safeguard: if the final ``alpha`` has more conflict than no rotation (a stale warm start,
  or a consensus ``d_t`` that lags the current gradients), the inner steps are redone from
  ``alpha = 0``, and if that still does not help ``alpha`` is halved until it does (at worst
  ``alpha = 0``). So the rotation never increases the conflict term (compared up to
  ``CONFLICT_TOL = 1e-12``, so float64 rounding does not reset the angle when the conflict
  cannot change, e.g. parallel gradients rotated alike).
* ``adaptive_steps`` (one re-implementation): ``K_t = round(1 + 9 s / (s + 1))`` inner steps, ``s``
  the standard deviation over tasks of the relative loss change since the previous step.
* Task-specific parameters get the gradient of ``sum_i p_i L_i`` (not rotated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from paretolab.balancers.base import Setting
from paretolab.balancers.gradient_level import JacobianBalancer
from paretolab.balancers.jacobian import TaskJacobian

EPS = 1e-8
ALIGNED = 0.999
ALPHA_MAX = math.pi / 2 - 1e-6
#: the safeguard compares conflicts (in [0, 1]) up to this: float64 rounding of the conflict of
#: rotated directions is ~1e-16, and counting it as "more conflict" made the angle jump to 0
#: whenever the conflict cannot change (parallel gradients rotated alike)
CONFLICT_TOL = 1e-12


@dataclass
class Rotation:
    """The result of the inner problem, in the basis ``[ĝ_1, ..., ĝ_T, d]``."""

    alpha: np.ndarray  # [T]
    directions: np.ndarray  # [T, T+1]: coefficients of the unit r_i
    conflict_before: float
    conflict_after: float


def _quad(a: np.ndarray, gram: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise inner products ``a_i . b_i`` of coefficient rows in the basis with Gram ``gram``."""
    return np.einsum("ik,kl,il->i", a, gram, b)


def _conflict(r: np.ndarray, gram: np.ndarray) -> float:
    """Mean over pairs of ``(1 - r_i . r_j) / 2`` for coefficient rows ``r`` in the basis."""
    t = r.shape[0]
    total = r.sum(0)
    pair_sum = 0.5 * (total @ gram @ total - _quad(r, gram, r).sum())
    return float((t * (t - 1) / 2 - pair_sum) / (t * (t - 1)))


def rotate(gram: np.ndarray, alpha0: np.ndarray | None, *, lambd: float, lr: float,
           steps: int) -> Rotation:
    """Solve RGB's inner problem given ``gram``, the Gram matrix of ``[ĝ_1..ĝ_T, d]``.

    ``gram`` is ``[T+1, T+1]``, with unit (or zero) ``ĝ_i`` and unit ``d``. Small dense
    arithmetic, so NumPy (float64): ``O(T^2)`` per inner step.
    """
    gram = np.asarray(gram, dtype=np.float64)
    t = gram.shape[0] - 1
    eye = np.eye(t + 1)
    basis = eye[:t]  # ĝ_i
    p = gram[:t, t]  # ĝ_i . d
    unit = gram.diagonal()[:t] > 0.5  # non-zero gradients
    towards = eye[t][None, :] - p[:, None] * basis  # d - p_i ĝ_i
    towards_norm = np.sqrt(np.clip(_quad(towards, gram, towards), 0.0, None))
    movable = unit & (np.abs(p) <= ALIGNED) & (towards_norm > EPS)
    w = towards / np.maximum(towards_norm, EPS)[:, None]

    def directions(alpha: np.ndarray) -> np.ndarray:
        r = np.cos(alpha)[:, None] * basis + np.sin(alpha)[:, None] * w
        norm = np.sqrt(np.clip(_quad(r, gram, r), 0.0, None))
        return r / np.where(norm > EPS, norm, 1.0)[:, None]

    zero = np.zeros(t)
    before = _conflict(directions(zero), gram)
    if t < 2 or not movable.any():
        return Rotation(zero, directions(zero), before, before)

    def descend(alpha: np.ndarray) -> np.ndarray:
        alpha = np.where(movable, np.clip(alpha, 0.0, ALPHA_MAX), 0.0)
        for _ in range(steps):
            r = directions(alpha)
            others = r.sum(0)[None, :] - r  # sum_{j != i} r_j
            dr = -np.sin(alpha)[:, None] * basis + np.cos(alpha)[:, None] * w
            dconflict = -_quad(dr, gram, others) / (t * (t - 1))
            sinc = np.sinc(alpha / np.pi)  # sin(alpha) / alpha, 1 at 0
            alpha = (alpha - lr * dconflict) / (1.0 + lr * lambd * sinc / (2 * t))
            alpha = np.where(movable, np.clip(alpha, 0.0, ALPHA_MAX), 0.0)
        return alpha

    alpha = descend(zero if alpha0 is None else np.asarray(alpha0, dtype=np.float64))
    after = _conflict(directions(alpha), gram)
    if after > before + CONFLICT_TOL and alpha0 is not None:  # stale warm start: start afresh
        alpha = descend(zero)
        after = _conflict(directions(alpha), gram)
    for _ in range(30):  # safeguard: never end with more conflict than no rotation
        if after <= before + CONFLICT_TOL:
            break
        alpha = alpha / 2
        after = _conflict(directions(alpha), gram)
    else:
        alpha, after = zero, before
    return Rotation(alpha, directions(alpha), before, after)


class RGBBalancer(JacobianBalancer):
    """Rotation-based gradient balancing; see the module docstring for the algorithm."""

    name = "rgb"
    source = ("Preserving Gradient Harmony: A Rotation-Based Gradient Balancing for Multi-Task "
              "Conflict Remedy (ICLR 2026 submission, OpenReview l0QAezg8HX)")
    settings = {
        "mu": Setting(0.9, low=0.5, high=0.99, help="EMA rate of the consensus direction"),
        "lambd": Setting(1.0, low=0.01, high=100.0, log=True,
                         help="weight of the proximity term (large: little rotation)"),
        "alpha_steps": Setting(3, low=1, high=10, help="inner steps on the rotation angles"),
        "lr_inner": Setting(0.2, low=0.01, high=1.0, log=True, help="inner step size"),
        "update_interval": Setting(1, low=1, high=10, help="rotate every k steps"),
        "magnitude": Setting("mean_unit", choices=("mean_unit", "norm_weighted"),
                             help="unit mean of the rotated directions, or weighted by |g_i|"),
        "adaptive_steps": Setting(False, help="inner steps from the spread of loss changes"),
    }
    preference_meaning = "weights of the rotated directions: v = sum_i w_i r_i / sum_i w_i"

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.step = 0
        self.direction: list[torch.Tensor] | None = None  # d_{t-1}, per parameter
        self.alpha: np.ndarray | None = None
        self.previous_losses: torch.Tensor | None = None
        self.last: Rotation | None = None

    def inner_steps(self, values: torch.Tensor) -> int:
        steps = self.options["alpha_steps"]
        if self.options["adaptive_steps"] and self.previous_losses is not None:
            previous = self.previous_losses.to(values)
            change = (values - previous) / previous.abs().clamp_min(EPS)
            spread = float(change.std()) if len(values) > 1 else 0.0
            steps = round(1 + 9 * spread / (spread + 1))
        return steps

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        o = self.options
        t = len(values)
        gram = jacobian.gramian.double().cpu().numpy()
        norms = np.sqrt(np.clip(gram.diagonal(), 0.0, None))
        safe = np.maximum(norms, EPS)
        gram_hat = gram / np.outer(safe, safe)
        # consensus y = normalize(mean ĝ), as coefficients on the raw rows g_i
        mean_coef = 1.0 / (t * safe)
        mean_norm = math.sqrt(max(float(mean_coef @ gram @ mean_coef), 0.0))
        y_coef = mean_coef / mean_norm if mean_norm > EPS else np.zeros(t)
        # d_t = normalize(mu d_{t-1} + (1 - mu) y) = g_coef^T J + d_coef d_{t-1}
        g_coef, d_coef, jd_prev = y_coef, 0.0, np.zeros(t)
        if self.direction is not None:
            jd_prev = jacobian.dot(self.direction).double().cpu().numpy()
            mu = o["mu"]
            u_sq = (mu**2 + 2 * mu * (1 - mu) * float(y_coef @ jd_prev)
                    + (1 - mu) ** 2 * float(y_coef @ gram @ y_coef))
            if u_sq > EPS**2:
                scale = 1.0 / math.sqrt(u_sq)
                g_coef, d_coef = (1 - mu) * scale * y_coef, mu * scale
        g_times_d = gram @ g_coef + d_coef * jd_prev  # J d_t
        d_sq = float(g_coef @ g_times_d + d_coef * (g_coef @ jd_prev + d_coef))
        # Gram of the basis [ĝ_1..ĝ_T, d_t]
        basis_gram = np.empty((t + 1, t + 1))
        basis_gram[:t, :t] = gram_hat
        basis_gram[:t, t] = basis_gram[t, :t] = g_times_d / safe
        basis_gram[t, t] = d_sq
        if t > 1 and self.step % o["update_interval"] == 0 and d_sq > 0.5:
            self.last = rotate(basis_gram, self.alpha, lambd=o["lambd"], lr=o["lr_inner"],
                               steps=self.inner_steps(values))
            self.alpha = self.last.alpha
            r = self.last.directions
        else:  # no rotation: r_i = ĝ_i (zero for a zero gradient)
            r = np.eye(t + 1)[:t] * (gram_hat.diagonal() > 0.5)[:, None]
        k = preference.double().cpu().numpy()
        k = k / k.sum()
        if o["magnitude"] == "norm_weighted":
            k = k * t * norms
        coef = k @ r  # v = sum_i coef_i ĝ_i + coef_T d_t
        # d_t = g_coef J + d_coef d_{t-1};  v = (coef / |g| + coef_T g_coef) J + coef_T d_coef d_{t-1}
        direction = jacobian.combine(torch.from_numpy(g_coef))
        update = jacobian.combine(torch.from_numpy(coef[:t] / safe + coef[t] * g_coef))
        if self.direction is not None and d_coef:
            for d, u, previous in zip(direction, update, self.direction):
                d.add_(previous, alpha=d_coef)
                u.add_(previous, alpha=float(coef[t]) * d_coef)
        # d_t is a unit vector unless every gradient cancelled out (then start afresh)
        self.direction = direction if d_sq > 0.5 else None
        self.previous_losses = values.detach().clone()
        self.step += 1
        return update

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "step": self.step,
                "direction": None if self.direction is None else [d.clone() for d in
                                                                  self.direction],
                "alpha": None if self.alpha is None else torch.from_numpy(self.alpha.copy()),
                "previous_losses": self.previous_losses}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.step = int(state.get("step", 0))
        direction = state.get("direction")
        self.direction = None if direction is None else [d.clone() for d in direction]
        alpha = state.get("alpha")
        self.alpha = None if alpha is None else torch.as_tensor(alpha).double().numpy().copy()
        self.previous_losses = state.get("previous_losses")

    def stats(self) -> dict[str, float]:
        if self.last is None:
            return {}
        return {"conflict_before": self.last.conflict_before,
                "conflict_after": self.last.conflict_after,
                "alpha_mean": float(self.last.alpha.mean())}
