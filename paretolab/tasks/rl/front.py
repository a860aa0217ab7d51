"""Judging a study's front against an environment's known Pareto front (maximised returns).

:func:`matched_points` says which true Pareto points some found return vector reaches (every
component equal within a tolerance); :func:`hypervolume_ratio` is the hypervolume of the found
points over that of the true front (Zitzler & Thiele 1998), computed by moocore on the negated
returns, with a reference point below the true front's worst values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def matched_points(found: ArrayLike, true_front: ArrayLike, tol: float = 1e-6) -> np.ndarray:
    """A boolean per row of ``true_front``: whether some row of ``found`` equals it within ``tol``
    in every component."""
    true = np.asarray(true_front, dtype=np.float64)
    points = np.asarray(found, dtype=np.float64).reshape(-1, true.shape[1])
    if len(points) == 0:
        return np.zeros(len(true), dtype=bool)
    close = np.abs(points[:, None, :] - true[None, :, :]) <= tol
    return np.asarray(close.all(axis=2).any(axis=0))


def reference_point(true_front: ArrayLike, margin: float = 1.0) -> np.ndarray:
    """The hypervolume reference of maximised returns: the true front's worst value of each
    component minus ``margin``."""
    return np.asarray(true_front, dtype=np.float64).min(axis=0) - margin


def hypervolume_ratio(found: ArrayLike, true_front: ArrayLike, ref: ArrayLike | None = None) -> float:
    """Hypervolume of the ``found`` return vectors over that of ``true_front`` (both maximised),
    against ``ref`` (default :func:`reference_point`); points not better than ``ref`` in every
    component add nothing. 1.0 means the found points cover the whole true front."""
    import moocore

    true = np.asarray(true_front, dtype=np.float64)
    ref = reference_point(true) if ref is None else np.asarray(ref, dtype=np.float64)
    points = np.asarray(found, dtype=np.float64).reshape(-1, true.shape[1])
    points = points[(points > ref).all(axis=1)]
    total = float(moocore.hypervolume(-true, ref=-ref))
    if len(points) == 0 or total <= 0:
        return 0.0
    return float(moocore.hypervolume(-points, ref=-ref)) / total
