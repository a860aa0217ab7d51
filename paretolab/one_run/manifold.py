"""Pareto manifold learning (Dimitriadis, Frossard, Fleuret, ICML 2023): k anchor copies of a
model's weights, mixed by a preference on the loss simplex.

For a preference ``a`` (non-negative, summing to one over the losses) the model is
``theta(a) = sum_j c_j(a) theta_j``. With ``degree`` 1 (the paper) there is one anchor per loss
and ``c(a) = a``; with degree ``d`` the coefficients are the Bernstein polynomials of a Bezier
simplex of degree ``d`` (``c_nu(a) = d! / prod(nu_i!) * prod(a_i ** nu_i)`` over the multi-indices
``nu`` summing to ``d``), so the front may bend; the first ``n_losses`` anchors sit at the simplex's
vertices in both cases, so ``theta(e_i)`` is exactly anchor ``i``.

Any architecture works: the mixed weights are put in the model for the length of one call with
:func:`torch.func.functional_call` (everything the call does with the model, submodules and
``model.parameters()`` included, sees ``theta(a)``). Buffers (BatchNorm's running statistics) are
not mixed: the model's own are shared by every preference. Every ``theta(a)`` is a plain state
dict of the original model (:meth:`ParetoManifold.state_dict_at`).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

PREFERENCE_FLOOR = 1e-4  # the smallest share a sampled preference gives a loss


def multi_indices(n_losses: int, degree: int) -> list[tuple[int, ...]]:
    """The control points of a Bezier simplex: every ``nu`` of ``n_losses`` non-negative ints
    summing to ``degree``, the vertices (``degree * e_i``, in loss order) first."""
    if n_losses < 1 or degree < 1:
        raise ValueError(f"need n_losses >= 1 and degree >= 1, got {n_losses}, {degree}")
    vertices = [tuple(degree if j == i else 0 for j in range(n_losses)) for i in range(n_losses)]
    rest = [nu for nu in itertools.product(range(degree + 1), repeat=n_losses)
            if sum(nu) == degree and nu not in vertices]
    return vertices + sorted(rest, reverse=True)


def anchor_count(n_losses: int, degree: int) -> int:
    """How many anchors a manifold of ``degree`` over ``n_losses`` losses has: C(d + m - 1, m - 1)."""
    return math.comb(degree + n_losses - 1, n_losses - 1)


def bezier_coefficients(a: torch.Tensor, indices: Sequence[tuple[int, ...]]) -> torch.Tensor:
    """``c_nu(a)`` for every multi-index (differentiable in ``a``; sums to one on the simplex)."""
    degree = sum(indices[0])
    out = []
    for nu in indices:
        coef = math.factorial(degree) / math.prod(math.factorial(k) for k in nu)
        term = a.new_tensor(coef)
        for ai, k in zip(a, nu):
            if k:
                term = term * ai ** k
        out.append(term)
    return torch.stack(out)


def preference_grid(n_losses: int, points: int) -> list[list[float]]:
    """Preferences spread evenly over the simplex: ``points`` equally spaced ones for two
    losses; for more, the largest Das-Dennis lattice (all ``nu / h`` with ``sum(nu) = h``) of at
    most ``points`` points (at least its vertices)."""
    if n_losses == 1:
        return [[1.0]]
    if n_losses == 2:
        return [[1.0 - i / (points - 1), i / (points - 1)] for i in range(points)]
    h = 1
    while anchor_count(n_losses, h + 1) <= points:
        h += 1
    return [[k / h for k in nu] for nu in multi_indices(n_losses, h)]


def sample_preferences(n_losses: int, count: int, concentration: float,
                       rng: np.random.Generator) -> torch.Tensor:
    """``count`` preferences (rows) from a symmetric Dirichlet(``concentration``) (1: uniform on
    the simplex), drawn with ``rng``, each share floored at :data:`PREFERENCE_FLOOR` and the row
    renormalised: at small concentrations many draws underflow to exact zeros in float32 (a
    third at 0.02), and a balancer that divides by its weights (mgda) then fails."""
    rows = rng.dirichlet([float(concentration)] * n_losses, size=count)
    rows = np.maximum(np.nan_to_num(rows, nan=0.0), PREFERENCE_FLOOR)
    rows = rows / rows.sum(axis=1, keepdims=True)
    return torch.as_tensor(rows, dtype=torch.float32)


class _Within(nn.Module):
    """Holds the model as a child, so ``functional_call`` swaps its tensors while ``fn`` runs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, fn: Callable[[], Any]) -> Any:
        return fn()


class ParetoManifold:
    """Anchor copies of ``model``'s parameters and their mixtures ``theta(a)``; see the module doc.

    ``anchors``: state dicts (parameters only) to start the anchors from, vertices first; default:
    copies of the model's parameters (all anchors start at the model). In your own loop::

        manifold = ParetoManifold(model, n_losses=2)
        optimizer = torch.optim.Adam(manifold.parameters(), lr=1e-3)
        for batch in batches:
            a = manifold.sample()                                   # a preference
            losses = manifold.call(a, lambda: my_losses(model, batch))   # model runs at theta(a)
            (a[0] * losses[0] + a[1] * losses[1]).backward()
            optimizer.step(); optimizer.zero_grad()
        model_at_a = manifold.model_at([0.3, 0.7])                  # a plain copy of the model
    """

    def __init__(self, model: nn.Module, n_losses: int, *, degree: int = 1,
                 anchors: Sequence[Mapping[str, torch.Tensor]] | None = None,
                 concentration: float = 1.0, seed: int = 0):
        self.model = model
        self.n_losses = int(n_losses)
        self.degree = int(degree)
        self.indices = multi_indices(self.n_losses, self.degree)
        self.concentration = float(concentration)
        self.rng = np.random.default_rng(int(seed))
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        own = dict(model.named_parameters())
        starts = list(anchors) if anchors is not None else [own] * len(self.indices)
        if len(starts) != len(self.indices):
            raise ValueError(f"a degree-{self.degree} manifold over {self.n_losses} losses has "
                             f"{len(self.indices)} anchors, got {len(starts)} start states")
        self.anchors: list[dict[str, torch.Tensor]] = [
            {n: start[n].detach().clone().to(own[n].device).requires_grad_(True) for n in self.names}
            for start in starts]
        self._within = _Within(model)

    @property
    def k(self) -> int:
        """The number of anchors."""
        return len(self.anchors)

    def parameters(self) -> list[torch.Tensor]:
        """Every anchor's tensors (what the optimizer trains), anchor by anchor."""
        return [t for anchor in self.anchors for t in anchor.values()]

    def anchor_parameters(self, names: Sequence[str]) -> list[torch.Tensor]:
        """The anchors' tensors of the named parameters (e.g. the task's shared ones)."""
        return [anchor[n] for anchor in self.anchors for n in names]

    def _pref(self, a: Any) -> torch.Tensor:
        a = torch.as_tensor(a, dtype=torch.float32)
        values = a.tolist() if a.ndim == 1 else None
        if values is None or len(values) != self.n_losses or min(values) < 0 or abs(sum(values) - 1) > 1e-4:
            raise ValueError(f"a preference is {self.n_losses} non-negative numbers summing to 1, got {a.tolist()}")
        return a

    def coefficients(self, a: Any) -> torch.Tensor:
        """The anchors' weights ``c(a)`` at preference ``a``."""
        a = self._pref(a)
        return a.clone() if self.degree == 1 else bezier_coefficients(a, self.indices)

    def mixed(self, a: Any) -> dict[str, torch.Tensor]:
        """``theta(a)``, parameter by parameter (differentiable in the anchors)."""
        c = self.coefficients(a)
        out = {}
        for name in self.names:
            total = None
            for cj, anchor in zip(c.tolist(), self.anchors):
                if cj == 0.0:
                    continue
                term = anchor[name] * cj
                total = term if total is None else total + term
            out[name] = total if total is not None else torch.zeros_like(self.anchors[0][name])
        return out

    def call(self, a: Any, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` with the model's parameters set to ``theta(a)`` (gradients reach the anchors)."""
        params = {f"model.{n}": t for n, t in self.mixed(a).items()}
        return functional_call(self._within, params, (fn,), strict=False)

    def sample(self, count: int | None = None) -> torch.Tensor:
        """A preference (or ``count`` of them, one per row) from the Dirichlet(``concentration``)."""
        rows = sample_preferences(self.n_losses, count or 1, self.concentration, self.rng)
        return rows if count else rows[0]

    @torch.no_grad()
    def state_dict_at(self, a: Any) -> dict[str, torch.Tensor]:
        """The model's state dict with ``theta(a)`` as its parameters (its own buffers)."""
        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        for name, tensor in self.mixed(a).items():
            state[name] = tensor.detach().clone()
        return state

    def model_at(self, a: Any) -> nn.Module:
        """A plain copy of the model holding ``theta(a)``."""
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.state_dict_at(a))
        return model

    def anchor_state(self) -> dict[str, Any]:
        """What :meth:`from_state` needs to rebuild the manifold (detached, on the CPU)."""
        return {"degree": self.degree, "n_losses": self.n_losses,
                "anchors": [{n: t.detach().cpu().clone() for n, t in a.items()} for a in self.anchors],
                "buffers": {k: v.detach().cpu().clone() for k, v in self.model.named_buffers()}}

    @classmethod
    def from_state(cls, model: nn.Module, state: Mapping[str, Any]) -> ParetoManifold:
        """A manifold over ``model`` with the saved anchors (and buffers) of :meth:`anchor_state`."""
        buffers = dict(state.get("buffers") or {})
        if buffers:
            model.load_state_dict({**model.state_dict(), **buffers})
        return cls(model, int(state["n_losses"]), degree=int(state["degree"]), anchors=state["anchors"])
