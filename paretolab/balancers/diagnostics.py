"""Gradient-conflict statistics from the Gramian of the task gradients.

Everything here derives from ``G = J J^T`` (inner products of the task gradients), which the
Gramian-based balancers compute anyway, so recording it is free for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def summarize(names: Sequence[str], gramian: torch.Tensor, free: bool) -> dict[str, Any]:
    """Pairwise statistics of the task gradients, JSON-serialisable for trial attributes.

    Returns ``{"cosine": {"a|b": cos}, "norm_ratio": {"a|b": |g_a| / |g_b|},
    "norm": {"a": |g_a|}, "cosine_min": ..., "cosine_mean": ..., "conflicting_pairs": n,
    "free": bool}``; pairs follow the order of ``names`` (``a`` before ``b``). A cosine or ratio
    involving a zero gradient is ``None`` (so the dict stays strict JSON).
    """
    g = gramian.detach().double().cpu()
    norms = g.diagonal().clamp_min(0.0).sqrt().tolist()
    cosine: dict[str, float | None] = {}
    ratio: dict[str, float | None] = {}
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            key = f"{a}|{names[j]}"
            denominator = norms[i] * norms[j]
            cosine[key] = max(-1.0, min(1.0, g[i, j].item() / denominator)) if denominator > 0 \
                else None
            ratio[key] = norms[i] / norms[j] if norms[j] > 0 else None
    values = [c for c in cosine.values() if c is not None]
    return {
        "cosine": cosine,
        "norm_ratio": ratio,
        "norm": dict(zip(names, norms)),
        "cosine_min": min(values) if values else None,
        "cosine_mean": sum(values) / len(values) if values else None,
        "conflicting_pairs": sum(c < 0 for c in values),
        "free": free,
    }
