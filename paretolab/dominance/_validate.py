"""Input checking shared by the dominance functions: objective directions, finite values, violations.

Everything in :mod:`paretolab.dominance` works internally on a *minimisation* view of the
objectives (maximised columns negated), which is what moocore and pymoo expect.  This module
turns user input into that view once, with one clear error per kind of bad input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

Direction = Literal["minimize", "maximize"]

_SIGN = {"minimize": 1.0, "maximize": -1.0}


def direction_signs(directions: Sequence[Any] | None, n_objectives: int) -> np.ndarray:
    """Return +1.0 for each minimised and -1.0 for each maximised objective.

    ``directions`` is a sequence of ``"minimize"`` / ``"maximize"`` (case-insensitive; Optuna's
    ``StudyDirection`` members are accepted too) or ``None`` for "all minimised".  Anything else,
    or a length that does not match ``n_objectives``, raises :class:`ValueError`.
    """
    if directions is None:
        return np.ones(n_objectives)
    if isinstance(directions, str):
        raise ValueError(
            f"directions must be a sequence of 'minimize'/'maximize', one per objective, "
            f"not the single string {directions!r}"
        )
    directions = list(directions)
    if len(directions) != n_objectives:
        raise ValueError(
            f"got {len(directions)} directions for {n_objectives} objectives: {directions!r}"
        )
    signs = np.empty(n_objectives)
    for j, d in enumerate(directions):
        name = d.lower() if isinstance(d, str) else str(getattr(d, "name", d)).lower()
        if name not in _SIGN:
            raise ValueError(
                f"unknown direction {d!r} for objective {j}; use 'minimize' or 'maximize'"
            )
        signs[j] = _SIGN[name]
    return signs


def _raise_not_finite(arr: np.ndarray, what: str) -> None:
    bad = np.argwhere(~np.isfinite(arr))
    first = tuple(int(i) for i in bad[0])
    where = f"row {first[0]}, objective {first[1]}" if len(first) == 2 else f"row {first[0]}"
    raise ValueError(
        f"{what} must be finite, but {what}[{', '.join(map(str, first))}] is "
        f"{arr[first]!r} ({where}; {len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'} "
        f"in total)"
    )


def as_points(values: ArrayLike, n_objectives: int | None = None) -> np.ndarray:
    """``values`` as a 2-D float64 array (no copy when it already is one), checked finite.

    An empty 1-D input (e.g. ``[]``) is read as zero points with ``n_objectives`` columns
    (0 when unknown).  Any other non-2-D shape, a column count other than ``n_objectives``
    (when given) or a NaN/inf raises :class:`ValueError` naming the first bad row and column.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"objective values must be a numeric (n, m) array: {exc}") from None
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, n_objectives or 0)
    if arr.ndim != 2:
        raise ValueError(
            f"objective values must be a 2-D array of shape (n_points, n_objectives), "
            f"got shape {arr.shape}"
        )
    if n_objectives is not None and arr.shape[1] != n_objectives:
        raise ValueError(f"expected {n_objectives} objectives (columns), got {arr.shape[1]}")
    # np.isfinite(...).all() costs well under 1% of the filtering it protects.
    if arr.size and not np.isfinite(arr).all():
        _raise_not_finite(arr, "values")
    return arr


def minimisation_view(
    values: ArrayLike, directions: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(points, signs)``: the checked points in minimisation form and the per-column signs.

    Unlike :func:`~paretolab.dominance.to_minimization` this does not copy when every objective
    is minimised and ``values`` is already a float64 array: callers must not modify the result.
    """
    if directions is not None and not isinstance(directions, str):
        directions = list(directions)  # a generator must only be consumed once
    arr = as_points(values, None if directions is None or isinstance(directions, str) else len(directions))
    signs = direction_signs(directions, arr.shape[1])
    if (signs < 0).any():
        arr = arr * signs
    return arr, signs


def as_violations(violations: ArrayLike | None, n: int) -> np.ndarray | None:
    """Checked total constraint violations: shape ``(n,)``, finite, ``>= 0`` (0 = feasible)."""
    if violations is None:
        return None
    v = np.asarray(violations, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"violations must have shape ({n},) (one per point), got {v.shape}")
    if n and not np.isfinite(v).all():
        _raise_not_finite(v, "violations")
    if n and (v < 0).any():
        i = int(np.flatnonzero(v < 0)[0])
        raise ValueError(
            f"violations[{i}] = {v[i]!r} is negative; pass the total violation "
            f"sum(max(c, 0) for c in constraints), which is 0 for a feasible point"
        )
    return v


def as_reference(ref_point: ArrayLike, signs: np.ndarray) -> np.ndarray:
    """A reference point given in original units, checked, in minimisation form."""
    ref = np.asarray(ref_point, dtype=np.float64)
    m = len(signs)
    if ref.shape != (m,):
        raise ValueError(f"ref_point must have shape ({m},) (one value per objective), got {ref.shape}")
    if not np.isfinite(ref).all():
        raise ValueError(f"ref_point must be finite, got {ref.tolist()}")
    return ref * signs
