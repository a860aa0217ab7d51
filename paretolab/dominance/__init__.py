"""Pareto dominance for paretolab: fronts, non-dominated sorting, archives and hypervolume.

Built on moocore (C implementations of the best-known algorithms) and pymoo-compatible
conventions; our own code covers what they lack: the constraint-domination layer (Deb 2000;
Deb et al. 2002, NSGA-II), a pivot pre-filter that makes front extraction of large, mostly
dominated inputs faster than moocore alone, an incremental archive with O(log n) two-objective
insertion, and an incremental hypervolume history.

All functions take objective values in their ORIGINAL units plus ``directions`` (one of
``"minimize"`` / ``"maximize"`` per objective, ``None`` = all minimised), and reject NaN/inf.

Modules: ``filtering`` (nondominated_mask, pareto_ranks), ``indicators`` (hypervolume and
friends), ``archive`` (ParetoArchive), ``_validate`` (input checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validate import Direction, minimisation_view
from .archive import InsertResult, ParetoArchive
from .filtering import nondominated_mask, pareto_ranks
from .indicators import (
    default_reference_point,
    hypervolume,
    hypervolume_contributions,
    hypervolume_history,
)


def to_minimization(values: ArrayLike, directions: Sequence[Any] | None = None) -> np.ndarray:
    """``values`` as a new ``(n, m)`` float64 array with maximised columns negated.

    Validates the shape (2-D; an empty 1-D input is zero points), the directions (one per
    column, ``"minimize"`` or ``"maximize"``; ``None`` = all minimise) and rejects NaN/inf with a
    :class:`ValueError` naming the first bad row and column.  Always returns a copy.
    """
    arr, signs = minimisation_view(values, directions)
    return arr if (signs < 0).any() else arr.copy()  # negation already made a new array


__all__ = [
    "Direction",
    "InsertResult",
    "ParetoArchive",
    "default_reference_point",
    "hypervolume",
    "hypervolume_contributions",
    "hypervolume_history",
    "nondominated_mask",
    "pareto_ranks",
    "to_minimization",
]
