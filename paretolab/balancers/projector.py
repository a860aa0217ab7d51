"""A dual-cone projector for torchjd's UPGrad and DualProj that needs only SciPy.

torchjd solves the projection QP of UPGrad / DualProj with its ``QuadprogProjector``, which needs
the optional packages ``qpsolvers`` and ``quadprog`` (``pip install "torchjd[quadprog_projector]"``).
torchjd takes the solver as a parameter (:class:`torchjd.linalg.DualConeProjector`), so we plug in
an exact solver of the same problem instead of re-implementing the aggregators.

The problem (Proposition 1 of Quinton & Rey, "Jacobian Descent for Multi-Objective
Optimization", 2024): for each weight vector ``u``, ``min_v v^T G v`` subject to ``v >= u``.
With ``v = u + x`` and ``G = L L^T`` this is the non-negative least-squares problem
``min_{x >= 0} ||L^T x + L^T u||``, solved exactly by SciPy's Lawson-Hanson active-set ``nnls``.
``G`` is normalised and regularised exactly like torchjd's ``QuadprogProjector`` does.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import cholesky
from scipy.optimize import nnls
from torchjd.linalg import DualConeProjector


class NNLSProjector(DualConeProjector):
    """Exact dual-cone projection weights via non-negative least squares (SciPy)."""

    def __init__(self, norm_eps: float = 1e-4, reg_eps: float = 1e-4):
        self.norm_eps = norm_eps
        self.reg_eps = reg_eps

    def __call__(self, U: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        gram = G.detach().cpu().double().numpy()
        m = gram.shape[0]
        trace = float(np.trace(gram))
        gram = gram / trace if trace >= self.norm_eps else np.zeros_like(gram)
        gram = 0.5 * (gram + gram.T) + self.reg_eps * np.eye(m)
        upper = cholesky(gram, lower=False)  # gram = upper^T upper, so A = upper
        rows = U.detach().cpu().double().numpy().reshape(-1, m)
        solved = np.empty_like(rows)
        for k, u in enumerate(rows):
            x, _ = nnls(upper, -upper @ u)
            solved[k] = u + x
        return torch.as_tensor(solved.reshape(U.shape), dtype=G.dtype, device=G.device)

    def __repr__(self) -> str:
        return f"NNLSProjector(norm_eps={self.norm_eps}, reg_eps={self.reg_eps})"
