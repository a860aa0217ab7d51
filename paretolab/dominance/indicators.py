"""Hypervolume (S-metric) of a front, per-point contributions, and hypervolume over time.

The hypervolume of a set A (minimisation) with respect to a reference point r is the Lebesgue
measure of the region dominated by A and bounded by r (Zitzler & Thiele 1998, "Multiobjective
optimization using evolutionary algorithms -- a comparative case study", PPSN V).  Points that
do not strictly dominate r add nothing.

Computation is delegated to moocore (dimension sweep of Fonseca, Paquete & Lopez-Ibanez 2006,
CEC, for 2-D; HV3D+ / HV4D+ of Guerreiro & Fonseca 2018, IEEE TEVC 22(3), for 3-D/4-D; a
recursive dimension sweep / inclusion-exclusion above).
``pymoo.indicators.hv.HV`` (pymoo 0.6.2) is itself a thin wrapper that calls
``moocore.hypervolume`` after an optional normalisation, so calling moocore directly is never
slower (``benchmarks/bench_dominance.py`` measures both: equal within noise, the wrapper's
overhead aside; the tests check they agree).

Hypervolume values are only comparable when computed with the same reference point.  The
default reference point (:func:`default_reference_point`) is derived from the data, so it moves
when the data does: fix ``ref_point`` (a study's ``ref:``) to compare studies or runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import moocore
import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_reference, as_violations, minimisation_view
from .archive import ParetoArchive, _SortedFront2D

#: Fraction of the observed range by which the default reference point lies beyond the worst value.
REFERENCE_MARGIN = 0.1
#: Absolute margin used instead when an objective's observed range is 0.
REFERENCE_MARGIN_DEGENERATE = 1.0


def _default_ref_min(points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        raise ValueError("default_reference_point needs at least one point")
    worst = points.max(axis=0)
    span = worst - points.min(axis=0)
    ref = worst + np.where(span > 0, REFERENCE_MARGIN * span, REFERENCE_MARGIN_DEGENERATE)
    # A margin lost to rounding (tiny range, huge values) would leave the worst points on the
    # reference point's boundary: move to the next representable value instead.
    return np.where(ref > worst, ref, np.nextafter(worst, np.inf))


def default_reference_point(values: ArrayLike, directions: Sequence[Any] | None = None) -> np.ndarray:
    """The reference point used when none is given, in the ORIGINAL units and directions.

    Rule, per objective: start from the worst observed value (the largest for a minimised
    objective, the smallest for a maximised one) and move it further in the worsening direction
    by ``REFERENCE_MARGIN`` (10%) of the observed range ``max - min``; when the range is 0
    (one point, or a constant objective) move it by ``REFERENCE_MARGIN_DEGENERATE`` (1.0, in
    the objective's units) instead, so the degenerate objective multiplies the hypervolume by
    exactly 1.  If the margin vanishes in floating point the next representable value is used.

    Every given point therefore strictly dominates the reference point and the extreme points of
    the front get a non-zero contribution (the usual "nadir + 10% of range" choice).  All points
    given are used (not only the front).  The result depends on the data: hypervolumes are only
    comparable across runs or studies computed with one fixed reference point.
    """
    points, signs = minimisation_view(values, directions)
    return _default_ref_min(points) * signs


def _ref_min(points: np.ndarray, signs: np.ndarray, ref_point: ArrayLike | None) -> np.ndarray:
    return _default_ref_min(points) if ref_point is None else as_reference(ref_point, signs)


def hypervolume(
    values: ArrayLike,
    directions: Sequence[Any] | None = None,
    ref_point: ArrayLike | None = None,
) -> float:
    """Hypervolume of ``values`` w.r.t. ``ref_point`` (original units; ``None``: the default).

    Dominated points and points that do not strictly dominate the reference point contribute
    0; no points give 0.0.  Computed by ``moocore.hypervolume``.  Feasibility is the caller's
    business: pass only the feasible points.
    """
    points, signs = minimisation_view(values, directions)
    if len(points) == 0:
        if ref_point is not None and points.shape[1]:
            as_reference(ref_point, signs)  # still reject a malformed reference point
        return 0.0
    ref = _ref_min(points, signs, ref_point)
    return float(moocore.hypervolume(points, ref=ref))


def hypervolume_contributions(
    values: ArrayLike,
    directions: Sequence[Any] | None = None,
    ref_point: ArrayLike | None = None,
) -> np.ndarray:
    """Exclusive hypervolume contribution of each point: ``HV(A) - HV(A without the point)``.

    ``(n,)`` floats (Emmerich, Beume & Naujoks 2005 SMS-EMOA uses these for selection): by
    ``moocore.hv_contributions`` for 2 and 3 objectives, by the limit set in the unit box for 4
    and more (:func:`_contributions_nd`), so that small contributions are not rounded to 0.
    Dominated points contribute 0 and are ignored when computing the others'; each copy of a
    duplicated point contributes 0 (removing one copy loses nothing); points not strictly
    dominating the reference point contribute 0.
    """
    points, signs = minimisation_view(values, directions)
    if len(points) == 0:
        return np.zeros(0)
    ref = _ref_min(points, signs, ref_point)
    if points.shape[1] <= 3:
        # moocore's 2-D sweep and HVC3D compute each contribution directly, at any scale
        return np.asarray(moocore.hv_contributions(points, ref=ref), dtype=np.float64)
    return _contributions_nd(points, ref)


def _contributions_nd(points: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exclusive contributions for m >= 4 by the limit set, in the unit box, at any scale.

    moocore computes these as ``HV(A) - HV(A without p)`` and sets every difference below
    ``sqrt(DBL_EPSILON)`` (about 1.5e-8, in absolute units) to 0, so a whole front of small
    objective values, or a point adding little to a large total, came back with zeros.  Here each
    contribution is ``vol(box(p, ref)) - HV({max(a, p) : a in A, a != p})`` (the limit set of
    While, Bradstreet & Barone 2012, IEEE TEVC 16(1)): the rounding error is relative to p's own
    box, not to the whole front's volume, and nothing is cut off.  The points are first mapped to
    the unit box (the ideal point to 0, the reference point to 1) so that neither tiny nor huge
    objective scales under- or overflow the products; the results are scaled back.
    """
    n, m = points.shape
    out = np.zeros(n)
    inside = (points < ref).all(axis=1)
    if not inside.any():
        return out
    ideal = points[inside].min(axis=0)
    span = ref - ideal
    unit = np.clip((points - ideal) / span, 0.0, None)
    # Dominated points neither contribute nor limit the others (moocore's ignore_dominated=True).
    front = np.flatnonzero(inside)
    front = front[moocore.is_nondominated(unit[front], keep_weakly=True)]
    others, originals = unit[front], points[front]
    ones = np.ones(m)
    for k, i in enumerate(front):
        if ((np.delete(originals, k, axis=0) == points[i]).all(axis=1)).any():
            continue  # a duplicate: removing one copy loses nothing
        p = unit[i]
        rest = np.delete(others, k, axis=0)
        box = float(np.prod(1.0 - p))
        covered = float(moocore.hypervolume(np.maximum(rest, p), ref=ones)) if len(rest) else 0.0
        out[i] = max(box - covered, 0.0)
    return out * float(np.prod(span))


def hypervolume_history(
    values: ArrayLike,
    directions: Sequence[Any] | None = None,
    ref_point: ArrayLike | None = None,
    violations: ArrayLike | None = None,
) -> np.ndarray:
    """Hypervolume of the feasible front after each of the first 1..n points, in the order given.

    ``out[i] = hypervolume(feasible points among values[:i+1], ref)`` with one fixed reference
    point for the whole history: ``ref_point`` (original units) or, if ``None``, the
    :func:`default_reference_point` of the *feasible* points (all points when ``violations`` is
    ``None``; all zeros if none is feasible).  The history is non-decreasing and
    ``out[-1] == hypervolume(values[feasible], directions, ref)``.

    Incremental: points are fed to a :class:`ParetoArchive`; a point that does not enter leaves
    the value unchanged.  For two objectives the hypervolume change of an insertion is computed
    exactly from the new point, its neighbours and the evicted run (the front's area is a sum of
    strips, only a few of which change), O(log n) amortised per point: ~10 ms for 5,000 points.
    For other m each entering point adds its exclusive contribution, computed by moocore on the
    archive limited to the point's box: ~50 ms for 5,000 random 3-D points, ~1 s when all
    5,000 stay on the front.
    """
    points, signs = minimisation_view(values, directions)
    n, m = points.shape
    v = as_violations(violations, n)
    feasible = np.ones(n, dtype=bool) if v is None else v == 0.0
    out = np.zeros(n)
    if not feasible.any():
        if ref_point is not None:
            as_reference(ref_point, signs)
        return out
    ref = _ref_min(points[feasible], signs, ref_point)
    # Only points strictly dominating ref can ever contribute, and a point that does not cannot
    # dominate one that does, so the others are simply skipped.
    usable = feasible & (points < ref).all(axis=1)
    if m == 2:
        _history_2d(points, usable, ref, out)
    else:
        _history_nd(points, usable, ref, out)
    return out


def _history_nd(points: np.ndarray, usable: np.ndarray, ref: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` with the running hypervolume for m != 2, one exclusive contribution at a time.

    ``HV(A + p) - HV(A) = vol(box(p, ref)) - HV({max(a, p) : a in A})``: the part of p's box
    already dominated by A is what the component-wise maxima dominate (the "limit set" of
    While, Bradstreet & Barone 2012, "A fast way of calculating exact hypervolumes", IEEE TEVC
    16(1)).  The limited set has few non-dominated points, so moocore computes it faster than
    the whole archive's volume.
    """
    archive = ParetoArchive(points.shape[1])
    hv = 0.0
    for i in range(len(points)):
        if usable[i]:
            p = points[i].copy()
            k = archive._n
            limited = np.maximum(archive._cols[:, :k].T, p) if k else None
            if archive._insert_nd(p, i).entered:
                box = float(np.prod(ref - p))
                hv += box - float(moocore.hypervolume(limited, ref=ref)) if k else box
        out[i] = hv


def _history_2d(points: np.ndarray, usable: np.ndarray, ref: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` with the running 2-D hypervolume, updated by exact area differences.

    With the front sorted by f1 (x), the area is a sum of strips ``(x_next - x) * (ry - y)``
    (``x_next = rx`` for the last point).  Inserting p between neighbours L and R, evicting the
    run E_1..E_k, changes only L's strip, removes the E strips and adds p's.
    """
    front = _SortedFront2D()
    rx, ry = float(ref[0]), float(ref[1])
    xs = points[:, 0].tolist()
    ys = points[:, 1].tolist()
    use = usable.tolist()
    hv = 0.0
    for i in range(len(xs)):
        if use[i]:
            x, y = xs[i], ys[i]
            res = front.insert(x, y, i)
            if res is not None:
                ev_x, ev_y, _, left, right = res
                x_right = right[0] if right is not None else rx
                delta = (x_right - x) * (ry - y)
                if left is not None:
                    delta -= ((ev_x[0] if ev_x else x_right) - x) * (ry - left[1])
                for j in range(len(ev_x)):
                    x_next = ev_x[j + 1] if j + 1 < len(ev_x) else x_right
                    delta -= (x_next - ev_x[j]) * (ry - ev_y[j])
                hv += delta
        out[i] = hv
