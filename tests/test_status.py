"""``paretolab status``: counts, running trials, the front and its hypervolume, read from storage."""

from __future__ import annotations

import shutil
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.locate import open_source
from paretolab.records import front_summary, load_records

from test_report import synthetic_study

runner = CliRunner()


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real in-process run of the toy task (4 trials, 10 steps); returns (root, run output)."""
    root = tmp_path_factory.mktemp("status")
    (root / "study.yaml").write_text(textwrap.dedent("""\
        name: toy-status
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        train: {lr: 0.05}
        budget: {trials: 4, steps: 10}
        seed: 1
    """))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = runner.invoke(app, ["run", "study.yaml"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return root, result.output


def _copy(root: Path, tmp_path: Path) -> Path:
    """The study's folder copied, so a test can add trials without touching the others'."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(root / "reports" / "toy-status" / "study.db", copy / "study.db")
    return copy


@pytest.mark.slow
def test_run_says_the_report_can_be_regenerated_any_time(toy_run: tuple[Path, str]) -> None:
    text = " ".join(toy_run[1].split())
    assert text.count("regenerated at any time from storage") == 1
    assert "paretolab report study.yaml" in text and "paretolab status study.yaml" in text


@pytest.mark.slow
def test_status_shows_counts_front_and_hypervolume(toy_run: tuple[Path, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = toy_run
    monkeypatch.chdir(root)
    source = open_source("reports/toy-status")
    summary = front_summary(source.meta, load_records(source.study))
    for target in (["reports/toy-status"], ["study.yaml"],
                   ["sqlite:///reports/toy-status/study.db", "--study", "toy-status"]):
        out = invoke("status", *target)
        assert "toy-status: 4 of 4 trials done (4 complete, 0 failed, 0 pruned), 0 running" in out
        assert f"current front ({len(summary.numbers)} of 4 complete trials)" in out
        assert f"hypervolume {summary.hypervolume:.6g}" in out
        rows = {int(line.split()[1]) for line in out.splitlines()
                if line.startswith("│") and line.split()[1].isdigit()}
        assert rows == set(summary.numbers)


@pytest.mark.slow
def test_status_sees_trials_of_other_workers(toy_run: tuple[Path, str], tmp_path: Path) -> None:
    """A trial running on another machine and one that failed there show up, read from storage."""
    copy = _copy(toy_run[0], tmp_path)
    study = optuna.load_study(study_name="toy-status", storage=f"sqlite:///{copy / 'study.db'}")
    failed = study.ask()
    failed.set_user_attr("failure", "CUDA out of memory")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    running = study.ask()
    running.set_user_attr("start", {"config": {}, "worker": 1, "host": "gpu-box:4242"})
    out = invoke("status", str(copy))
    assert "5 of 4 trials done (4 complete, 1 failed, 0 pruned), 1 running" in out
    assert f"trial {running.number} running on gpu-box:4242" in out


@pytest.mark.slow
def test_watch_refreshes_until_ctrl_c(toy_run: tuple[Path, str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy(toy_run[0], tmp_path)
    study = optuna.load_study(study_name="toy-status", storage=f"sqlite:///{copy / 'study.db'}")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # another worker starts a trial, then the user hits Ctrl-C
        sleeps.append(seconds)
        if len(sleeps) == 1:
            study.ask()
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    out = invoke("status", str(copy), "--watch", "--every", "0.5")
    assert sleeps == [0.5, 0.5]
    assert "1 running" in out  # the view after the refresh
    sleeps.clear()
    invoke("status", str(copy), "--watch")
    assert sleeps == [5.0, 5.0]  # --watch alone: every 5 s
    out = invoke("status", str(copy), "--watch", "--every", "0", code=2)
    assert "--every must be a positive number" in out
    assert "--every <seconds>" in " ".join(invoke("status", "--help").split())


def test_status_errors_are_one_line(tmp_path: Path) -> None:
    out = invoke("status", str(tmp_path / "nope"), code=2)
    assert out.startswith("error:") and "Traceback" not in out



def test_status_of_a_stored_study_with_failures_and_constraints(tmp_path: Path) -> None:
    """Fast (no training): a stored study with failed, pruned and infeasible trials."""
    url = f"sqlite:///{tmp_path / 'other.db'}"
    study = synthetic_study(20, name="elsewhere", storage=url, constrained=True)
    records = load_records(study)
    meta = open_source(url, "elsewhere").meta
    summary = front_summary(meta, records)
    c = {s: sum(r.state == s for r in records) for s in ("COMPLETE", "FAIL", "PRUNED")}
    assert c["FAIL"] and c["PRUNED"]
    out = invoke("status", url, "--study", "elsewhere")
    assert (f"elsewhere: 20 of 20 trials done ({c['COMPLETE']} complete, {c['FAIL']} failed, "
            f"{c['PRUNED']} pruned), 0 running") in out
    assert f"hypervolume {summary.hypervolume:.6g}" in out
    rows = {int(line.split()[1]) for line in out.splitlines()
            if line.startswith("│") and line.split()[1].isdigit()}
    assert rows == set(summary.numbers)


@pytest.mark.slow
def test_status_names_the_cluster_worker_of_a_running_trial(toy_run: tuple[Path, str], tmp_path: Path) -> None:
    """A Slurm job's (or Ray task's) trial shows its worker label beside its node."""
    copy = _copy(toy_run[0], tmp_path)
    study = optuna.load_study(study_name="toy-status", storage=f"sqlite:///{copy / 'study.db'}")
    running = study.ask()
    running.set_user_attr("start", {"config": {}, "worker": "slurm-4711_1", "host": "node7:99"})
    out = invoke("status", str(copy))
    assert f"trial {running.number} running on node7:99 (worker slurm-4711_1)" in out
