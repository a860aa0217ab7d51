"""A command trial's metrics lines: the last one without its newline is read, and each kind of
bad step or value is one clear failure (issue 26, item 5)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from paretolab.errors import TrialFailure
from paretolab.trials.command import run_command
from paretolab.trials.context import ReportLog
from paretolab.trials.metrics_lines import MetricsTail

ROOT = Path(__file__).resolve().parents[1]


def _tail(tmp_path: Path, text: str, max_steps: int | None = 10) -> MetricsTail:
    path = tmp_path / "metrics.jsonl"
    path.write_text(text)
    return MetricsTail(path, max_steps=max_steps)


def test_the_last_line_without_a_newline_is_read_once_the_program_ended(tmp_path):
    tail = _tail(tmp_path, '{"step": 1, "e1": 0.5}\n{"step": 2, "e1": 0.25}')
    assert tail.read() == [(1, {"e1": 0.5})]  # still running: the line may be half-written
    assert tail.read(final=True) == [(2, {"e1": 0.25})]


@pytest.mark.parametrize("line,message", [
    ('{"step": Infinity, "e1": 1}', "the step must be a whole number, got inf"),
    ('{"step": 1e300, "e1": 1}', "beyond the trial's 10 steps"),
    ('{"step": 11, "e1": 1}', "beyond the trial's 10 steps"),
    ('{"step": true, "e1": 1}', "the step must be a whole number, got true"),
    ('{"step": 2.7, "e1": 1}', "the step must be a whole number, got 2.7"),
    ('{"step": "3", "e1": 1}', 'the step must be a whole number, got "3"'),
    ('{"step": -1, "e1": 1}', "must not be negative"),
    ('{"step": 1, "e1": 1' + "0" * 400 + "}", "metric 'e1' is too large for a float"),
    ('{"step": 1, "e1": [1]}', "metric 'e1' must be a number"),
    ('{"e1": 1}', 'a line is not {"step": n, "metric": value}'),
    ("[1, 2]", 'a line is not {"step": n, "metric": value}'),
])
def test_a_bad_metrics_line_is_one_clear_failure(tmp_path, line, message):
    with pytest.raises(TrialFailure) as info:
        _tail(tmp_path, line + "\n").read()
    assert message in str(info.value) and "metrics.jsonl" in str(info.value)


def test_decreasing_steps_fail_and_equal_or_whole_float_steps_do_not(tmp_path):
    assert _tail(tmp_path, '{"step": 2, "e": 1}\n{"step": 2.0, "e": 2}\n').read() == \
        [(2, {"e": 1.0}), (2, {"e": 2.0})]
    with pytest.raises(TrialFailure, match="step 1 comes after step 3: steps must not decrease"):
        _tail(tmp_path, '{"step": 3, "e": 1}\n{"step": 1, "e": 2}\n').read()


def test_a_huge_reported_value_in_a_function_trial_is_a_clear_failure():
    with pytest.raises(TrialFailure, match="numbers a float can hold"):
        ReportLog().add(1, {"e1": 10 ** 400})


@pytest.mark.slow  # starts a process
def test_a_command_whose_last_report_has_no_newline_completes(tmp_path):
    code = ("import os; f = open(os.environ['PARETOLAB_METRICS'], 'a'); "
            "f.write('{\"step\": 1, \"e1\": 0.5}\\n{\"step\": 2, \"e1\": 0.25}'); f.close()")
    config = {"params": {}, "weights": {"a": 1.0}, "steps": 2, "seed": 0}
    result = run_command([sys.executable, "-c", code], config, tmp_path / "t", ReportLog(),
                         cwd=tmp_path, grace=0.5)
    assert result.metrics == {"e1": 0.25} and result.steps == 2
    assert os.path.exists(tmp_path / "t" / "metrics.jsonl")
