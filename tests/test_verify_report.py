"""The report of a verified study with three or more objectives: intervals, verified front, verdicts."""

from __future__ import annotations

import numpy as np
import optuna

from paretolab.records import StudyMeta, load_records
from paretolab.report import figures as F
from paretolab.report.data import ReportData, verified_points
from paretolab.report.page import build_page


def _meta(m: int) -> StudyMeta:
    names = ["a", "b", "c", "d"][:m]
    return StudyMeta(name=f"hand{m}", objectives=names, directions=["minimize"] * m, refs=[None] * m,
                     constraints=[], losses=names, trials_budget=3, spec={})


def _add(study: optuna.Study, values: list[float], seed: int, of: int | None = None,
         seeds: list[list[float]] | None = None) -> None:
    attrs: dict = {"start": {"config": {"seed": seed}, "worker": 0}}
    if of is not None:
        attrs["repeat"] = {"of": of, "seed": seed}
    if seeds is not None:  # budget.repeats: the trial trained these seeds, its values are their mean
        names = ["a", "b", "c", "d"][:len(values)]
        attrs["result"] = {"seeds": [{"seed": seed + k, "metrics": dict(zip(names, s))}
                                     for k, s in enumerate(seeds)]}
    study.add_trial(optuna.create_trial(values=values, params={"x": 0.0},
                                        distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
                                        user_attrs=attrs))


# trial 0 is a lucky draw (its repeats are far worse), trials 1 and 2 are real trade-offs
RAW = [[0.5, 0.9, 0.6, 0.6], [0.7, 0.7, 0.7, 0.7], [0.9, 0.3, 0.8, 0.8]]
REPEATS = {0: [[0.90, 1.00, 0.90, 0.90], [0.95, 0.95, 0.92, 0.95], [0.92, 0.98, 0.94, 0.92]],
           1: [[0.71, 0.69, 0.70, 0.71], [0.69, 0.71, 0.71, 0.69], [0.70, 0.70, 0.69, 0.70]],
           2: [[0.91, 0.31, 0.79, 0.80], [0.89, 0.29, 0.81, 0.81], [0.90, 0.30, 0.80, 0.79]]}


def _verified(m: int) -> ReportData:
    study = optuna.create_study(directions=["minimize"] * m)
    for n, v in enumerate(RAW):
        _add(study, v[:m], seed=n)
    for of, rows in REPEATS.items():
        for k, v in enumerate(rows):
            _add(study, v[:m], seed=100 + 10 * of + k, of=of)
    return ReportData.build(_meta(m), load_records(study))


def _verified_traces(fig) -> list:
    return [t for t in fig.data if t.name == F.VERIFIED_NAME]


def test_three_objectives_show_intervals_and_verdicts_in_3d_pairs_and_table() -> None:
    data = _verified(3)
    check = data.verification
    assert check.labels == {0: "dominated", 1: "robust", 2: "robust"}
    figs = dict(F.front_figures(data))
    (t3,) = _verified_traces(figs["fig-front"])
    assert t3.type == "scatter3d"
    numbers = [int(n) for n, _ in t3.customdata]
    assert sorted(numbers) == [0, 1, 2]
    for axis, j in (("error_x", 0), ("error_y", 1), ("error_z", 2)):
        np.testing.assert_allclose(getattr(t3, axis).array, [check.stats[n].ci[j] for n in numbers])
    np.testing.assert_allclose(t3.z, [check.stats[n].mean[2] for n in numbers])
    assert {int(n): label for n, label in t3.customdata} == {0: "dominated", 1: "robust", 2: "robust"}
    assert list(t3.marker.color) == [F.NOT_ROBUST_COLOR if n == 0 else F.ROBUST_COLOR for n in numbers]
    pairs = _verified_traces(figs["fig-front-pairs"])
    assert len(pairs) == 3  # one per pair of objectives, each with both intervals
    for t, (a, b) in zip(pairs, [(0, 1), (0, 2), (1, 2)]):
        np.testing.assert_allclose(t.error_x.array, [check.stats[n].ci[a] for n in numbers])
        np.testing.assert_allclose(t.error_y.array, [check.stats[n].ci[b] for n in numbers])
    page = build_page(data)
    table = page.html.split('id="front-table"')[1]
    assert "verdict" in table and table.count(">dominated<") == 1 and table.count(">robust<") == 2


def test_four_objectives_get_a_grid_of_pairs_with_intervals() -> None:
    data = _verified(4)
    figs = dict(F.front_figures(data))
    assert {"fig-front", "fig-front-parcoords", "fig-front-verified"} <= set(figs)
    traces = _verified_traces(figs["fig-front-verified"])
    assert len(traces) == 6  # the lower triangle of 4 objectives
    labels = {int(n): label for n, label in traces[0].customdata}
    assert labels == {0: "dominated", 1: "robust", 2: "robust"}
    assert all(len(t.error_x.array) == 3 and np.all(np.asarray(t.error_y.array) > 0) for t in traces)


def test_an_unverified_study_draws_no_intervals() -> None:
    study = optuna.create_study(directions=["minimize"] * 4)
    for n, v in enumerate(RAW):
        _add(study, v, seed=n)
    data = ReportData.build(_meta(4), load_records(study))
    assert verified_points(data) is None
    figs = dict(F.front_figures(data))
    assert "fig-front-verified" not in figs
    assert "verdict" not in build_page(data).html.split('id="front-table"')[1]


def test_budget_repeats_intervals_are_drawn_for_the_front_only() -> None:
    study = optuna.create_study(directions=["minimize"] * 3)
    rng = np.random.default_rng(0)
    for n, centre in enumerate([[0.2, 0.8, 0.5], [0.8, 0.2, 0.5], [0.9, 0.9, 0.9], [0.5, 0.5, 0.2]]):
        seeds = (np.array(centre) + rng.normal(0, 0.01, (3, 3))).tolist()
        _add(study, list(np.mean(seeds, axis=0)), seed=10 * n, seeds=seeds)
    data = ReportData.build(_meta(3), load_records(study))
    vp = verified_points(data)
    assert vp is not None and vp.numbers == [0, 1, 3]  # trial 2 is dominated: not drawn
    assert np.all(vp.ci > 0)
