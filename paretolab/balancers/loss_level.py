"""Loss-level balancers: turn the loss values into one scalar and call ``backward`` on it.

One backward pass each, like the static weighted sum. They use torchjd's scalarizers
(:mod:`torchjd.scalarization`) where torchjd has the method; the weighted (non-smooth) Chebyshev
scalarization is ours. Convention: a uniform preference reproduces torchjd's scalarizer (the
paper's objective) exactly; the preference enters as stated in each ``preference_meaning``.
Task-specific parameters simply get the gradient of the same scalar.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch.nn.functional import softmax
from torchjd.scalarization import DWA, FAMO, STCH, UW, GeometricMean, Random

from paretolab._compat.torchjd_internals import dwa_batches, dwa_state, load_dwa_state
from paretolab.balancers.base import Balancer, Setting


def grad_scaled(values: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """``values`` unchanged in the forward pass, but with gradient ``factors * d values``.

    Lets a stateful torchjd scalarizer keep its bookkeeping on the true loss values (DWA's epoch
    averages, FAMO's log-loss changes) while the preference scales each loss's gradient.
    """
    detached = values.detach()
    return detached + factors * (values - detached)


class ScalarizingBalancer(Balancer):
    """Base of the loss-level methods: ``scalarize(values, preference).backward()``."""

    level = "loss"

    @abstractmethod
    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        """The scalar whose gradient is the update, from the ``[T]`` losses and preference."""

    def fill_grads(self, losses: Mapping[str, torch.Tensor], shared_params: list[torch.Tensor],
                   task_params: Sequence[torch.Tensor] | None) -> None:
        values = self.stack(losses)
        self.scalarize(values, self.preference_tensor(values)).backward()
        return None


class _IdealPoint:
    """The reference point of the Chebyshev scalarizations: zero, or the running minimum."""

    def __init__(self, kind: str):
        self.kind = kind
        self.minimum: torch.Tensor | None = None

    def update(self, values: torch.Tensor) -> torch.Tensor | None:
        if self.kind == "zero":
            return None
        current = values.detach()
        self.minimum = current.clone() if self.minimum is None else torch.minimum(
            self.minimum.to(current), current)
        return self.minimum


_IDEAL = Setting("zero", choices=("zero", "running_min"),
                 help="ideal point subtracted from the losses: 0, or each loss's running minimum")


class ChebyshevBalancer(ScalarizingBalancer):
    """Weighted Chebyshev (Tchebycheff) scalarization ``max_i w_i (L_i - z_i)``.

    Ours (torchjd ships only the smooth version). Follows Steuer & Choo, "An interactive weighted
    Tchebycheff procedure for multiple objective programming", Math. Programming 1983: every
    Pareto-optimal point (also on non-convex fronts) minimises it for some ``w``. Each step moves
    only the loss with the largest weighted excess (its subgradient).
    """

    name = "chebyshev"
    source = "Steuer & Choo, Math. Programming 26 (1983)"
    settings = {"ideal": _IDEAL}
    preference_meaning = "weights of the max: the optimum balances w_i (L_i - z_i) across losses"

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.ideal = _IdealPoint(self.options["ideal"])

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        reference = self.ideal.update(values)
        shifted = values if reference is None else values - reference
        return (preference * shifted).max()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ideal": self.ideal.minimum}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.ideal.minimum = state.get("ideal")


class STCHBalancer(ChebyshevBalancer):
    """Smooth Tchebycheff scalarization (Lin et al., ICML 2024), torchjd's ``STCH``.

    ``mu * log sum_i exp(w_i (L_i - z_i) / mu)``: tends to the weighted Chebyshev as ``mu -> 0``.
    """

    name = "stch"
    source = "torchjd"
    settings = {"mu": Setting(0.1, low=0.01, high=1.0, log=True,
                              help="smoothing; smaller is closer to the max"),
                "ideal": _IDEAL}
    preference_meaning = "weights of the smoothed max (torchjd's STCH weights)"

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        reference = self.ideal.update(values)
        return STCH(self.options["mu"], weights=preference, reference=reference)(values)


class UncertaintyBalancer(ScalarizingBalancer):
    """Uncertainty weighting (Kendall et al., CVPR 2018), torchjd's ``UW`` log-variances.

    ``sum_i T w_i (exp(-s_i) L_i / 2 + s_i / 2)``; the log-variances ``s`` are learned jointly
    with the model: :meth:`parameters` returns them for the optimizer, as in the paper.
    (The preference multiplies each task's whole term: scaling the loss alone would be undone by
    ``s_i``.)
    """

    name = "uncertainty"
    source = "torchjd"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "multiplies each task's term of the UW objective (uniform: torchjd's UW)"

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        self.uw = UW(len(self.loss_names))

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        log_var = self.uw.log_var
        if log_var.device != values.device:
            self.uw.to(values.device)
            log_var = self.uw.log_var
        terms = 0.5 * torch.exp(-log_var) * values + 0.5 * log_var
        return (len(values) * preference * terms).sum()

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.uw.log_var]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "log_var": self.uw.log_var.detach().clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("log_var") is not None:
            with torch.no_grad():
                self.uw.log_var.copy_(state["log_var"])

    def stats(self) -> dict[str, float]:
        return self.named("weight", 0.5 * torch.exp(-self.uw.log_var.detach()))


class DWABalancer(ScalarizingBalancer):
    """Dynamic Weight Average (Liu et al., "End-to-End Multi-Task Learning with Attention",
    CVPR 2019), torchjd's ``DWA``.

    Weights each loss by how slowly its average decreased over the two previous epochs (uniform
    weights for the first two). Trials train for a number of steps, not epochs, so an "epoch" is
    a window of ``epoch_steps`` backward calls; :meth:`on_epoch_end` also closes the current
    window (for training in real epochs, set ``epoch_steps: 0`` and call it at each epoch end).
    """

    name = "dwa"
    source = "torchjd"
    settings = {"temperature": Setting(2.0, low=0.5, high=10.0, log=True,
                                       help="softmax temperature; larger is more uniform"),
                "epoch_steps": Setting(50, low=5, high=500, log=True,
                                       help="steps per DWA epoch (0: only on_epoch_end calls)")}
    preference_meaning = "multiplies DWA's weight of each loss: sum_i T w_i lambda_i(t) L_i"

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        if self.options["epoch_steps"] < 0:
            raise ValueError(f"epoch_steps must be >= 0, got {self.options['epoch_steps']}")
        self.dwa = DWA(temperature=self.options["temperature"])

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        scalar = self.dwa(grad_scaled(values, len(values) * preference))
        window = self.options["epoch_steps"]
        if window and dwa_batches(self.dwa) >= window:  # the window of this backward is complete
            self.dwa.step()
        return scalar

    def on_epoch_end(self) -> None:
        if dwa_batches(self.dwa):
            self.dwa.step()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **dwa_state(self.dwa)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.dwa.reset()
        load_dwa_state(self.dwa, state)


class RLWBalancer(ScalarizingBalancer):
    """Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting", TMLR
    2022), torchjd's ``Random``: weights ``softmax(N(0, I))`` drawn every step (torch's RNG)."""

    name = "rlw"
    source = "torchjd"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = ("multiplies the random weights: sum_i T w_i lambda_i L_i, whose "
                          "expectation is the static sum_i w_i L_i")

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        return Random()(len(values) * preference * values)


class GLSBalancer(ScalarizingBalancer):
    """Geometric loss strategy (Chennupati et al., MultiNet++, CVPRW 2019), torchjd's
    ``GeometricMean``; with a preference, the weighted geometric mean ``prod_i L_i^{w_i}``."""

    name = "gls"
    source = "torchjd"
    settings: ClassVar[dict[str, Setting]] = {}
    preference_meaning = "exponents of the weighted geometric mean prod_i L_i^(w_i / sum w)"

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        self.require_positive(values, "takes logarithms of the losses")
        exponents = len(values) * preference / preference.sum()
        return GeometricMean()(values ** exponents)


def parse_per_loss(text: str, loss_names: Sequence[str], setting: str) -> dict[str, float]:
    """``"a=1.5, b=-2"`` (or one number for every loss; empty: none) -> loss name -> value."""
    text = text.strip()
    if not text:
        return {}
    try:
        return dict.fromkeys(loss_names, float(text))
    except ValueError:
        pass
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in loss_names:
            raise ValueError(f"{setting}: expected 'loss=value' pairs over {list(loss_names)} "
                             f"(or one number), got {part!r}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"{setting}: {value.strip()!r} is not a number (in {part!r})") from None
        if not math.isfinite(values[name]):
            raise ValueError(f"{setting}: {name} must be finite, got {value.strip()}")
    return values


class FAMOBalancer(ScalarizingBalancer):
    """FAMO (Liu et al., "Fast Adaptive Multitask Optimization", NeurIPS 2023), torchjd's ``FAMO``.

    Decreases all losses at about the same log rate with one backward pass. Its task logits are
    learned by FAMO's own Adam (not the model optimizer: :meth:`parameters` is empty). The paper
    updates them from the losses recomputed on the same batch after the model step; the trainer
    does no second forward pass, so, as LibMTL does, each backward first updates them from the
    change between the previous batch's losses and this batch's (one batch apart).
    FAMO takes ``log(L_i - b_i)``: ``min_losses`` gives the known lower bounds ``b`` (the paper
    subtracts them on its toy, where the losses are negative); each loss must stay above its own.
    """

    name = "famo"
    source = "torchjd"
    settings = {"lr": Setting(0.025, low=1e-3, high=0.1, log=True,
                              help="learning rate of FAMO's task logits"),
                "weight_decay": Setting(1e-3, low=1e-5, high=1e-2, log=True,
                                        help="weight decay of the task logits"),
                "min_losses": Setting("", help="known lower bound of each loss, 'loss=value' "
                                      "pairs (or one number for all); empty: 0")}
    preference_meaning = ("multiplies FAMO's weight of each loss in the update (T w_i); FAMO's "
                          "logits still aim at equal log-loss decrease, so it partly corrects it")

    def __init__(self, loss_names: Sequence[str], weights: Mapping[str, float] | None = None,
                 **settings: Any):
        super().__init__(loss_names, weights, **settings)
        bounds = parse_per_loss(self.options["min_losses"], self.loss_names, "min_losses")
        self.min_losses = torch.tensor([bounds.get(n, 0.0) for n in self.loss_names])
        self.famo = FAMO(len(self.loss_names), min_losses=self.min_losses.clone(),
                         lr=self.options["lr"], weight_decay=self.options["weight_decay"])

    def scalarize(self, values: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        if self.famo._w.device != values.device:
            self.famo.to(values.device)
        above = values.detach() - self.famo.min_losses.to(values)
        if not bool((above > 0).all()):
            bad = [n for n, v in zip(self.loss_names, above.tolist()) if not v > 0]
            raise ValueError(f"balancer 'famo' takes logarithms of the losses minus their lower "
                             f"bounds (min_losses), so the losses must be > min_losses (> 0 unless "
                             f"set); not above: {bad}")
        if self.famo._prev_losses is not None:
            self.famo.update(values.detach())
        return self.famo(grad_scaled(values, len(values) * preference))

    def state_dict(self) -> dict[str, Any]:
        optimizer = self.famo._optimizer
        return {**super().state_dict(), "logits": self.famo._w.detach().clone(),
                "prev_losses": self.famo._prev_losses,
                "optimizer": None if optimizer is None else optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.famo.reset()
        with torch.no_grad():
            self.famo._w.copy_(state["logits"])
        self.famo._prev_losses = state.get("prev_losses")
        if state.get("optimizer") is not None:
            self.famo._optimizer = torch.optim.Adam([self.famo._w], lr=self.famo.lr,
                                                    weight_decay=self.famo.weight_decay)
            self.famo._optimizer.load_state_dict(state["optimizer"])

    def stats(self) -> dict[str, float]:
        return self.named("weight", softmax(self.famo._w.detach(), dim=0))
