"""User code that exits or raises KeyboardInterrupt itself fails its trial, a real interrupt still
interrupts, and a trial_timeout a function trainer cannot honour is refused (issue 26, items 1-2)."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import optuna
import pytest

from paretolab import runner
from paretolab.errors import SpecError
from paretolab.records import load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage

TRAINERS = """\
import os, signal, sys


def exits(trial):
    sys.exit(3)


def raises_interrupt(trial):
    raise KeyboardInterrupt


def ctrl_c(trial):
    os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C of the process
    for _ in range(10 ** 8):
        pass
    return {"loss1": 0.0, "loss2": 0.0}
"""


def _spec(tmp_path: Path, attr: str, budget: str = "") -> object:
    (tmp_path / "fns.py").write_text(TRAINERS)
    text = textwrap.dedent(f"""\
        name: fn-{attr.replace('_', '-')}
        trainer: {{function: fns.py:{attr}}}
        losses: [a, b]
        objectives: [loss1, loss2]
        budget: {{trials: 2, steps: 2{budget}}}
        """)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return parse_spec(text, filename=str(path), source=str(path))


def _run(spec) -> tuple[runner.RunOutcome, list]:
    outcome = runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    return outcome, load_records(study)


@pytest.mark.slow  # runs a study (imports torch)
@pytest.mark.parametrize("attr,reason", [
    ("exits", "called sys.exit(3)"),
    ("raises_interrupt", "raised KeyboardInterrupt itself"),
])
def test_a_function_that_exits_or_raises_keyboard_interrupt_fails_its_trial_and_the_run_goes_on(
        tmp_path, monkeypatch, attr, reason):
    monkeypatch.chdir(tmp_path)
    outcome, records = _run(_spec(tmp_path, attr))
    assert not outcome.interrupted and outcome.stop_signal is None
    assert [r.state for r in records] == ["FAIL", "FAIL"]
    for r in records:
        assert r.failure is not None and reason in r.failure.reason
        assert r.counts_toward_budget  # a failure, not an interrupt redone on every resume


@pytest.mark.slow
def test_a_real_ctrl_c_during_a_function_trial_still_interrupts_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        outcome, records = _run(_spec(tmp_path, "ctrl_c"))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcome.interrupted and outcome.stop_signal == 2
    assert [r.state for r in records] == ["FAIL"]
    assert not records[0].counts_toward_budget  # interrupted: redone on resume


def test_trial_timeout_is_refused_for_a_function_trainer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="trial_timeout applies to command trainers only") as info:
        check_study(_spec(tmp_path, "exits", budget=", trial_timeout: 5"))
    assert "study.yaml" in info.value.render()
