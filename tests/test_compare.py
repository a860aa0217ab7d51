"""``paretolab compare A B``: studies side by side against one reference point (issue 30, item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

import paretolab
from paretolab.compare import Comparison, compare, compare_studies
from paretolab.locate import StudySource
from paretolab.records import META_KEY, StudyMeta
from paretolab.report.compare_page import compare_html
from paretolab.results import StudyResults

from conftest import cli
from test_report import make_meta, synthetic_study


def _points_study(url: str | None, name: str, points: list[tuple[float, float]],
                  seconds: float = 1.0) -> optuna.Study:
    """A two-objective (both minimised) study whose complete trials sit at ``points``."""
    study = optuna.create_study(study_name=name, storage=url, directions=["minimize", "minimize"])
    study.set_user_attr(META_KEY, make_meta(name, ["f1", "f2"], ["minimize", "minimize"], ["a", "b"],
                                            budget=len(points)).to_attr())
    for i, p in enumerate(points):
        study.add_trial(optuna.trial.create_trial(
            values=list(p), user_attrs={"config": {"weights": {"a": 0.5, "b": 0.5}, "steps": 10, "seed": i},
                                        "metrics": {"f1": p[0], "f2": p[1]}, "steps": 10,
                                        "wall_time_s": seconds}))
    return study


BETTER = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]
WORSE = [(1.5, 3.5), (2.5, 2.5), (0.5, 4.0), (4.0, 4.0)]


def _results(study: optuna.Study) -> StudyResults:
    return StudyResults(StudySource(study, StudyMeta.from_study(study), Path("reports"), None))


def _in_memory(*studies: optuna.Study) -> Comparison:
    return compare_studies([_results(s) for s in studies])


@pytest.fixture()
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/studies.db"
    _points_study(url, "better", BETTER, seconds=2.0)
    _points_study(url, "worse", WORSE)
    return url


def test_hypervolumes_share_one_reference_point_and_dominated_points_are_named() -> None:
    c = _in_memory(_points_study(None, "better", BETTER, seconds=2.0), _points_study(None, "worse", WORSE))
    better, worse = c.studies
    assert len(c.ref_point) == 2
    # by hand: the union's default reference point, then each front's dominated area against it
    assert better.hypervolume > worse.hypervolume > 0
    from paretolab import dominance

    ref = c.ref_point
    assert better.hypervolume == pytest.approx(dominance.hypervolume(better.points, ["minimize"] * 2, ref))
    assert worse.hypervolume == pytest.approx(dominance.hypervolume(
        np.array([[1.5, 3.5], [2.5, 2.5], [0.5, 4.0]]), ["minimize"] * 2, ref))
    # (1.5, 3.5) and (2.5, 2.5) of "worse" are dominated by "better"; (0.5, 4.0) is not
    assert {n: by for n, by in worse.dominated_by.items() if by} == {0: ["better"], 1: ["better"]}
    assert not any(better.dominated_by.values())
    assert (better.trials, better.steps, better.seconds) == (3, 30, 6.0)
    assert (worse.trials, worse.steps) == (4, 40)


def test_attainment_surfaces_come_from_moocore() -> None:
    c = _in_memory(_points_study(None, "better", BETTER), _points_study(None, "worse", WORSE))
    assert c.eaf is not None
    levels = sorted(set(c.eaf[:, 2]))
    assert levels == [50.0, 100.0]
    # attained by every study: what both fronts reach (worse's front, its (0.5, 4) only from
    # f1 = 1 on, where better reaches too); by at least one: the union's front
    every = c.eaf[c.eaf[:, 2] == 100.0][:, :2]
    assert {tuple(map(float, p)) for p in every} == {(1.0, 4.0), (1.5, 3.5), (2.5, 2.5)}
    some = c.eaf[c.eaf[:, 2] == 50.0][:, :2]
    assert {tuple(map(float, p)) for p in some} == {(0.5, 4.0), (1.0, 3.0), (2.0, 2.0), (3.0, 1.0)}
    html, figures = compare_html(c)
    assert set(figures) == {"fig-compare-front", "fig-attainment"}
    assert "attained by every study" in html and "better" in html and "https://" not in html.split("<script>")[0]


@pytest.mark.slow  # SQLite studies and the command
def test_studies_with_other_objectives_are_refused(tmp_path: Path, url: str) -> None:
    other = f"sqlite:///{tmp_path}/other.db"
    synthetic_study(10, name="errs", storage=other)
    with pytest.raises(paretolab.errors.UserError, match="other objectives"):
        compare([url, other], ["better", "errs"])
    output = cli("compare", url, other, "--study", "better", "--study", "errs", code=2)
    assert "error: study 'errs' has other objectives than 'better'" in output
    assert "Traceback" not in output


def test_three_objectives_compare_without_attainment_surfaces() -> None:
    c = _in_memory(*(synthetic_study(20, name=name, objectives=["a", "b", "c"], seed=seed)
                     for name, seed in (("x", 0), ("y", 1))))
    assert c.eaf is None and "two objectives" in c.eaf_note
    _, figures = compare_html(c)
    assert sorted(figures) == ["fig-compare-front-0-1", "fig-compare-front-0-2", "fig-compare-front-1-2"]


@pytest.mark.slow  # SQLite studies and the command
def test_the_command_prints_the_table_and_writes_the_page(url: str, tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    output = cli("compare", url, url, "--study", "better", "--study", "worse", "--out", str(out))
    assert "better" in output and "worse" in output and "2 of 3" in output
    assert "largest hypervolume: better" in output
    assert out.is_file() and "fig-attainment" in out.read_text()
    assert "at least two" in cli("compare", url, "--study", "better", code=2)
