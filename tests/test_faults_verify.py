"""A repeat left RUNNING by a SIGKILLed ``paretolab verify`` is swept like a lost trial and run
again by the next verify (issue 26, item 7)."""

from __future__ import annotations

import sqlite3
import textwrap

import optuna
import pytest
from test_verify import NOISY_TASK

from paretolab.records import RepeatRecord, load_records
from paretolab.verify import verify

from conftest import cli


@pytest.mark.slow  # runs a study and a verify
def test_a_repeat_left_running_by_a_killed_verify_is_swept_and_redone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "noisy.py").write_text(NOISY_TASK)
    path = tmp_path / "killed.yaml"
    path.write_text(textwrap.dedent("""\
        name: killed
        task: noisy.py:Noisy
        objectives: [a, b]
        budget: {trials: 3, steps: 2}
        seed: 1
        """))
    cli("run", str(path), "--no-progress")
    db = tmp_path / "reports" / "killed" / "study.db"
    storage = f"sqlite:///{db}"
    study = optuna.load_study(study_name="killed", storage=storage)
    first = load_records(study)[0]
    # what a verify killed with SIGKILL leaves: its repeat RUNNING, its last heartbeat long ago
    study.enqueue_trial(study.trials[first.number].params,
                        user_attrs={"repeat": RepeatRecord(first.number, 12345).to_attr()})
    trial = study.ask()
    storages = optuna.storages.RDBStorage(storage)
    storages.record_heartbeat(trial._trial_id)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00'")
    assert [t.number for t in study.get_trials(states=[optuna.trial.TrialState.RUNNING])] == [trial.number]

    verify(str(path), seeds=1, write=False)

    study = optuna.load_study(study_name="killed", storage=storage)
    assert not study.get_trials(states=[optuna.trial.TrialState.RUNNING])  # nothing "running on ?"
    swept = study.trials[trial.number]
    assert swept.state == optuna.trial.TrialState.FAIL
    redone = [r for r in load_records(study) if r.repeat is not None and r.repeat.seed == 12345]
    assert [r.state for r in redone] == ["FAIL", "COMPLETE"]  # the lost attempt, then its redo
    assert "running" not in cli("status", str(path)).split("trials done")[1].split("\n")[0].replace(
        "0 running", "")
