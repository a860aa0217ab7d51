"""Tests for paretolab.dominance against brute-force references and published hypervolumes.

The brute-force references below are deliberately naive (O(n^2 m) pairwise dominance, front
peeling, inclusion-exclusion, slicing) and share no code with the module under test.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from unittest import mock

import moocore
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from paretolab import dominance
from paretolab.dominance import (
    InsertResult,
    ParetoArchive,
    default_reference_point,
    hypervolume,
    hypervolume_contributions,
    hypervolume_history,
    nondominated_mask,
    pareto_ranks,
    to_minimization,
)
from paretolab.dominance import archive as archive_module
from paretolab.dominance import filtering as filtering_module

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- brute force


def signs_of(directions, m):
    if directions is None:
        return [1.0] * m
    return [1.0 if d == "minimize" else -1.0 for d in directions]


def as_min_rows(values, directions):
    values = np.asarray(values, dtype=float)
    s = signs_of(directions, values.shape[1] if values.ndim == 2 else 0)
    return [tuple(float(c) * sj for c, sj in zip(row, s)) for row in values]


def pdom(a, b):
    """a Pareto-dominates b (minimisation)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def cdom(a, va, b, vb):
    """a constraint-dominates b (Deb 2000), equal violations compared by Pareto dominance."""
    if va == 0 and vb > 0:
        return True
    if va > 0 and vb > 0 and va < vb:
        return True
    return va == vb and pdom(a, b)


def bf_mask(rows, violations=None):
    """The documented rule, literally."""
    n = len(rows)
    v = [0.0] * n if violations is None else [float(x) for x in violations]
    feasible = [i for i in range(n) if v[i] == 0]
    if feasible:
        cand = feasible
    elif n:
        least = min(v)
        cand = [i for i in range(n) if v[i] == least]
    else:
        cand = []
    mask = [False] * n
    for i in cand:
        mask[i] = not any(pdom(rows[j], rows[i]) for j in cand)
    return np.array(mask, dtype=bool)


def bf_ranks(rows, violations=None):
    """Non-dominated sorting by repeated peeling under constraint domination."""
    n = len(rows)
    v = [0.0] * n if violations is None else [float(x) for x in violations]
    dominates = [[cdom(rows[i], v[i], rows[j], v[j]) for j in range(n)] for i in range(n)]
    ranks = [-1] * n
    remaining = set(range(n))
    r = 0
    while remaining:
        front = [i for i in remaining if not any(dominates[j][i] for j in remaining)]
        for i in front:
            ranks[i] = r
        remaining -= set(front)
        r += 1
    return np.array(ranks, dtype=np.int64)


def hv_inclusion_exclusion(points, ref):
    """Exact hypervolume by inclusion-exclusion over all subsets (small n only)."""
    pts = [p for p in np.asarray(points, float) if np.all(p < ref)]
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, k):
            corner = np.max(subset, axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


def hv_2d_sweep(points, ref):
    """Exact 2-D hypervolume: sort by f1, running minimum of f2, sum of strips."""
    p = np.asarray(points, float)
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    best_y = np.minimum.accumulate(p[:, 1])
    next_x = np.append(p[1:, 0], ref[0])
    return float(np.sum((next_x - p[:, 0]) * (ref[1] - best_y)))


def hv_3d_slicing(points, ref):
    """Exact 3-D hypervolume: slabs between consecutive f3 levels times a 2-D area."""
    p = np.asarray(points, float)
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    levels = np.unique(p[:, 2])
    tops = np.append(levels[1:], ref[2])
    return float(
        sum(hv_2d_sweep(p[p[:, 2] <= z, :2], ref[:2]) * (top - z) for z, top in zip(levels, tops))
    )


# ----------------------------------------------------------------------------- strategies


@st.composite
def problems(draw, max_n=24, min_m=1, max_m=4, with_violations=True, grid=None):
    m = draw(st.integers(min_m, max_m))
    n = draw(st.integers(0, max_n))
    on_grid = draw(st.booleans()) if grid is None else grid
    elements = (
        st.integers(-3, 3).map(float)
        if on_grid
        else st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32).map(float)
    )
    values = draw(arrays(np.float64, (n, m), elements=elements))
    directions = draw(
        st.none() | st.lists(st.sampled_from(["minimize", "maximize"]), min_size=m, max_size=m)
    )
    violations = None
    if with_violations and draw(st.booleans()):
        violations = draw(
            arrays(np.float64, (n,), elements=st.sampled_from([0.0, 0.0, 0.5, 1.0, 1.0, 2.5]))
        )
    return values, directions, violations


# ----------------------------------------------------------------------------- to_minimization


def test_to_minimization_negates_maximised_columns_and_copies():
    values = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = to_minimization(values, ["minimize", "maximize", "minimize"])
    np.testing.assert_array_equal(out, [[1.0, -2.0, 3.0], [4.0, -5.0, 6.0]])
    out_all_min = to_minimization(values)
    out_all_min[0, 0] = 99.0
    assert values[0, 0] == 1.0  # a copy, never a view of the input
    assert to_minimization([[1, 2]]).dtype == np.float64
    assert to_minimization([], ["minimize", "maximize"]).shape == (0, 2)


def test_directions_accept_optuna_study_direction():
    from optuna.study import StudyDirection

    out = to_minimization([[1.0, 2.0]], [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE])
    np.testing.assert_array_equal(out, [[1.0, -2.0]])


@pytest.mark.parametrize(
    "bad, row, col",
    [(float("nan"), 2, 1), (float("inf"), 0, 0), (float("-inf"), 1, 2)],
)
def test_non_finite_values_are_rejected_naming_row_and_column(bad, row, col):
    values = np.ones((3, 3))
    values[row, col] = bad
    with pytest.raises(ValueError, match=rf"row {row}, objective {col}"):
        to_minimization(values)
    for fn in (nondominated_mask, pareto_ranks, hypervolume, default_reference_point,
               hypervolume_contributions, hypervolume_history):
        with pytest.raises(ValueError, match="finite"):
            fn(values)
    with pytest.raises(ValueError, match="finite"):
        ParetoArchive.from_points(values)


@pytest.mark.parametrize(
    "values, directions, message",
    [
        ([[1.0, 2.0]], ["minimize", "sideways"], "unknown direction"),
        ([[1.0, 2.0]], ["minimize"], "directions|objectives"),
        ([[1.0, 2.0]], "minimize", "sequence"),
        ([1.0, 2.0], None, "2-D"),
        ([[[1.0]]], None, "2-D"),
        ([["a", "b"]], None, "numeric"),
    ],
)
def test_bad_shapes_and_directions_are_rejected(values, directions, message):
    with pytest.raises(ValueError, match=message):
        to_minimization(values, directions)
    with pytest.raises(ValueError, match=message):
        nondominated_mask(values, directions)


@pytest.mark.parametrize(
    "violations, message",
    [([0.0, -1.0], "negative"), ([0.0, float("nan")], "finite"), ([0.0], "shape")],
)
def test_bad_violations_are_rejected(violations, message):
    with pytest.raises(ValueError, match=message):
        nondominated_mask([[1.0, 2.0], [2.0, 1.0]], None, violations)
    with pytest.raises(ValueError, match=message):
        pareto_ranks([[1.0, 2.0], [2.0, 1.0]], None, violations)


# ----------------------------------------------------------------------------- mask and ranks


@pytest.mark.slow
@SETTINGS
@given(problems())
def test_mask_matches_bruteforce(problem):
    values, directions, violations = problem
    rows = as_min_rows(values, directions)
    expected = bf_mask(rows, violations)
    np.testing.assert_array_equal(nondominated_mask(values, directions, violations), expected)
    # The same thing through the pivot pre-filter path (normally only for >= 2048 points).
    with mock.patch.object(filtering_module, "_PREFILTER_MIN_POINTS", 1), \
         mock.patch.object(filtering_module, "_SAMPLE_SIZE", 4), \
         mock.patch.object(filtering_module, "_FRONT_LIKE_FRACTION", 1.0), \
         mock.patch.object(filtering_module, "_PROBE_FRONT_LIKE_FRACTION", 1.0), \
         mock.patch.object(filtering_module, "_STOP_PIVOTING_AT", 0):
        np.testing.assert_array_equal(nondominated_mask(values, directions, violations), expected)


@pytest.mark.slow
@SETTINGS
@given(problems())
def test_ranks_match_bruteforce_and_rank_zero_is_the_mask(problem):
    values, directions, violations = problem
    rows = as_min_rows(values, directions)
    ranks = pareto_ranks(values, directions, violations)
    np.testing.assert_array_equal(ranks, bf_ranks(rows, violations))
    np.testing.assert_array_equal(ranks == 0, nondominated_mask(values, directions, violations))
    assert ranks.dtype == np.int64


def test_mask_hand_cases():
    pts = [[1, 1], [0, 1], [1, 0], [1, 0], [2, 2]]
    np.testing.assert_array_equal(nondominated_mask(pts), [False, True, True, True, False])
    # maximise both: (2, 2) dominates everything
    np.testing.assert_array_equal(
        nondominated_mask(pts, ["maximize", "maximize"]), [False, False, False, False, True]
    )
    # mixed: minimise f1, maximise f2
    np.testing.assert_array_equal(
        nondominated_mask(pts, ["minimize", "maximize"]), [False, True, False, False, True]
    )
    assert nondominated_mask(np.empty((0, 3))).shape == (0,)


def test_constraint_domination_hand_cases():
    pts = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [0.5, 2.0]]
    # the only feasible point is on the front, even though infeasible points dominate it
    np.testing.assert_array_equal(nondominated_mask(pts, None, [1.0, 0.0, 2.0, 2.0]),
                                  [False, True, False, False])
    # nothing feasible: least violation wins; ties filtered by dominance
    np.testing.assert_array_equal(nondominated_mask(pts, None, [3.0, 1.0, 1.0, 1.0]),
                                  [False, True, True, True])
    np.testing.assert_array_equal(nondominated_mask(pts, None, [1.0, 1.0, 1.0, 2.0]),
                                  [True, False, False, False])
    # ranks: feasible fronts, then violation levels (each Pareto-ranked within)
    ranks = pareto_ranks([[0, 0], [1, 1], [5, 5], [0, 0], [9, 9], [3, 1]], None,
                         [0, 0, 0.5, 0.5, 0.5, 2.0])
    np.testing.assert_array_equal(ranks, [0, 1, 3, 2, 4, 5])


@pytest.mark.parametrize("m", [2, 3, 5])
@pytest.mark.parametrize("kind", ["uniform", "integers", "front", "sorted", "normal", "constant"])
def test_large_inputs_match_moocore(m, kind):
    """Large inputs take the pre-filter path; moocore alone is the reference."""
    rng = np.random.default_rng(12345 + m)
    n = 30_000
    if kind == "uniform":
        x = rng.random((n, m))
    elif kind == "integers":
        x = rng.integers(0, 6, (n, m)).astype(float)
    elif kind == "front":
        x = -np.abs(rng.standard_normal((n, m)))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    elif kind == "sorted":
        x = rng.random((n, m))
        x = x[np.argsort(x[:, 0])]
    elif kind == "normal":
        x = rng.standard_normal((n, m))
    else:
        x = np.ones((n, m))
    expected = moocore.is_nondominated(x, keep_weakly=True)
    np.testing.assert_array_equal(nondominated_mask(x), expected)
    directions = ["maximize"] * m
    np.testing.assert_array_equal(nondominated_mask(-x, directions), expected)


def test_prefilter_against_bruteforce_medium():
    rng = np.random.default_rng(7)
    x = np.round(rng.random((3000, 3)), 2)  # many ties and duplicates
    leq = (x[:, None, :] <= x[None, :, :]).all(axis=2)
    lt = (x[:, None, :] < x[None, :, :]).any(axis=2)
    dominated = (leq & lt).any(axis=0)
    np.testing.assert_array_equal(nondominated_mask(x), ~dominated)


# ----------------------------------------------------------------------------- archive


@pytest.mark.slow
@SETTINGS
@given(problems(max_n=40, with_violations=False), st.sampled_from([1, 2, 1000]))
def test_archive_insertions_match_bruteforce(problem, block):
    values, directions, _ = problem
    m = values.shape[1]
    rows = as_min_rows(values, directions)
    reference: list[tuple[tuple[float, ...], int]] = []
    with mock.patch.object(archive_module, "_BLOCK", block):  # tiny blocks stress splitting
        archive = ParetoArchive(m, directions)
        for i, row in enumerate(values):
            result = archive.insert(row, key=i)
            p = rows[i]
            dominated = any(pdom(a, p) for a, _ in reference)
            expected_evicted = [] if dominated else [k for a, k in reference if pdom(p, a)]
            assert result.entered == (not dominated)
            assert sorted(result.evicted) == sorted(expected_evicted)
            if not dominated:
                reference = [(a, k) for a, k in reference if not pdom(p, a)] + [(p, i)]
            assert len(archive) == len(reference)
        assert sorted(archive.keys) == sorted(k for _, k in reference)
        expected_keys = np.flatnonzero(bf_mask(rows)).tolist()
        assert sorted(archive.keys) == expected_keys
        # points are in original units and aligned with keys
        pts = archive.points
        assert pts.shape == (len(archive), m)
        for k, pt in zip(archive.keys, pts):
            np.testing.assert_array_equal(pt, values[k])
        rebuilt = ParetoArchive.from_points(values, directions)
        assert sorted(rebuilt.keys) == expected_keys
        # from_points followed by more insertions behaves like one long sequence
        for row in values[::-1]:
            rebuilt.insert(row)
        assert len(rebuilt) == 2 * len(expected_keys)  # every front point now twice


def check_sorted_front_invariants(front):
    """White-box check of the blocked 2-D archive: heads, sortedness, no empty block."""
    assert len(front._xs) == len(front._ys) == len(front._ks) == len(front._heads)
    assert all(len(b) > 0 for b in front._xs)
    assert front._heads == [b[0] for b in front._xs]
    xs, ys, _ = front.arrays()
    assert len(xs) == len(front)
    assert all(a <= b for a, b in zip(xs, xs[1:]))
    assert all(a >= b for a, b in zip(ys, ys[1:]))


@pytest.mark.parametrize("block", [1, 2, 3, 7])
@pytest.mark.parametrize("seed", range(4))
def test_archive_2d_block_structure_under_stress(block, seed):
    """Long random sequences with tiny blocks: evictions span blocks, inserts land in gaps."""
    rng = np.random.default_rng(seed)
    n = 1500
    # points near a front that slowly moves towards the origin, with duplicates and ties
    t = rng.random(n)
    shift = np.linspace(0.0, 0.5, n) + rng.normal(0, 0.05, n)
    x = np.round(np.column_stack([t, 1.0 - t]) - shift[:, None] * rng.random((n, 1)), 2)
    with mock.patch.object(archive_module, "_BLOCK", block):
        archive = ParetoArchive(2)
        for i, row in enumerate(x):
            archive.insert(row)
            if i % 50 == 0 or i > n - 20:
                check_sorted_front_invariants(archive._front)
    np.testing.assert_array_equal(
        np.sort(np.array(archive.keys)), np.flatnonzero(moocore.is_nondominated(x, keep_weakly=True))
    )


def test_archive_two_objectives_sorted_and_default_keys():
    archive = ParetoArchive(2, ["minimize", "maximize"])
    assert archive.insert([3.0, 3.0]) == InsertResult(True, [])
    assert archive.insert([1.0, 1.0]) == InsertResult(True, [])
    assert archive.insert([2.0, 0.5]) == InsertResult(False, [])
    assert archive.insert([3.0, 3.0]).entered  # a duplicate enters
    assert archive.insert([0.5, 5.0]) == InsertResult(True, [1, 0, 3])
    assert archive.keys == [4] and len(archive) == 1
    archive.insert([1.0, 2.0], key="b")
    archive.insert([2.0, 6.0], key="a")
    np.testing.assert_array_equal(archive.points, [[0.5, 5.0], [2.0, 6.0]])
    assert archive.keys == [4, "a"]


def test_archive_rejects_bad_points():
    archive = ParetoArchive(2)
    with pytest.raises(ValueError, match="finite"):
        archive.insert([0.0, float("nan")])
    with pytest.raises(ValueError, match="objectives"):
        archive.insert([0.0, 1.0, 2.0])
    archive3 = ParetoArchive(3)
    with pytest.raises(ValueError, match="finite"):
        archive3.insert([0.0, float("inf"), 1.0])
    with pytest.raises(ValueError):
        ParetoArchive(0)
    with pytest.raises(ValueError, match="unknown direction"):
        ParetoArchive(2, ["minimize", "up"])
    assert len(archive) == 0


@pytest.mark.parametrize("m", [2, 3])
def test_archive_many_points_on_the_front(m):
    """Every point stays: exercises block splitting and long evictions."""
    rng = np.random.default_rng(3)
    x = -np.abs(rng.standard_normal((6000, m)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    archive = ParetoArchive(m)
    for row in x:
        assert archive.insert(row).entered
    assert len(archive) == len(x)
    # one point dominating everything evicts all of them at once
    result = archive.insert(np.full(m, -2.0))
    assert result.entered and sorted(result.evicted) == list(range(len(x)))
    assert len(archive) == 1


def test_archive_100k_random_2d_insertions_keep_exactly_the_front():
    """(Its speed is measured in benchmarks/bench_dominance.py, not asserted here.)"""
    rng = np.random.default_rng(0)
    points = rng.random((100_000, 2)).tolist()
    archive = ParetoArchive(2)
    for p in points:
        archive.insert(p)
    np.testing.assert_array_equal(
        np.sort(np.array(archive.keys)), np.flatnonzero(nondominated_mask(points))
    )


# ----------------------------------------------------------------------------- hypervolume

INPUT1 = moocore.get_dataset("input1.dat")


def test_hypervolume_hand_cases():
    staircase = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    assert hypervolume(staircase, ref_point=[4.0, 4.0]) == pytest.approx(6.0)
    assert hypervolume(staircase + [[3.5, 3.5], [2.0, 2.0]], ref_point=[4.0, 4.0]) == pytest.approx(6.0)
    # the same front with both objectives maximised, reference point below it
    neg = (-np.array(staircase)).tolist()
    assert hypervolume(neg, ["maximize", "maximize"], [-4.0, -4.0]) == pytest.approx(6.0)
    # points not strictly dominating the reference point contribute nothing
    assert hypervolume([[1.0, 4.0], [4.0, 1.0], [5.0, 0.0]], ref_point=[4.0, 4.0]) == 0.0
    assert hypervolume([[1.0, 5.0], [2.0, 2.0]], ref_point=[4.0, 4.0]) == pytest.approx(4.0)
    assert hypervolume(np.empty((0, 2)), ref_point=[1.0, 1.0]) == 0.0
    assert hypervolume([]) == 0.0
    # moocore's documented examples
    assert hypervolume([[5, 5], [4, 6], [2, 7], [7, 4]], ref_point=[10, 10]) == 38.0
    assert hypervolume([[5, 5], [4, 6], [2, 7], [7, 4]], ["maximize"] * 2, [0, 0]) == 39.0
    assert hypervolume([[1, 0, 1], [0, 1, 0]], ref_point=[2, 2, 2]) == 5.0
    assert hypervolume([[1, 0, 1], [0, -1, 0]], ["minimize", "maximize", "minimize"], [2, -2, 2]) == 5.0
    assert hypervolume([[3.0], [1.0]], ref_point=[4.0]) == 3.0
    with pytest.raises(ValueError, match="ref_point"):
        hypervolume(staircase, ref_point=[4.0])
    with pytest.raises(ValueError, match="ref_point"):
        hypervolume(staircase, ref_point=[4.0, float("nan")])


def test_hypervolume_published_values_input1():
    """Values from moocore's documentation and test-suite for input1.dat, reference (10, 10)."""
    ref = [10.0, 10.0]
    assert hypervolume(INPUT1[INPUT1[:, 2] == 1, :2], ref_point=ref) == pytest.approx(90.46272765, rel=1e-9)
    assert hypervolume(INPUT1[INPUT1[:, 2] == 2, :2], ref_point=ref) == pytest.approx(53.969708954, rel=1e-10)
    assert hypervolume(INPUT1[:, :2], ref_point=ref) == pytest.approx(93.55331425585321, rel=1e-12)
    for s in np.unique(INPUT1[:, 2]):
        pts = INPUT1[INPUT1[:, 2] == s, :2]
        assert hypervolume(pts, ref_point=ref) == pytest.approx(hv_2d_sweep(pts, np.array(ref)), rel=1e-12)


@pytest.mark.parametrize(
    "name, ref", [("uniform-250-10-3d.txt.xz", 10.0), ("spherical-250-10-3d.txt.xz", 1.0)]
)
def test_hypervolume_3d_datasets_against_slicing(name, ref):
    data = moocore.get_dataset(name)
    ref_point = np.full(3, ref)
    for s in (1, 5, 10):
        pts = data[data[:, 3] == s, :3]
        expected = hv_3d_slicing(pts, ref_point)
        assert hypervolume(pts, ref_point=ref_point) == pytest.approx(expected, rel=1e-12)
    pts = data[:, :3]
    assert hypervolume(pts, ref_point=ref_point) == pytest.approx(hv_3d_slicing(pts, ref_point), rel=1e-12)


def test_hypervolume_9d_dataset_against_inclusion_exclusion():
    data = moocore.get_dataset("ran.10pts.9d.10")
    ref = np.full(9, 10.0)
    for s in (1, 2, 3):
        pts = data[data[:, 9] == s, :9]
        assert hypervolume(pts, ref_point=ref) == pytest.approx(hv_inclusion_exclusion(pts, ref), rel=1e-10)


@SETTINGS
@given(problems(max_n=9, min_m=1, max_m=4, with_violations=False))
@pytest.mark.slow  # over 0.9 s
def test_hypervolume_matches_inclusion_exclusion(problem):
    values, directions, _ = problem
    m = values.shape[1]
    rows = np.array(as_min_rows(values, directions)).reshape(len(values), m)
    ref_min = np.full(m, 2.0) if len(values) == 0 else rows.max(axis=0) - 0.5  # some points outside
    ref = ref_min * np.array(signs_of(directions, m))
    assert hypervolume(values, directions, ref) == pytest.approx(
        hv_inclusion_exclusion(rows, ref_min), rel=1e-9, abs=1e-6
    )


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_pymoo_and_moocore_agree(m):
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(m)
    for n in (1, 10, 200):
        x = rng.random((n, m))
        ref = np.full(m, 1.1)
        ours = hypervolume(x, ref_point=ref)
        assert ours == pytest.approx(HV(ref_point=ref)(x), rel=1e-12)
        assert ours == pytest.approx(moocore.hypervolume(x, ref=ref), rel=1e-12)


def test_default_reference_point_rule():
    values = np.array([[0.0, 10.0, 5.0], [2.0, 30.0, 5.0]])
    ref = default_reference_point(values, ["minimize", "maximize", "minimize"])
    np.testing.assert_allclose(ref, [2.2, 8.0, 6.0])  # worst +- 10% of range; range 0 -> 1.0
    assert hypervolume(values, ["minimize", "maximize", "minimize"]) == pytest.approx(
        hypervolume(values, ["minimize", "maximize", "minimize"], ref)
    )
    # tiny range on a huge value: still strictly beyond the worst value
    huge = np.array([[1e16, 0.0], [1e16 + 2.0, 1.0]])
    assert np.all(default_reference_point(huge) > huge.max(axis=0))
    with pytest.raises(ValueError, match="at least one"):
        default_reference_point(np.empty((0, 2)))


@pytest.mark.slow
@SETTINGS
@given(problems(max_n=20, with_violations=False))
def test_default_reference_point_is_strictly_dominated_by_every_point(problem):
    values, directions, _ = problem
    if len(values) == 0:
        return
    m = values.shape[1]
    rows = np.array(as_min_rows(values, directions)).reshape(len(values), m)
    ref = default_reference_point(values, directions)
    ref_min = ref * np.array(signs_of(directions, m))
    assert np.all(rows < ref_min)


@SETTINGS
@given(problems(max_n=8, min_m=2, max_m=3, with_violations=False, grid=True))
@pytest.mark.slow  # over 0.9 s
def test_hypervolume_contributions_match_definition(problem):
    values, directions, _ = problem
    contributions = hypervolume_contributions(values, directions)
    assert contributions.shape == (len(values),)
    if len(values) == 0:
        return
    ref = default_reference_point(values, directions)
    m = values.shape[1]
    rows = np.array(as_min_rows(values, directions)).reshape(len(values), m)
    mask = bf_mask([tuple(r) for r in rows])
    front = rows[mask]
    ref_min = ref * np.array(signs_of(directions, m))
    total = hv_inclusion_exclusion(front, ref_min)
    expected = np.zeros(len(values))
    for idx, i in enumerate(np.flatnonzero(mask)):
        expected[i] = total - hv_inclusion_exclusion(np.delete(front, idx, axis=0), ref_min)
    np.testing.assert_allclose(contributions, expected, atol=1e-9)


def exact_contribution(p, others, ref):
    """Exclusive contribution of p, exactly: inclusion-exclusion over the limit set in Fractions."""
    p = [Fraction(float(v)) for v in p]
    r = [Fraction(float(v)) for v in ref]
    limited = [[max(Fraction(float(v)), pv) for v, pv in zip(a, p)] for a in others]
    total = Fraction(0)
    for k in range(len(limited) + 1):
        for subset in itertools.combinations(limited, k):
            corner = [max(col) for col in zip(p, *subset)]
            vol = Fraction(1)
            for c, rc in zip(corner, r):
                vol *= max(rc - c, Fraction(0))
            total += (-1) ** k * vol
    return total


@pytest.mark.parametrize("m", [4, 5])
@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-6, 1e6])
def test_hypervolume_contributions_4_and_5_objectives_at_any_scale(m, scale):
    """moocore drops 4+-objective contributions below ~1.5e-8 absolute; they must not vanish."""
    rng = np.random.default_rng(m)
    for _ in range(5):
        x = np.abs(rng.standard_normal((6, m)))
        x = 1.0 - x / np.linalg.norm(x, axis=1, keepdims=True)  # mutually non-dominated
        x = np.vstack([x, x[0] + 0.01])  # and one dominated point
        values, ref = x * scale, np.full(m, 1.0) * scale
        got = hypervolume_contributions(values, None, ref)
        assert got[-1] == 0.0
        for i in range(6):
            others = np.delete(values[:6], i, axis=0)
            expected = float(exact_contribution(values[i], others, ref))
            box = float(np.prod(ref - values[i]))
            assert expected > 0 and got[i] > 0
            assert got[i] == pytest.approx(expected, rel=1e-6, abs=1e-12 * box)


def test_hypervolume_contributions_4_objectives_tiny_next_to_a_large_total():
    ref = np.ones(4)
    values = np.array([[0.0, 0.0, 0.0, 0.9], [0.9, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.9 - 1e-9]])
    got = hypervolume_contributions(values, None, ref)
    expected = [float(exact_contribution(values[i], np.delete(values, i, axis=0), ref)) for i in range(3)]
    assert 0 < expected[2] < 1e-8
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# ----------------------------------------------------------------------------- history


@pytest.mark.slow
@SETTINGS
@given(problems(max_n=20, min_m=1, max_m=4))
def test_hypervolume_history_matches_prefix_hypervolumes(problem):
    values, directions, violations = problem
    history = hypervolume_history(values, directions, None, violations)
    assert history.shape == (len(values),)
    feasible = np.ones(len(values), bool) if violations is None else violations == 0
    if not feasible.any():
        np.testing.assert_array_equal(history, 0.0)
        return
    ref = default_reference_point(values[feasible], directions)
    for i in range(len(values)):
        prefix = values[: i + 1][feasible[: i + 1]]
        expected = hypervolume(prefix, directions, ref) if len(prefix) else 0.0
        assert history[i] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert np.all(np.diff(history) >= -1e-9 * max(1.0, history[-1]))


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("kind", ["uniform", "front"])
def test_hypervolume_history_5000_points(m, kind):
    rng = np.random.default_rng(11)
    n = 5000 if kind == "uniform" or m == 2 else 1500  # 3-D on-front is the costly case
    if kind == "uniform":
        x = rng.random((n, m))
    else:
        x = -np.abs(rng.standard_normal((n, m)))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    ref = np.full(m, 0.5 if kind == "front" else 1.0)
    history = hypervolume_history(x, None, ref)
    assert np.all(np.diff(history) >= 0.0)
    assert history[-1] == pytest.approx(hypervolume(x, None, ref), rel=1e-9)
    for i in (0, n // 3, n // 2):
        assert history[i] == pytest.approx(hypervolume(x[: i + 1], None, ref), rel=1e-9)


def test_hypervolume_history_with_violations_and_directions():
    values = [[1.0, 1.0], [0.0, 0.0], [2.0, 0.5], [0.5, 2.0], [0.5, 0.5]]
    violations = [0.0, 1.0, 0.0, 0.0, 0.0]
    ref = [3.0, 3.0]
    history = hypervolume_history(values, None, ref, violations)
    expected = [4.0, 4.0, 4.5, 5.0, 2.5 * 2.5]  # (0.5, 0.5) finally dominates all the others
    np.testing.assert_allclose(history, expected)
    maximised = hypervolume_history((-np.array(values)).tolist(), ["maximize"] * 2, [-3.0, -3.0], violations)
    np.testing.assert_allclose(maximised, expected)
    np.testing.assert_array_equal(hypervolume_history(values, None, ref, [1.0] * 5), 0.0)
    assert hypervolume_history(np.empty((0, 2))).shape == (0,)


def test_public_api_names():
    for name in ("Direction", "to_minimization", "nondominated_mask", "pareto_ranks",
                 "default_reference_point", "hypervolume", "hypervolume_contributions",
                 "hypervolume_history", "ParetoArchive", "InsertResult"):
        assert hasattr(dominance, name)
