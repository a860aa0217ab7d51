"""Choosing a point: each method on fronts whose answer is known, constraints and requirements."""

from __future__ import annotations

import numpy as np
import pytest

from paretolab import decision
from paretolab.errors import UserError

MIN2 = ["minimize", "minimize"]

# a convex front with an obvious knee at row 2, plus a dominated point (row 5)
CONVEX = np.array([[0.0, 1.0], [0.05, 0.5], [0.1, 0.1], [0.5, 0.05], [1.0, 0.0], [0.6, 0.6]])
# a linear front f1 + f2 = 1 at 0, .1, ..., 1
LINEAR = np.array([[x, 1.0 - x] for x in np.linspace(0.0, 1.0, 11)])


def test_knee_of_a_convex_front_is_its_bulge() -> None:
    assert decision.knee(CONVEX, MIN2) == 2


def test_knee_is_invariant_to_units_and_directions() -> None:
    # objective 0 in other units, objective 1 turned into a maximised "accuracy"
    values = np.column_stack([CONVEX[:, 0] * 1000.0, 1.0 - CONVEX[:, 1]])
    assert decision.knee(values, ["minimize", "maximize"]) == 2


def test_knee_of_a_linear_front_is_its_middle() -> None:
    assert decision.knee(LINEAR, MIN2) == 5


def test_knee_skips_a_constraint_violating_knee() -> None:
    violations = np.array([0.0, 0.0, 0.3, 0.0, 0.0, 0.0])
    chosen = decision.knee(CONVEX, MIN2, violations)
    assert chosen != 2
    # without row 2 the front is rows 0, 1, 3, 4 and its knee is one of the two next to it
    assert chosen in (1, 3)
    assert decision.candidate_mask(CONVEX, MIN2, violations).tolist() == [True, True, False, True,
                                                                          True, False]


def test_no_feasible_point_is_a_clear_error_naming_the_closest() -> None:
    with pytest.raises(decision.NoFeasiblePoint) as info:
        decision.knee(CONVEX, MIN2, np.array([0.5, 0.2, 0.9, 0.1, 0.4, 0.3]))
    assert info.value.closest == 3
    assert "no trial meets" in str(info.value)


@pytest.mark.parametrize("w0,expected", [(0.5, 5), (0.7, 3), (0.3, 7), (0.9, 1)])
def test_asf_on_a_linear_front_balances_weighted_distances(w0: float, expected: int) -> None:
    # w0 * f1 = w1 * f2 with f1 + f2 = 1  ->  f1 = w1 = 1 - w0
    assert decision.asf(LINEAR, MIN2, [w0, 1.0 - w0]) == expected


def test_asf_with_equal_importance_picks_the_convex_knee() -> None:
    assert decision.asf(CONVEX, MIN2, [0.5, 0.5]) == 2


def test_asf_with_zero_importance_picks_the_best_of_the_other_objective() -> None:
    assert decision.asf(LINEAR, MIN2, [1.0, 0.0]) == 0
    assert decision.asf(LINEAR, MIN2, [0.0, 1.0]) == 10


def test_asf_skips_a_constraint_violating_point() -> None:
    violations = np.zeros(len(LINEAR))
    violations[3] = 1.0
    assert decision.asf(LINEAR, MIN2, [0.7, 0.3], violations) in (2, 4)


@pytest.mark.parametrize("w0,expected", [(0.5, 5), (0.7, 3), (0.2, 8), (1.0, 0)])
def test_pseudo_weights_on_a_linear_front(w0: float, expected: int) -> None:
    # on f1 + f2 = 1 the pseudo-weight of objective 0 is 1 - f1
    assert decision.pseudo_weights(LINEAR, MIN2, [w0, 1.0 - w0]) == expected


def test_pseudo_weights_ignore_dominated_and_infeasible_points() -> None:
    violations = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert decision.pseudo_weights(CONVEX, MIN2, [0.5, 0.5], violations) == 2
    violations[2] = 1.0
    assert decision.pseudo_weights(CONVEX, MIN2, [0.5, 0.5], violations) in (1, 3)


def test_three_objectives_and_a_single_candidate() -> None:
    values = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.2, 0.2, 0.2]])
    assert decision.knee(values, ["minimize"] * 3) == 3
    assert decision.choose("knee", values[3:], ["minimize"] * 3) == 0


def test_preference_vector_checks_names_and_numbers() -> None:
    assert decision.preference_vector({"b": 3, "a": 1}, ["a", "b"]).tolist() == [0.25, 0.75]
    with pytest.raises(UserError, match="valid objectives: a, b"):
        decision.preference_vector({"c": 1.0}, ["a", "b"])
    with pytest.raises(UserError):
        decision.preference_vector({"a": -1.0}, ["a", "b"])
    with pytest.raises(UserError, match="needs --prefer"):
        decision.choose("asf", LINEAR, MIN2)


def test_parse_requirement_and_gaps() -> None:
    assert decision.parse_requirement("error<=0.05") == ("error", "<=", 0.05)
    assert decision.parse_requirement(" ece > 1e-3 ") == ("ece", ">", 0.001)
    assert decision.parse_requirement("a<2") == ("a", "<", 2.0)
    with pytest.raises(UserError, match="cannot read"):
        decision.parse_requirement("error == 3")
    columns = {"e": np.array([0.1, 0.2, 0.3]), "s": np.array([5.0, 1.0, 3.0])}
    gaps = decision.requirement_gaps(columns, [("e", "<=", 0.15), ("s", ">", 1.0)])
    assert gaps[0] == 0.0 and gaps[1] > 0.0 and gaps[2] > 0.0
    # row 2: e is 0.15 over a range of 0.2 -> 0.75
    assert gaps[2] == pytest.approx(0.75)


def test_reference_levels_pick_the_point_that_misses_them_least() -> None:
    line = np.array([[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1.0, 0.0]])
    levels = decision.reference_levels({"a": 0.2, "b": 0.9}, ["a", "b"])
    # gaps (a - 0.2, b - 0.9): row 0 misses b by 0.1, row 1 misses a by 0.05: row 1
    assert decision.choose("reference", line, ["minimize", "minimize"], preference=levels) == 1
    # a KL-regularised study: reward maximised, KL minimised; the knee is scaled over the
    # front, the reference method takes the user's own levels in the objectives' units
    rl = np.array([[0.0, 0.0], [0.1, 0.6], [0.3, 0.9]])  # kl, reward
    kl_levels = decision.reference_levels({"kl": 0.3, "reward": 0.85}, ["kl", "reward"])
    assert decision.choose("reference", rl, ["minimize", "maximize"], preference=kl_levels) == 2
    with pytest.raises(UserError, match="unknown objective 'x'"):
        decision.reference_levels({"x": 1.0}, ["kl", "reward"])


def test_pick_says_what_the_knee_is_scaled_over() -> None:
    from types import SimpleNamespace

    from paretolab.pick import knee_scale
    from paretolab.records import StudyMeta

    meta = StudyMeta(name="rl", objectives=["kl", "reward"], directions=["minimize", "maximize"],
                     refs=[None, None], constraints=[], losses=[], trials_budget=3, spec={})
    front = [SimpleNamespace(values=v) for v in ([0.0, 0.0], [0.1, 0.6], [0.3, 0.9])]
    text = knee_scale(SimpleNamespace(front=front), meta)
    assert "scaled to [0, 1] over the front's range (kl 0 to 0.3, reward 0 to 0.9)" in text
    assert "KL 0, the reference policy itself" in text and "--method reference --prefer kl=" in text
