"""torchjd internals a balancer's ``state_dict`` needs (no public API for them): see
:mod:`paretolab._compat`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dwa_batches(dwa: Any) -> int:
    """How many batches DWA has summed since its last epoch step."""
    return int(dwa._n_batches)


def dwa_state(dwa: Any) -> dict[str, Any]:
    """DWA's running sums, for a balancer's ``state_dict``."""
    return {"loss_sum": dwa._loss_sum, "n_batches": dwa._n_batches,
            "previous_averages": list(dwa._previous_averages)}


def load_dwa_state(dwa: Any, state: Mapping[str, Any]) -> None:
    """Restore what :func:`dwa_state` saved (into a freshly reset DWA)."""
    dwa._loss_sum = state.get("loss_sum")
    dwa._n_batches = int(state.get("n_batches", 0))
    dwa._previous_averages = list(state.get("previous_averages", []))


def gradvac_targets(weighting: Any) -> Any:
    """GradVac's EMA of the target cosine similarities (None before its first step)."""
    return weighting._phi_t


def load_gradvac_targets(weighting: Any, phi: Any) -> None:
    """Restore GradVac's targets (into a freshly reset weighting)."""
    weighting._phi_t = phi
    weighting._state_key = (phi.shape[0], phi.dtype)


def rebuild_nash_mtl_problem(weighting: Any) -> None:
    """Rebuild Nash-MTL's cvxpy problem after its warm-start values were restored."""
    weighting._init_optim_problem()
