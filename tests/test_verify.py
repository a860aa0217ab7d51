"""``paretolab verify``, ``budget.repeats`` and the verified pick: is the trade-off real?"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from scipy import stats

from paretolab.objective import repeat_seed
from paretolab.pick import pick
from paretolab.records import StudyMeta, count_done, front_summary, load_records
from paretolab.verify import verification, verify

from conftest import cli

NOISY_TASK = '''
import torch
from torch import nn

from paretolab.tasks.base import Task


class Noisy(Task):
    """Two losses of a 2-weight model; its random initialisation (the seed) moves the result."""

    losses = ("a", "b")
    metrics = ("a", "b")

    def build_model(self):
        return nn.Linear(1, 2, bias=False)

    def batches(self, batch_size, generator):
        while True:
            yield None

    def compute_losses(self, model, batch):
        w = model.weight.view(-1)
        return {"a": (w[0] - 1) ** 2, "b": (w[1] + 1) ** 2}

    def evaluate(self, model, device):
        w = model.weight.view(-1).detach()
        return {"a": float((w[0] - 1) ** 2), "b": float((w[1] + 1) ** 2)}
'''


def _noisy_study(tmp_path: Path, name: str, trials: int = 4, repeats: int = 1) -> Path:
    (tmp_path / "noisy.py").write_text(NOISY_TASK)
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        task: noisy.py:Noisy
        objectives: [a, b]
        train: {{lr: 0.01}}
        budget: {{trials: {trials}, steps: 3, repeats: {repeats}}}
        seed: 1
    """))
    return path


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the statistics on a hand-made study ----------------------------------------------------------
def _meta() -> StudyMeta:
    return StudyMeta(name="hand", objectives=["a", "b"], directions=["minimize", "minimize"],
                     refs=[None, None], constraints=[], losses=["a", "b"], trials_budget=2, spec={})


def _add(study: optuna.Study, values: list[float], seed: int, of: int | None = None) -> None:
    attrs = {"start": {"config": {"seed": seed}, "worker": 0}}
    if of is not None:
        attrs["repeat"] = {"of": of, "seed": seed}
    study.add_trial(optuna.create_trial(values=values, params={"x": 0.0},
                                        distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
                                        user_attrs=attrs))


def _hand_made() -> optuna.Study:
    """Trial 0 is a lucky draw (its repeats are far worse), trial 1 is real (its repeats agree)."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    _add(study, [0.5, 0.9], seed=1)
    _add(study, [0.7, 0.7], seed=2)
    for i, v in enumerate([[0.90, 1.00], [0.95, 0.95], [0.92, 0.98]]):
        _add(study, v, seed=10 + i, of=0)
    for i, v in enumerate([[0.71, 0.69], [0.69, 0.71], [0.70, 0.70]]):
        _add(study, v, seed=20 + i, of=1)
    return study


def test_a_lucky_draw_is_dominated_in_the_mean_and_a_real_point_is_robust() -> None:
    meta, records = _meta(), load_records(_hand_made())
    assert front_summary(meta, records).numbers == [0, 1]  # repeats never enter the raw front
    check = verification(meta, records)
    assert check.labels == {0: "dominated", 1: "robust"}
    assert check.front == [1]
    assert check.p_dominated[0] > 0.8 and check.p_dominated[1] < 0.05
    lucky = check.stats[0]
    # the fresh seeds only: the original draw (0.5, 0.9) was chosen for its luck, and stays shown
    assert lucky.n == 3 and lucky.repeats == 3 and lucky.original.tolist() == [0.5, 0.9]
    np.testing.assert_allclose(lucky.mean, [(0.9 + 0.95 + 0.92) / 3, (1 + 0.95 + 0.98) / 3])
    rows = np.array([[0.9, 1.0], [0.95, 0.95], [0.92, 0.98]])
    half = 4.302652729911275 * rows.std(axis=0, ddof=1) / np.sqrt(3)  # t(0.975, 2) s / sqrt(3)
    np.testing.assert_allclose(lucky.ci, half, rtol=1e-6)


def _judged(fresh: dict[int, list[list[float]]]) -> dict[int, float]:
    """P(dominated) of configurations 0, 1, ... whose fresh draws are given (originals at 9, 9)."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    for n in fresh:
        _add(study, [9.0, 9.0], seed=n)
    for n, rows in fresh.items():
        for k, v in enumerate(rows):
            _add(study, v, seed=100 * (n + 1) + k, of=n)
    return verification(_meta(), load_records(study)).p_dominated


def test_p_dominated_uses_t_marginals_at_two_seeds() -> None:
    """Configuration 0: draws (0, 0) and (1, 0), mean 0.5, standard error 0.5 on a; config 1
    sits at (0, -1) exactly. 1 dominates 0 when 0's true a is above 0, one standard error
    below its mean: P = P(T_1 > -1) = 0.75 under Student's t with one degree of freedom (a
    normal approximation says 0.84)."""
    p = _judged({0: [[0.0, 0.0], [1.0, 0.0]], 1: [[0.0, -1.0], [0.0, -1.0]]})
    assert p[0] == pytest.approx(0.75, abs=0.03)
    assert p[1] == 0.0


def test_p_dominated_uses_the_covariance_between_objectives() -> None:
    """Configuration 0's seeds trade a against b (correlation -1): its true mean can be above
    (0.45, 0.45) on both only within 0.05 of its mean along that line, P(|T_2| < 0.173) = 0.12;
    drawn independently per objective that would be 0.56^2 = 0.32."""
    p = _judged({0: [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], 1: [[0.45, 0.45]] * 3})
    assert p[0] == pytest.approx(2 * stats.t.cdf(0.05 / (0.5 / np.sqrt(3)), 2) - 1, abs=0.03)
    assert p[0] < 0.2


def test_only_the_fresh_seeds_give_the_verdict() -> None:
    """The original (0.1, 0.1) dominates the other configuration; its fresh seeds do not: robust
    by its original it would be, dominated by its fresh seeds it is."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    _add(study, [0.1, 0.1], seed=1)  # lucky
    _add(study, [0.5, 0.5], seed=2)
    for k in range(2):
        _add(study, [0.6 + 0.01 * k, 0.6], seed=10 + k, of=0)
        _add(study, [0.5, 0.5 + 0.01 * k], seed=20 + k, of=1)
    check = verification(_meta(), load_records(study))
    assert check.front == [1] and check.labels[0] == "dominated"
    assert check.stats[0].original.tolist() == [0.1, 0.1]


def test_budget_repeats_alone_give_intervals_but_no_verdict() -> None:
    """The seeds of ``budget.repeats`` are the trial's own: they chose it, so they describe it
    (mean and interval) but do not verify it."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.add_trial(optuna.create_trial(
        values=[0.5, 0.5], params={"x": 0.0}, distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
        user_attrs={"start": {"config": {"seed": 1}, "worker": 0},
                    "result": {"seeds": [{"seed": 1, "metrics": {"a": 0.4, "b": 0.6}},
                                         {"seed": 2, "metrics": {"a": 0.6, "b": 0.4}}]}}))
    check = verification(_meta(), load_records(study))
    assert check.verified == [0] and check.stats[0].n == 2 and not check.stats[0].fresh
    assert check.front == [] and check.labels == {0: "unverified"}


def test_the_report_marks_the_knee_pick_chooses_on_the_verified_front() -> None:
    """Raw front: trials 0 and 1 (a tie on the raw knee, which went to trial 0); after the
    repeats only trial 1 is on the verified front, and the report's knee is pick's: trial 1."""
    from paretolab.report.data import ReportData

    data = ReportData.build(_meta(), load_records(_hand_made()))
    assert data.complete[data.knee].number == 1


def test_repeats_do_not_count_toward_the_budget() -> None:
    study = _hand_made()
    assert count_done(study) == 2


# --- verify on a real study -----------------------------------------------------------------------
@pytest.mark.slow
def test_verify_stores_repeats_and_a_second_run_does_only_the_missing_ones(here: Path) -> None:
    path = _noisy_study(here, "resume")
    cli("run", str(path))
    study_before = load_records(optuna.load_study(study_name="resume",
                                                  storage="sqlite:///reports/resume/study.db"))
    front = [n for n in front_summary(StudyMeta(**optuna.load_study(
        study_name="resume", storage="sqlite:///reports/resume/study.db").user_attrs["paretolab"]),
        study_before).numbers]

    def stop_after_one(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verify(str(path), seeds=2, after_repeat=stop_after_one, write=False)
    again = verify(str(path), seeds=2)
    planned = 2 * len(front)
    assert again.already == 1 and again.ran == planned - 1
    study = optuna.load_study(study_name="resume", storage="sqlite:///reports/resume/study.db")
    records = load_records(study)
    repeats = [r for r in records if r.repeat is not None]
    assert len(repeats) == planned and all(r.state == "COMPLETE" for r in repeats)
    assert {(r.repeat.of, r.repeat.seed) for r in repeats} == {
        (r.number, repeat_seed(r.config["seed"], k)) for r in records if r.number in front for k in (1, 2)}
    assert count_done(study) == 4  # the budget is the study's own trials
    meta = StudyMeta.from_study(study)
    assert front_summary(meta, records).numbers == front
    third = verify(str(path), seeds=2, write=False)
    assert third.ran == 0 and third.already == planned
    # the tables carry the means, intervals and repeat counts
    import pandas as pd

    table = pd.read_csv(here / "reports" / "resume" / "front.csv")
    assert {"mean:a", "ci:a", "mean:b", "ci:b", "repeats", "verdict"} <= set(table.columns)
    assert (table["repeats"] == 2).all() and table["ci:a"].notna().all()
    assert set(table["trial"]) == set(front)
    page = (here / "reports" / "resume" / "report.html").read_text()
    assert "verified: mean" in page  # the means with their intervals on the front figure
    assert f"of {len(front)} front points robust" in page


@pytest.mark.slow
def test_budget_repeats_objectives_are_the_means_of_their_seeds(here: Path) -> None:
    path = _noisy_study(here, "means", trials=2, repeats=3)
    cli("run", str(path))
    study = optuna.load_study(study_name="means", storage="sqlite:///reports/means/study.db")
    for r in load_records(study):
        seeds = r.result.seeds
        assert [s["seed"] for s in seeds] == [repeat_seed(r.config["seed"], k) for k in range(3)]
        assert seeds[0]["seed"] == r.config["seed"]  # the first is the trial seed
        per_seed = np.array([[s["metrics"]["a"], s["metrics"]["b"]] for s in seeds])
        assert np.ptp(per_seed[:, 0]) > 0  # the seeds differ
        np.testing.assert_allclose(r.values, per_seed.mean(axis=0))


@pytest.mark.slow
def test_pick_on_a_verified_study_picks_a_verified_point_and_raw_does_not_need_to(here: Path) -> None:
    path = _noisy_study(here, "picked", trials=6)
    cli("run", str(path))
    text = cli("verify", str(path), "--seeds", "2")
    study = optuna.load_study(study_name="picked", storage="sqlite:///reports/picked/study.db")
    check = verification(StudyMeta.from_study(study), load_records(study))
    assert f"ran {2 * len(check.raw_front)} repeats, 0 already stored" in text
    assert f"front points are robust; verified front: trials {', '.join(map(str, check.front))}" in text
    choice, _, written = pick(str(path))
    assert choice.verified and choice.record.number in check.front
    doc = yaml.safe_load(written.read_text())
    assert doc["verified"] is True
    np.testing.assert_allclose(list(doc["objectives"].values()), check.stats[choice.record.number].mean)
    raw, _, written = pick(str(path), raw=True)
    assert not raw.verified and raw.record.number in check.raw_front
    assert yaml.safe_load(written.read_text())["verified"] is False
    text = cli("pick", str(path))
    assert "verified points" in text
    assert "verified points" not in cli("pick", str(path), "--raw")


STOPPING_TASK = NOISY_TASK + '''

class Stopping(Noisy):
    """Noisy, but the training that finds 'stop' holding 0 is cut by a Ctrl-C (others count it down)."""

    def build_model(self):
        import os

        if os.path.exists("stop"):
            left = int(open("stop").read())
            if left == 0:
                os.remove("stop")
                raise KeyboardInterrupt
            open("stop", "w").write(str(left - 1))
        return super().build_model()
'''


@pytest.mark.slow
def test_ctrl_c_during_a_repeat_keeps_the_finished_ones_and_the_next_verify_runs_the_rest(here: Path) -> None:
    path = _noisy_study(here, "cut")
    (here / "noisy.py").write_text(STOPPING_TASK)
    path.write_text(path.read_text().replace("noisy.py:Noisy", "noisy.py:Stopping"))
    cli("run", str(path))
    (here / "stop").write_text("1")  # the first repeat trains, the second is cut
    text = cli("verify", str(path), "--seeds", "2", code=130)
    assert "interrupted: 1 of" in text and "run the same command again" in text
    storage = "sqlite:///reports/cut/study.db"
    records = load_records(optuna.load_study(study_name="cut", storage=storage))
    cut = [r for r in records if r.repeat is not None and r.state == "FAIL"]
    assert len(cut) == 1 and cut[0].failure is not None and cut[0].failure.interrupted
    assert sum(r.repeat is not None and r.state == "COMPLETE" for r in records) == 1
    planned = 2 * len(front_summary(StudyMeta.from_study(optuna.load_study(study_name="cut", storage=storage)),
                                    records).numbers)
    text = cli("verify", str(path), "--seeds", "2")
    assert f"ran {planned - 1} repeats, 1 already stored" in text
    assert f"{planned - 1}/{planned - 1}" in text  # the progress bar's last state
    records = load_records(optuna.load_study(study_name="cut", storage=storage))
    assert sum(r.repeat is not None and r.state == "COMPLETE" for r in records) == planned
