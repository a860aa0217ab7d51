"""Non-dominated filtering and non-dominated sorting, with constraint domination.

Pareto dominance (minimisation): ``a`` dominates ``b`` when ``a <= b`` in every objective and
``a < b`` in at least one.  Two identical vectors do not dominate each other, so every copy of a
non-dominated vector is on the front (moocore's ``keep_weakly=True``).

Constraint domination (Deb 2000, "An efficient constraint handling method for genetic
algorithms", CMAME 186; used by NSGA-II, Deb et al. 2002, IEEE TEVC 6(2)): with ``v`` the total
constraint violation (0 = feasible), ``a`` constraint-dominates ``b`` when

1. ``a`` is feasible and ``b`` is not; or
2. both are infeasible and ``v(a) < v(b)``; or
3. both are feasible and ``a`` Pareto-dominates ``b``.

Deb's rule leaves two infeasible points with *equal* violation incomparable; we break that tie by
Pareto dominance (rule 2b: ``v(a) == v(b) > 0`` and ``a`` Pareto-dominates ``b``).  The relation is
the lexicographic order (feasible first, violation, Pareto), hence a strict partial order, and
both :func:`nondominated_mask` and :func:`pareto_ranks` are exact for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import moocore
import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_violations, minimisation_view

# Below this many points moocore alone is already ~0.1 ms and the pivot pre-filter cannot pay.
_PREFILTER_MIN_POINTS = 2048
_SAMPLE_SIZE = 1024
# The probe is small, so random data shows a larger non-dominated fraction there (about 35% for
# 128 uniform points in 5-D): a looser threshold.
_PROBE_SIZE = 128
_PROBE_FRONT_LIKE_FRACTION = 0.75
# Skip the pre-filter when more than this fraction of a sample is non-dominated (front-like data).
_FRONT_LIKE_FRACTION = 0.5
_MAX_PIVOTS_PER_OBJECTIVE = 2  # pivots per round, per objective
_MAX_ROUNDS = 4
_STOP_PIVOTING_AT = 2048  # few enough survivors: hand them to moocore


def _prefilter(points: np.ndarray) -> np.ndarray | None:
    """Indices of the points that survive elimination by dominating pivots, or ``None``.

    moocore's ``is_nondominated`` runs Kung, Luccio & Preparata's dimension sweep (1975, JACM
    22(4)) in O(n log n) for m <= 3 and O(n log^(m-2) n) above, whatever the data.  When most
    points are dominated -- random or noisy objective values, the usual case for trial results --
    the skyline-query trick of eliminating points against a few good "pivot" points first (as in
    Sort-Filter-Skyline, Chomicki, Godfrey, Gryz & Liang 2003, "Skyline with presorting", ICDE,
    and the block-nested-loops skyline of Borzsonyi, Kossmann & Stocker 2001, "The skyline
    operator", ICDE, which the paretoset package compiles with numba) discards most of the
    input in a handful of vectorised O(n m) passes, and moocore then only sorts the survivors.

    Each round takes a strided sample of 256..1,024 of the surviving points; its non-dominated
    points, best first by normalised objective sum, are the pivots.  A point strictly dominated
    by a pivot is dominated in the full set, and anything a removed point dominates is also
    dominated by the pivot that removed it (transitivity), so the survivors' front is exactly the
    full front.  Copies of a pivot are never removed (they are not *strictly* dominated).  Later
    rounds sample the survivors, which lie near the front, so their pivots are closer to it.
    Rounds stop when few points survive, when a round removed less than half of them, or when
    a sample looks front-like (mostly non-dominated); ``None`` means a first 128-point probe or
    the first sample did, so pivots would remove little and moocore runs alone.
    """
    n, m = points.shape
    # Cheap probe first: on front-like data (e.g. 5 objectives, all on the front) even the
    # 1,024-point sample below would cost a few percent of moocore's time on the whole input.
    if n // 32 > 4 * _PROBE_SIZE:  # smaller inputs get a small first sample anyway
        probe = points[:: n // _PROBE_SIZE]
        if moocore.is_nondominated(probe).mean() > _PROBE_FRONT_LIKE_FRACTION:
            return None
    cols = [points[:, j] for j in range(m)]  # column-wise: ~20x faster than row-wise any/all
    alive: np.ndarray | None = None
    size = n
    for _ in range(_MAX_ROUNDS):
        step = max(1, size // min(_SAMPLE_SIZE, max(size // 32, 256)))
        sample = np.column_stack([c[::step] for c in cols])
        pivots = sample[moocore.is_nondominated(sample)]
        if len(pivots) > _FRONT_LIKE_FRACTION * len(sample):
            break
        lo = sample.min(axis=0)
        span = sample.max(axis=0) - lo
        span[span <= 0] = 1.0
        pivots = pivots[np.argsort(((pivots - lo) / span).sum(axis=1), kind="stable")]
        before = size
        for p in pivots[: _MAX_PIVOTS_PER_OBJECTIVE * m]:
            # keep = not weakly dominated by p (better somewhere) ...
            keep = cols[0] < p[0]
            for j in range(1, m):
                keep |= cols[j] < p[j]
            # ... or an exact copy of p; copies need cols[0] == p[0], which is rare, so the
            # full comparison only runs on those few rows.
            same = np.flatnonzero(cols[0] == p[0])
            if len(same):
                equal = np.ones(len(same), dtype=bool)
                for j in range(1, m):
                    equal &= cols[j][same] == p[j]
                keep[same[equal]] = True
            kept = np.flatnonzero(keep)  # integer gathers are much faster than boolean ones
            alive = kept if alive is None else alive[kept]
            cols = [c[kept] for c in cols]
            size = len(kept)
            if size <= _STOP_PIVOTING_AT:
                break
        if size <= _STOP_PIVOTING_AT or size > before // 2:
            break
    return alive


def _nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the (weakly) non-dominated rows of a finite minimisation array."""
    n, m = points.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if m == 1:
        return points[:, 0] == points[:, 0].min()
    if n < _PREFILTER_MIN_POINTS:
        return moocore.is_nondominated(points, keep_weakly=True)
    alive = _prefilter(points)
    if alive is None:
        return moocore.is_nondominated(points, keep_weakly=True)
    mask = np.zeros(n, dtype=bool)
    mask[alive[moocore.is_nondominated(points[alive], keep_weakly=True)]] = True
    return mask


def nondominated_mask(
    values: ArrayLike,
    directions: Sequence[Any] | None = None,
    violations: ArrayLike | None = None,
) -> np.ndarray:
    """Which points are on the (constraint-domination) Pareto front.

    Parameters
    ----------
    values:
        ``(n, m)`` objective values in their original units.
    directions:
        ``"minimize"`` / ``"maximize"`` per objective; ``None`` means all minimised.
    violations:
        ``(n,)`` total constraint violation per point, ``>= 0`` with 0 meaning feasible
        (e.g. ``sum(max(c, 0))`` over Optuna-style constraints ``c <= 0``), or ``None`` (all
        feasible).

    Returns
    -------
    ``(n,)`` bool mask.  If any point is feasible: the points non-dominated among the feasible
    points (infeasible points are never on the front).  If none is feasible: among the points
    with the least total violation (exact ties all kept), the non-dominated ones.  This is the
    set of points no other point constraint-dominates (Deb 2000; Deb et al. 2002 NSGA-II; see
    the module docstring).  Identical objective vectors are all kept when on the front.

    Built on ``moocore.is_nondominated(..., keep_weakly=True)`` (Kung et al. 1975 dimension
    sweep), preceded for large, mostly dominated inputs by a pivot pre-filter that gives the
    same answer faster (see ``_prefilter``).  NaN/inf values raise :class:`ValueError`.
    """
    points, _ = minimisation_view(values, directions)
    n = len(points)
    v = as_violations(violations, n)
    if v is None:
        return _nondominated(points)
    feasible = v == 0.0
    if feasible.all():
        return _nondominated(points)
    candidates = np.flatnonzero(feasible) if feasible.any() else np.flatnonzero(v == v.min())
    mask = np.zeros(n, dtype=bool)
    mask[candidates[_nondominated(points[candidates])]] = True
    return mask


def _ranks(points: np.ndarray) -> np.ndarray:
    n, m = points.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if m == 1:
        return np.unique(points[:, 0], return_inverse=True)[1].reshape(-1).astype(np.int64)
    return moocore.pareto_rank(points).astype(np.int64)


def pareto_ranks(
    values: ArrayLike,
    directions: Sequence[Any] | None = None,
    violations: ArrayLike | None = None,
) -> np.ndarray:
    """Non-dominated sorting (NSGA-II's fronts, Deb et al. 2002) under constraint domination.

    Returns an ``(n,)`` int64 array; rank 0 is the front (``ranks == 0`` equals
    :func:`nondominated_mask`), rank ``r`` is the front of what remains after removing ranks
    ``< r``.  Copies of a vector share its rank.  Exactly:

    * feasible points (violation 0, or ``violations is None``) get their Pareto rank among the
      feasible points: ``0 .. K-1`` (``moocore.pareto_rank``: Jensen 2003, IEEE TEVC 7(5),
      O(n log n) for m = 2; front peeling above);
    * infeasible points are grouped by exact total violation ``v_1 < v_2 < ...``; group ``g`` is
      Pareto-ranked on its own (``0 .. F_g-1``, ``F_g`` fronts; a lone point has rank 0) and
      offset by ``K + F_1 + ... + F_(g-1)``.  So every infeasible point ranks after every
      feasible one, lower violation always ranks first, and equal violations are ordered by
      Pareto dominance -- non-dominated sorting under the constraint-domination relation of
      the module docstring.  With distinct violations this is simply ``K + (position in
      ascending violation order)``.
    """
    points, _ = minimisation_view(values, directions)
    n = len(points)
    v = as_violations(violations, n)
    if v is None or (v == 0.0).all():
        return _ranks(points)
    ranks = np.empty(n, dtype=np.int64)
    feasible = np.flatnonzero(v == 0.0)
    n_fronts = 0
    if len(feasible):
        ranks[feasible] = _ranks(points[feasible])
        n_fronts = int(ranks[feasible].max()) + 1
    infeasible = np.flatnonzero(v > 0.0)
    levels, group, counts = np.unique(v[infeasible], return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    within = np.zeros(len(infeasible), dtype=np.int64)
    fronts_per_level = np.ones(len(levels), dtype=np.int64)
    if (counts > 1).any():
        order = np.argsort(group, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)))
        for g in np.flatnonzero(counts > 1):
            members = order[starts[g] : starts[g + 1]]
            r = _ranks(points[infeasible[members]])
            within[members] = r
            fronts_per_level[g] = int(r.max()) + 1
    offsets = n_fronts + np.concatenate(([0], np.cumsum(fronts_per_level)[:-1]))
    ranks[infeasible] = offsets[group] + within
    return ranks
