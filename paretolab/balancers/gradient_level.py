"""Gradient-level balancers: combine the per-loss gradients of the shared parameters.

:class:`JacobianBalancer` computes the task Jacobian ``J`` (``[T, D]``, one row per loss, T
backward passes via :func:`torchjd.autojac.jac`) and writes one combined vector into the shared
parameters' ``.grad``; task-specific parameters get the gradient of the preference-weighted sum of
the losses. The torchjd aggregators below are used as torchjd ships them; how the preference
vector ``w`` enters each one is stated per class (``preference_meaning``).

Scale conventions (what the update is when all task gradients equal ``g`` and ``w`` is uniform),
each as in its paper: ``mean`` methods give ``g`` (UPGrad, DualProj, IMTL-G, MGDA; CAGrad gives
``(1 + c) g``, its ball being centred on the mean), ``sum`` methods give ``T g`` (PCGrad, GradDrop,
GradVac, ConFIG); Aligned-MTL rescales to the smallest singular value of ``J``. Row scaling by
``T w_i`` (used where a method has no preference of its own) makes a uniform preference reproduce
the published method exactly.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchjd.aggregation import (
    AlignedMTLWeighting,
    ConFIG,
    DualProjWeighting,
    GradDrop,
    GradVacWeighting,
    MGDAWeighting,
    PCGradWeighting,
    UPGradWeighting,
    Weighting,
)

from paretolab.balancers.base import Balancer, Setting
from paretolab.balancers.jacobian import TaskJacobian, accumulate_grads, backward_heads
from paretolab.balancers.projector import NNLSProjector

#: how to install the optional solvers (cvxpy, clarabel, ecos) of CAGrad and Nash-MTL
SOLVERS_HINT = "pip install 'paretolab[solvers]'  (cvxpy with the clarabel and ecos solvers)"


class JacobianBalancer(Balancer):
    """Base of the methods that combine the task Jacobian of the shared parameters."""

    level = "gradient"

    @property
    def conflict_stats_free(self) -> bool:
        return True

    @classmethod
    def conflict_stats_cost(cls) -> str:
        return "free"

    def fill_grads(self, losses: Mapping[str, torch.Tensor], shared_params: list[torch.Tensor],
                   task_params: Sequence[torch.Tensor] | None) -> TaskJacobian:
        tensors = self._loss_tensors(losses)
        heads = [p for p in task_params or [] if p.requires_grad]
        jacobian = TaskJacobian.compute(tensors, shared_params, retain_graph=bool(heads))
        values = torch.stack([t.detach().reshape(()) for t in tensors])
        preference = self.preference_tensor(values)
        with torch.no_grad():
            update = self.shared_update(jacobian, values, preference)
        accumulate_grads(shared_params, update)
        if heads:
            backward_heads(self.head_loss(tensors, preference), heads)
        return jacobian

    @abstractmethod
    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        """The update of the shared parameters, one tensor per parameter."""

    def head_loss(self, tensors: Sequence[torch.Tensor], preference: torch.Tensor
                  ) -> torch.Tensor:
        """The loss whose gradient the task-specific parameters get: ``sum_i w_i L_i``."""
        return (preference * torch.stack([t.reshape(()) for t in tensors])).sum()


class GramianBalancer(JacobianBalancer):
    """A torchjd :class:`~torchjd.aggregation.Weighting` of the Gramian of the scaled Jacobian.

    The Jacobian rows are scaled by ``row_scale(w)`` (``T w_i`` unless a subclass says otherwise),
    the weighting maps the Gramian ``C G C`` to row weights ``a``, and the update is
    ``(a * c) @ J``: exactly the torchjd aggregator applied to ``C J``, without copying ``J``.
    """

    #: leave tasks whose row scale is 0 out of the weighting (else they stay as zero rows)
    drop_zero_rows = False

    @abstractmethod
    def make_weighting(self) -> Weighting:
        """The torchjd weighting of the Gramian."""

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.weighting = self.make_weighting()
        self.last_weights: torch.Tensor | None = None

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return len(preference) * preference

    def prepare(self, preference: torch.Tensor) -> None:
        """Give the weighting this step's (scheduled) preference, when it takes one."""

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        gramian = jacobian.gramian
        preference = preference.to(gramian)
        scale = self.row_scale(preference)
        active = scale > 0 if self.drop_zero_rows else torch.ones_like(scale, dtype=torch.bool)
        weights = torch.zeros_like(scale)
        if active.any():
            c = scale[active]
            self.prepare(preference)
            sub = gramian[active][:, active] * c[:, None] * c[None, :]
            weights[active] = self.weighting(sub).to(gramian) * c
        self.last_weights = weights
        return jacobian.combine(weights)

    def stats(self) -> dict[str, float]:
        return self.named("weight", self.last_weights)


class UPGradBalancer(GramianBalancer):
    """UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024), torchjd.

    Each task gradient is projected onto the dual cone of all of them (so it conflicts with none)
    and the projections are combined with the preference: ``sum_i w_i pi(g_i)``. The projection QP
    is solved by :class:`~paretolab.balancers.projector.NNLSProjector` (same problem as torchjd's
    quadprog projector, SciPy only).
    """

    name = "upgrad"
    source = "torchjd"
    settings: dict[str, Setting] = {}
    preference_meaning = ("weights of the projected task gradients (torchjd's pref_vector): "
                          "without conflict the update is sum_i w_i g_i")

    def make_weighting(self) -> Weighting:
        return UPGradWeighting(projector=NNLSProjector())

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(preference)

    def prepare(self, preference: torch.Tensor) -> None:
        self.weighting.pref_vector = preference


class DualProjBalancer(UPGradBalancer):
    """DualProj (Lopez-Paz & Ranzato, GEM, 2017, Eq. 11), torchjd.

    The preference-weighted sum ``sum_i w_i g_i`` projected onto the dual cone of the task
    gradients (the closest vector that conflicts with no task).
    """

    name = "dualproj"
    preference_meaning = ("weights of the sum that is projected onto the dual cone "
                          "(torchjd's pref_vector): without conflict sum_i w_i g_i")

    def make_weighting(self) -> Weighting:
        return DualProjWeighting(projector=NNLSProjector())


class AlignedMTLBalancer(UPGradBalancer):
    """Aligned-MTL (Senushkin et al., "Independent Component Alignment for MTL", CVPR 2023),
    torchjd.

    The Jacobian is replaced by its closest matrix with orthogonal rows of equal norm (the
    balance transformation, scaled by the smallest / median / mean singular value); the
    preference weights the aligned rows.
    """

    name = "alignedmtl"
    settings = {"scale_mode": Setting("min", choices=("min", "median", "rmse"),
                                      help="singular value that sets the aligned gradients' norm")}
    preference_meaning = "weights of the aligned (orthogonalised) task gradients (pref_vector)"

    def make_weighting(self) -> Weighting:
        return AlignedMTLWeighting(scale_mode=self.options["scale_mode"])


class MGDABalancer(GramianBalancer):
    """MGDA (Désidéri 2012; Frank-Wolfe solver of Sener & Koltun, NeurIPS 2018), torchjd.

    The minimum-norm point of the convex hull of the task gradients. The preference enters by
    scaling the rows to ``g_i / (T w_i)`` (tasks with ``w_i = 0`` are left out): the min-norm
    direction ``d`` then satisfies ``g_i . d >= T w_i |d|^2``, i.e. every loss decreases at a
    first-order rate at least proportional to its weight. A uniform preference is plain MGDA.
    (Scaling rows by ``w_i`` instead would favour the tasks with the *smaller* weights.)
    """

    name = "mgda"
    source = "torchjd"
    settings = {
        "max_iters": Setting(100, help="Frank-Wolfe iterations of torchjd's MGDA solver"),
        "epsilon": Setting(1e-3, help="Frank-Wolfe stops when its step is below this"),
    }
    preference_meaning = ("guaranteed first-order decrease rate of each loss, proportional to "
                          "w_i (rows scaled by 1/(T w_i)); w_i = 0 drops the loss")

    drop_zero_rows = True

    def make_weighting(self) -> Weighting:
        return MGDAWeighting(epsilon=self.options["epsilon"], max_iters=self.options["max_iters"])

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        scale = torch.zeros_like(preference)
        positive = preference > 0
        scale[positive] = 1.0 / (len(preference) * preference[positive])
        return scale


class PCGradBalancer(GramianBalancer):
    """PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020), torchjd.

    Each task gradient is projected onto the normal plane of every gradient it conflicts with
    (random order); the results are summed, as in the paper.
    """

    name = "pcgrad"
    source = "torchjd"
    settings: dict[str, Setting] = {}
    preference_meaning = "each loss scaled by T*w_i before the surgery (uniform: the paper's sum)"

    def make_weighting(self) -> Weighting:
        return PCGradWeighting()


class IMTLGBalancer(GramianBalancer):
    """IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021), torchjd's weighting
    extended with a preference.

    IMTL-G picks the combination ``d = sum_i a_i g_i`` (``sum a = 1``) whose projections on the
    unit task gradients are equal. With a preference we ask for projections proportional to
    ``w_i``: ``a ~ G^+ (|g| * w)``; a uniform ``w`` gives torchjd's ``IMTLGWeighting`` exactly.
    (Scaling the rows would not do: IMTL-G's direction is invariant to it.)
    """

    name = "imtlg"
    source = "torchjd (preference extension: ours)"
    settings: dict[str, Setting] = {}
    preference_meaning = "projection of the update on each unit task gradient, proportional to w_i"

    def make_weighting(self) -> Weighting:
        return _PreferenceIMTLGWeighting()

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(preference)

    def prepare(self, preference: torch.Tensor) -> None:
        self.weighting.pref = preference


class _PreferenceIMTLGWeighting(Weighting):
    """torchjd's ``IMTLGWeighting`` with the target projections ``|g_i|`` scaled by ``w_i``."""

    def __init__(self) -> None:
        super().__init__()
        self.pref: torch.Tensor | None = None

    def forward(self, gramian: torch.Tensor, /) -> torch.Tensor:
        d = torch.sqrt(torch.diagonal(gramian).clamp_min(0.0))
        target = d if self.pref is None else d * self.pref.to(d)
        v = torch.linalg.pinv(gramian) @ target
        total = v.sum()
        return torch.zeros_like(v) if total.abs() < 1e-12 else v / total


class GradVacBalancer(GramianBalancer):
    """GradVac (Wang et al., "Gradient Vaccine", ICLR 2021), torchjd.

    Like PCGrad, but each pair's cosine is raised to an EMA target rather than to 0; the
    corrected gradients are summed (the paper's convention). Keeps the EMA targets as state.
    """

    name = "gradvac"
    source = "torchjd"
    settings = {"beta": Setting(0.5, low=1e-3, high=1.0, log=True,
                                help="EMA rate of the target cosine similarities")}
    preference_meaning = "each loss scaled by T*w_i before the correction (uniform: the paper's)"

    def make_weighting(self) -> Weighting:
        return GradVacWeighting(beta=self.options["beta"])

    def state_dict(self) -> dict[str, Any]:
        phi = self.weighting._phi_t
        return {**super().state_dict(), "phi": None if phi is None else phi.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.weighting.reset()
        if state.get("phi") is not None:
            phi = state["phi"].clone()
            self.weighting._phi_t = phi
            self.weighting._state_key = (phi.shape[0], phi.dtype)


class CAGradBalancer(GramianBalancer):
    """CAGrad (Liu et al., "Conflict-Averse Gradient Descent", NeurIPS 2021), torchjd.

    Maximises the worst task improvement within a ball of radius ``c |g_0|`` around the average
    gradient ``g_0``. Rows are scaled by ``T w_i``, so ``g_0 = sum_i w_i g_i``.
    torchjd solves the inner problem with cvxpy + Clarabel.
    """

    name = "cagrad"
    source = "torchjd"
    requires = ("cvxpy", "clarabel")
    install_hint = SOLVERS_HINT
    settings = {"c": Setting(0.5, low=0.0, high=1.0, help="radius of the ball around the mean")}
    preference_meaning = "the centre of the ball: g_0 = sum_i w_i g_i (rows scaled by T*w_i)"

    def make_weighting(self) -> Weighting:
        from torchjd.aggregation import CAGradWeighting

        return CAGradWeighting(c=self.options["c"])


class MatrixBalancer(JacobianBalancer):
    """A torchjd aggregator that needs the Jacobian matrix itself (rows scaled by ``T w_i``).

    Subclasses whose aggregator is invariant to an orthogonal change of coordinates set
    ``in_row_space``: it then runs on the ``[T, r]`` coordinates of the rows in their own span
    (:meth:`TaskJacobian.coordinates`), which is exact and avoids the ``[T, D]`` matrix.
    """

    in_row_space = False

    @abstractmethod
    def make_aggregator(self) -> Any:
        """The torchjd aggregator of the (scaled) Jacobian."""

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.aggregator = self.make_aggregator()

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return len(preference) * preference

    def prepare(self, preference: torch.Tensor) -> None:
        """Give the aggregator this step's preference, when it takes one."""

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        self.prepare(preference)
        if not self.in_row_space:
            matrix = jacobian.matrix
            scale = self.row_scale(preference).to(matrix)
            return jacobian.split(self.aggregator(matrix * scale[:, None]))
        coordinates, back = jacobian.coordinates()
        if coordinates.shape[1] == 0:  # every gradient is zero
            return jacobian.combine(torch.zeros(len(values)))
        scale = self.row_scale(preference).to(coordinates)
        aggregated = self.aggregator(coordinates * scale[:, None])
        return jacobian.combine(back @ aggregated)


class GradDropBalancer(MatrixBalancer):
    """GradDrop (Chen et al., "Just Pick a Sign", NeurIPS 2020), torchjd.

    Per coordinate, keeps only the positive or only the negative task gradients, chosen at random
    with the probability given by their sign purity; sums what is kept (the paper's convention).
    """

    name = "graddrop"
    source = "torchjd"
    settings: dict[str, Setting] = {}
    preference_meaning = "each loss scaled by T*w_i before the sign dropout (uniform: the paper's)"

    def make_aggregator(self) -> Any:
        return GradDrop()


class ConFIGBalancer(MatrixBalancer):
    """ConFIG (Liu et al., "ConFIG: Towards Conflict-free Training of PINNs", ICLR 2025), torchjd.

    The direction ``u`` whose cosines with the task gradients are proportional to the preference
    (torchjd's ``pref_vector``; uniform: equal angles), with length ``sum_i g_i . u`` as in the
    paper (a sum). Rows are not rescaled: the preference only sets the direction. Run in the
    row-space coordinates (exact; avoids torchjd's pseudo-inverse of the ``[T, D]`` matrix).
    """

    name = "config"
    source = "torchjd"
    in_row_space = True
    settings: dict[str, Setting] = {}
    preference_meaning = "cosine of the update with each task gradient, proportional to w_i"

    def make_aggregator(self) -> Any:
        return ConFIG()

    def row_scale(self, preference: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(preference)

    def prepare(self, preference: torch.Tensor) -> None:
        self.aggregator.pref_vector = preference.double()


class NashMTLBalancer(MatrixBalancer):
    """Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022), torchjd.

    The Nash bargaining solution ``G a = 1 / a``. It is invariant to rescaling any loss, so the
    preference vector has no effect on it (rows scaled by ``T w_i`` only for uniformity; a
    zero weight still removes a task). torchjd solves it with cvxpy + ECOS. Run in the row-space
    coordinates (exact: it only uses the Gramian and the norm of the update).
    """

    name = "nashmtl"
    source = "torchjd"
    in_row_space = True
    requires = ("cvxpy", "ecos")
    install_hint = SOLVERS_HINT
    settings = {
        "update_weights_every": Setting(1, low=1, high=10,
                                        help="solve the bargaining problem every k steps"),
        "max_norm": Setting(1.0, low=0.1, high=10.0, log=True,
                            help="clip the update's norm to this (0: no clipping)"),
    }
    preference_meaning = "none: Nash-MTL is invariant to loss scaling (w_i = 0 removes a loss)"

    def make_aggregator(self) -> Any:
        from torchjd.aggregation import NashMTL

        return NashMTL(n_tasks=len(self.loss_names), max_norm=self.options["max_norm"],
                       update_weights_every=self.options["update_weights_every"])

    def shared_update(self, jacobian: TaskJacobian, values: torch.Tensor,
                      preference: torch.Tensor) -> list[torch.Tensor]:
        if len(values) > 1:
            return super().shared_update(jacobian, values, preference)
        # one loss: G a = 1 / a gives a = 1 / |g|, the unit gradient (torchjd's solver needs T > 1)
        norm = float(jacobian.gramian64[0, 0].clamp_min(0).sqrt())
        if norm == 0.0:
            return jacobian.combine(torch.zeros(1))
        max_norm = self.options["max_norm"]
        length = min(1.0, max_norm) if max_norm > 0 else 1.0
        return jacobian.combine(torch.tensor([length / norm]))

    def state_dict(self) -> dict[str, Any]:
        w = self.aggregator.weighting
        return {**super().state_dict(), "step": float(w.step),
                "prvs_alpha": torch.as_tensor(w.prvs_alpha).clone(),
                "normalization_factor": torch.as_tensor(w.normalization_factor).clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        w = self.aggregator.weighting
        w.reset()
        if state.get("step"):
            w.prvs_alpha = state["prvs_alpha"].numpy().copy()
            w.normalization_factor = state["normalization_factor"].numpy().copy()
            w._init_optim_problem()
            w.step = float(state["step"])
