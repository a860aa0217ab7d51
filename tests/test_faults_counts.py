"""A full disk is named as the database names it, interrupted trials are counted apart from
failed ones with their signal, and a run without a terminal is never silent (issue 26, items 8
and 11)."""

from __future__ import annotations

import io
import sqlite3
import time

import optuna
from rich.console import Console

from paretolab.interrupts import Terminated, interrupt_signal
from paretolab.progress import StudyProgress
from paretolab.records import FailureRecord, interrupted, load_records
from paretolab.records.tally import tally
from paretolab.storage import storage_cause


def test_a_full_disk_is_named_without_sqlalchemys_autoflush_hint():
    import sqlalchemy.exc as sa_exc

    error = sa_exc.OperationalError("INSERT INTO trials ...", {}, sqlite3.OperationalError(
        "database or disk is full"))
    error.add_detail("raised as a result of Query-invoked autoflush; consider using a session.no_autoflush "
                     "block if this flush is occurring prematurely")
    assert storage_cause(error) == "database or disk is full"


def _study_with(*records: FailureRecord | None) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "minimize"])
    for record in records:
        trial = study.ask()
        if record is None:
            study.tell(trial, [1.0, 2.0])
        else:
            record.write(trial)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return study


def test_an_interrupted_trial_names_its_signal_and_is_not_counted_as_failed():
    assert interrupt_signal(Terminated()) == 15
    assert interrupted(15).reason == "interrupted (SIGTERM); redone on resume"
    assert interrupted(2).reason == "interrupted (Ctrl-C); redone on resume"
    # trial 0 was cut by SIGTERM, trial 1 redid it on resume, trial 2 failed for real
    study = _study_with(interrupted(15), None, FailureRecord("ValueError: broke"))
    c = tally(load_records(study))
    assert (c["COMPLETE"], c["FAIL"], c["INTERRUPTED"]) == (1, 1, 1)


def test_without_a_terminal_a_progress_line_appears_while_a_trial_runs():
    from test_report import make_meta

    study = _study_with(None, FailureRecord("ValueError: broke"))
    meta = make_meta("piped", ["a", "b"], ["minimize"] * 2, ["a", "b"], budget=4)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    with StudyProgress(study, meta, console=console, line_every=0.01):
        for _ in range(6000):  # no trial ends meanwhile: the line comes from the view's own thread
            if "best hypervolume" in buffer.getvalue():
                break
            time.sleep(0.01)
        shown = buffer.getvalue()
    assert "piped: 2/4 trials done" in shown and "trials done, 0 running, 1 failed, 0 pruned; best hypervolume" in shown
    assert "elapsed" in shown and "left" in shown
