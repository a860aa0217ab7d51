"""Choosing one point of a front: knee, achievement scalarizing function, pseudo-weights.

Pure functions on arrays. ``values`` is ``(n, m)`` in the objectives' own units, ``directions``
says ``"minimize"`` / ``"maximize"`` per column, ``violations`` is the total constraint violation
per row (0 = feasible). Every method returns a row index of ``values``.

Candidates are the feasible, non-dominated rows (constraint domination, see
:mod:`paretolab.dominance`); when no row is feasible :class:`NoFeasiblePoint` is raised. All three
methods work on the *normalised front*: each objective in minimisation form, scaled by the
candidates' range to ``[0, 1]`` (0 = best on the front, 1 = worst; an objective that is constant on
the front is 0 everywhere). So they do not depend on units or on dominated trials.

``knee``
    The point closest (Euclidean) to the ideal point ``(0, ..., 0)`` of the normalised front: the
    best balanced trade-off when every objective counts the same. On a convex front this is the
    bulge; on a linear front ``f1 + f2 = c`` it is the middle. Ties go to the lowest index.
``asf``
    Achievement scalarizing function (Wierzbicki 1980) with the preference ``w`` read as
    *importance* (larger = this objective matters more): ``max_i w_i * f̂_i`` plus a tiny
    augmentation ``1e-6 * sum_i w_i * f̂_i`` that breaks ties towards non-dominated points. It is
    pymoo's ``ASF`` evaluated with weights ``1 / w_i`` and the utopian point 0. On a linear front it
    picks the point where ``w_1 f̂_1 = w_2 f̂_2``.
``pseudo-weights``
    pymoo's ``PseudoWeights`` (Deb 2001, sec. 7.4): a point's pseudo-weight of objective ``i`` is
    ``(1 - f̂_i) / sum_j (1 - f̂_j)`` (how close it is to the best value of ``i``, as a share); the
    point whose pseudo-weights are closest (L1) to the preference is chosen.
``reference``
    Wierzbicki's reference point method (1980): the preference is a *level* per objective, in
    the objective's own units (what you would settle for: ``kl=0.05``); the candidate
    minimising ``max_i (f̂_i - ẑ_i)`` (plus the same tiny augmentation), ``ẑ`` the levels scaled
    like the front, is chosen: the point that misses the levels least (or beats them most) on
    its worst objective. Objectives without a level are left out of the max.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from paretolab.errors import UserError

METHODS = ("knee", "asf", "pseudo-weights", "reference")
_AUGMENT = 1e-6


class NoFeasiblePoint(UserError):
    """No candidate satisfies the constraints; ``closest`` is the least-violating row."""

    def __init__(self, message: str, closest: int, *, hint: str | None = None):
        self.closest = closest
        super().__init__(message, hint=hint)


def _nondominated_mask(values: np.ndarray, directions: Sequence[str],
                       violations: np.ndarray | None) -> np.ndarray:
    try:
        from paretolab.dominance import nondominated_mask
    except ImportError:  # package __init__ not there yet: the implementation module is
        from paretolab.dominance.filtering import nondominated_mask
    return np.asarray(nondominated_mask(values, list(directions), violations), dtype=bool)


def minimisation_form(values: ArrayLike, directions: Sequence[str]) -> np.ndarray:
    """``values`` with maximised columns negated (a float copy)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(directions):
        raise ValueError(f"values must be (n, {len(directions)}), got shape {arr.shape}")
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return arr * signs


def candidate_mask(values: ArrayLike, directions: Sequence[str],
                   violations: ArrayLike | None = None) -> np.ndarray:
    """Feasible, non-dominated rows. Raises :class:`NoFeasiblePoint` when no row is feasible."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        raise UserError("there is no complete trial to choose from")
    v = np.zeros(len(arr)) if violations is None else np.asarray(violations, dtype=float)
    feasible = v <= 0.0
    if not feasible.any():
        closest = int(np.argmin(v))
        raise NoFeasiblePoint(f"no trial meets the study's constraints; the closest is row {closest} "
                              f"(total violation {v[closest]:.4g})", closest)
    return _nondominated_mask(arr, directions, np.where(feasible, 0.0, v)) & feasible


def normalised_front(values: ArrayLike, directions: Sequence[str]) -> np.ndarray:
    """Minimisation form scaled to ``[0, 1]`` per objective by the rows' range (constant -> 0)."""
    points = minimisation_form(values, directions)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (points - low) / span


def preference_vector(prefer: Mapping[str, float], objectives: Sequence[str]) -> np.ndarray:
    """Importance per objective, in ``objectives`` order, summing to 1; unnamed objectives get 0.

    Unknown names, negative or non-finite numbers, or an all-zero preference are user errors.
    """
    unknown = [k for k in prefer if k not in objectives]
    if unknown:
        raise UserError(f"--prefer names unknown objective {unknown[0]!r}",
                        hint=f"valid objectives: {', '.join(objectives)}")
    w = np.array([float(prefer.get(name, 0.0)) for name in objectives])
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise UserError(f"--prefer needs non-negative numbers, at least one positive; got {dict(prefer)}")
    return w / w.sum()


def reference_levels(prefer: Mapping[str, float], objectives: Sequence[str]) -> np.ndarray:
    """Reference levels in ``objectives`` order (nan: no level); unknown names, non-finite
    numbers or no level at all are user errors."""
    unknown = [k for k in prefer if k not in objectives]
    if unknown:
        raise UserError(f"--prefer names unknown objective {unknown[0]!r}",
                        hint=f"valid objectives: {', '.join(objectives)}")
    z = np.array([float(prefer[name]) if name in prefer else np.nan for name in objectives])
    if not prefer or not np.all(np.isfinite(z[~np.isnan(z)])):
        raise UserError(f"--method reference needs a finite level per named objective; got {dict(prefer)}")
    return z


def reference(values: ArrayLike, directions: Sequence[str], levels: ArrayLike,
              violations: ArrayLike | None = None) -> int:
    """The candidate that misses the reference ``levels`` least on its worst objective."""
    arr = np.asarray(values, dtype=float)
    idx = np.flatnonzero(candidate_mask(arr, directions, violations))
    points = minimisation_form(arr[idx], directions)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    z = (minimisation_form(np.asarray(levels, dtype=float)[None, :], directions)[0] - low) / span
    gap = ((points - low) / span - z)[:, ~np.isnan(z)]
    score = gap.max(axis=1) + _AUGMENT * gap.sum(axis=1)
    return int(idx[int(np.argmin(score))])


def _choose(values: ArrayLike, directions: Sequence[str], violations: ArrayLike | None,
            score: Any) -> int:
    """Index (into ``values``) of the candidate with the smallest ``score(normalised_front)``."""
    idx = np.flatnonzero(candidate_mask(values, directions, violations))
    if len(idx) == 1:
        return int(idx[0])
    f = normalised_front(np.asarray(values, dtype=float)[idx], directions)
    s = np.asarray(score(f), dtype=float)
    return int(idx[int(np.argmin(s))])


def knee(values: ArrayLike, directions: Sequence[str], violations: ArrayLike | None = None) -> int:
    """The candidate closest to the ideal point of the normalised front (module docstring)."""
    return _choose(values, directions, violations, lambda f: np.linalg.norm(f, axis=1))


def asf(values: ArrayLike, directions: Sequence[str], preference: ArrayLike,
        violations: ArrayLike | None = None) -> int:
    """The candidate minimising the augmented ASF with importance ``preference``."""
    from pymoo.decomposition.asf import ASF

    w = np.asarray(preference, dtype=float)
    inv = 1.0 / np.maximum(w, 1e-10)

    def score(f: np.ndarray) -> np.ndarray:
        base = ASF().do(f, inv, utopian_point=np.zeros(f.shape[1]))
        return np.asarray(base, dtype=float).reshape(-1) + _AUGMENT * (f * w).sum(axis=1)

    return _choose(values, directions, violations, score)


def pseudo_weights(values: ArrayLike, directions: Sequence[str], preference: ArrayLike,
                   violations: ArrayLike | None = None) -> int:
    """The candidate whose pseudo-weights are closest to ``preference`` (pymoo PseudoWeights)."""
    with warnings.catch_warnings():  # pymoo imports scipy.spatial.ckdtree (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pymoo.mcdm.pseudo_weights import PseudoWeights

    w = np.asarray(preference, dtype=float)

    def score(f: np.ndarray) -> np.ndarray:
        m = f.shape[1]
        _, pw = PseudoWeights(w, ideal=np.zeros(m), nadir=np.ones(m)).do(f, return_pseudo_weights=True)
        pw = np.nan_to_num(np.asarray(pw, dtype=float), nan=1.0 / m)
        return np.abs(pw - w).sum(axis=1)

    return _choose(values, directions, violations, score)


def choose(method: str, values: ArrayLike, directions: Sequence[str],
           violations: ArrayLike | None = None, preference: ArrayLike | None = None) -> int:
    """Dispatch on ``method`` (one of :data:`METHODS`); asf and pseudo-weights need a preference."""
    if method == "knee":
        return knee(values, directions, violations)
    if method not in METHODS:
        raise UserError(f"unknown pick method {method!r}", hint=f"valid methods: {', '.join(METHODS)}")
    if preference is None:
        raise UserError(f"--method {method} needs --prefer, e.g. --prefer name=0.7,other=0.3"
                        + (" (levels in the objectives' units)" if method == "reference" else ""))
    if method == "reference":
        return reference(values, directions, preference, violations)
    if method == "asf":
        return asf(values, directions, preference, violations)
    return pseudo_weights(values, directions, preference, violations)


# --- hard requirements (--where) ------------------------------------------------------------
_OPS = ("<=", ">=", "<", ">")


def parse_requirement(text: str) -> tuple[str, str, float]:
    """``"error<=0.05"`` -> ``("error", "<=", 0.05)``; ops ``<= >= < >``."""
    for op in _OPS:  # two-character ops first
        if op in text:
            name, _, number = text.partition(op)
            name = name.strip()
            try:
                value = float(number.strip())
            except ValueError:
                break
            if name and np.isfinite(value):
                return name, op, value
            break
    raise UserError(f"cannot read requirement {text!r}",
                    hint="write it as 'metric<=number' (ops: <=, >=, <, >)")


def requirement_gaps(columns: Mapping[str, ArrayLike],
                     requirements: Sequence[tuple[str, str, float]]) -> np.ndarray:
    """``(n,)`` total normalised shortfall per row (0 = meets every requirement).

    A requirement's shortfall is how far the row is on the wrong side of the threshold, divided by
    that metric's range over the rows (or ``|threshold|``, or 1, when the range is 0); a strict
    op that is met with equality counts as a tiny shortfall. Missing / NaN values count as 1e9.
    """
    n = len(np.asarray(next(iter(columns.values())))) if columns else 0
    total = np.zeros(n)
    for name, op, threshold in requirements:
        x = np.asarray(columns[name], dtype=float)
        ok = np.isfinite(x)
        span = float(np.ptp(x[ok])) if ok.any() else 0.0
        scale = span if span > 0 else (abs(threshold) or 1.0)
        gap = np.where(op in ("<=", "<"), x - threshold, threshold - x)
        short = np.maximum(gap, 0.0) / scale
        if op in ("<", ">"):
            short = np.where(gap == 0.0, 1e-12, short)
        total += np.where(ok, short, 1e9)
    return total
