"""The task Jacobian of the shared parameters, kept per parameter, and gradient writing helpers.

Gradient-level balancers need the gradient of every loss with respect to the shared parameters:
a ``[T, D]`` Jacobian. torchjd's :func:`torchjd.autojac.jac` computes it (one row per loss). We
keep it as one ``[T, *p.shape]`` block per parameter instead of concatenating it into a matrix:
the Gramian ``J J^T`` (all that most aggregators need) is the sum of the blocks' Gramians, and a
combination ``c^T J`` is done block by block, so the ``[T, D]`` copy is only made for the few
aggregators that need the matrix itself (GradDrop, ConFIG, Nash-MTL).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from functools import cached_property

import torch
from torchjd.autojac import jac

#: rows differentiated at once by :func:`torchjd.autojac.jac`; 1 means one plain backward pass
#: per loss, which measured faster than ``torch.vmap`` over the rows on CPU (see benchmarks/).
PARALLEL_CHUNK_SIZE: int | None = 1
#: columns of ``J`` converted to float64 at a time by :attr:`TaskJacobian.gramian64`
GRAMIAN64_CHUNK = 1 << 15


class TaskJacobian:
    """Gradients of ``T`` losses with respect to a list of parameters (blocks ``[T, *p.shape]``)."""

    def __init__(self, blocks: Sequence[torch.Tensor]):
        if not blocks:
            raise ValueError("a balancer needs at least one shared parameter")
        self.blocks = [b.reshape(b.shape[0], -1) for b in blocks]
        self.shapes = [b.shape[1:] for b in blocks]

    @classmethod
    def compute(cls, losses: Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                retain_graph: bool = False) -> TaskJacobian:
        """The Jacobian of the scalar ``losses`` with respect to ``params`` (T backward passes)."""
        params = list(params)
        if not params:
            raise ValueError("a balancer needs at least one shared parameter")
        outputs = [t.reshape(()) for t in losses]
        blocks = jac(outputs, params, retain_graph=retain_graph,
                     parallel_chunk_size=PARALLEL_CHUNK_SIZE)
        return cls(blocks)

    @property
    def num_tasks(self) -> int:
        return self.blocks[0].shape[0]

    @cached_property
    def gramian(self) -> torch.Tensor:
        """``J J^T`` (``[T, T]``): inner products of the task gradients."""
        gram = functools.reduce(operator.add, (b @ b.T for b in self.blocks))
        return 0.5 * (gram + gram.T)

    @cached_property
    def matrix(self) -> torch.Tensor:
        """The ``[T, D]`` matrix (a copy; only for aggregators that need it)."""
        return torch.cat(self.blocks, dim=1)

    @cached_property
    def gramian64(self) -> torch.Tensor:
        """``J J^T`` accumulated in float64 (for the eigen-decomposition of :meth:`coordinates`).

        In float32 the Gramian's rounding (about ``eps32 * |g_i| |g_j|``) can hide a small
        eigenvalue that is real: two nearly opposite gradients whose small eigen-direction is
        the one towards the Pareto set.
        """
        t = self.num_tasks
        gram = torch.zeros(t, t, dtype=torch.float64, device=self.blocks[0].device)
        for block in self.blocks:  # in column chunks: a float64 copy of J would cost memory and
            for chunk in block.split(GRAMIAN64_CHUNK, dim=1):  # measured 5-15x the time
                chunk = chunk.double()
                gram.addmm_(chunk, chunk.T)
        return 0.5 * (gram + gram.T)

    def coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows of ``J`` in an orthonormal basis ``P`` of their span, from the Gramian.

        Returns ``(K, back)`` (float64): ``K`` (``[T, r]``) with ``J = K P^T``, and ``back``
        (``[T, r]``) such that the ``D``-vector with coordinates ``c`` is ``P c = (back @ c) @ J``.
        With ``G = V diag(l) V^T``: ``K = V sqrt(l)``, ``back = V / sqrt(l)`` over the
        eigenvalues above ``T * eps64 * max(l)`` (rounding of the float64 decomposition; the
        Gramian is accumulated in float64 whatever the dtype of ``J``, so an eigenvalue that is
        small but real in a float32 ``J`` is kept). Aggregators that only use norms, inner
        products and linear combinations of the rows (ConFIG, Nash-MTL) give the same result on
        ``K`` as on ``J``, without the ``[T, D]`` copy.
        """
        gram = self.gramian64
        eigenvalues, vectors = torch.linalg.eigh(gram)
        tolerance = eigenvalues.max().clamp_min(0) * gram.shape[0] * torch.finfo(torch.float64).eps
        keep = eigenvalues > tolerance
        root = eigenvalues[keep].sqrt()
        return vectors[:, keep] * root, vectors[:, keep] / root

    def combine(self, coefficients: torch.Tensor) -> list[torch.Tensor]:
        """``coefficients @ J`` as one tensor per parameter (``coefficients`` has shape ``[T]``)."""
        c = coefficients.to(dtype=self.blocks[0].dtype, device=self.blocks[0].device)
        return [(c @ b).reshape(s) for b, s in zip(self.blocks, self.shapes)]

    def dot(self, vector: Sequence[torch.Tensor]) -> torch.Tensor:
        """``J v`` (``[T]``) for a vector given per parameter."""
        return functools.reduce(operator.add, (b @ v.reshape(-1) for b, v in zip(self.blocks, vector)))

    def split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """A ``[D]`` vector cut into one tensor per parameter."""
        sizes = [b.shape[1] for b in self.blocks]
        return [part.reshape(s) for part, s in zip(flat.split(sizes), self.shapes)]


def accumulate_grads(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
    """Add ``grads`` into ``params[i].grad`` like ``loss.backward()`` does.

    A parameter without a gradient takes the given tensor itself (no copy): pass tensors that
    nothing else writes to.
    """
    for p, g in zip(params, grads, strict=True):
        g = g.detach().to(dtype=p.dtype)
        if p.grad is None:
            p.grad = g
        else:
            p.grad.add_(g)


def backward_heads(loss: torch.Tensor, task_params: Sequence[torch.Tensor] | None,
                   retain_graph: bool = False) -> None:
    """Accumulate the gradient of ``loss`` into the task-specific parameters only.

    Autograd only runs the part of the graph between ``loss`` and the heads, so this is cheap.
    """
    params = [p for p in (task_params or []) if p.requires_grad]
    if params:
        torch.autograd.backward(loss, inputs=params, retain_graph=retain_graph)
