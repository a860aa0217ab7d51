"""The front tables of ``run``, ``status`` and ``pick`` show what was chosen (issue 30, item 4)."""

from __future__ import annotations

import re

from rich.console import Console

from paretolab.front_view import balancer_searched, balancer_text, settings_text
from paretolab.records import StudyMeta, load_records
from paretolab.status import read_status, render_status

from test_report import synthetic_study


def _text(renderable) -> str:
    console = Console(width=200, record=True, highlight=False)
    console.print(renderable)
    return console.export_text()


def test_status_shows_weights_balancer_constraint_metric_and_feasible_counts() -> None:
    study = synthetic_study(30, constrained=True, balancers=("static", "mgda"))
    status = read_status(study, StudyMeta.from_study(study))
    text = _text(render_status(status))
    complete = [r for r in status.records if r.state == "COMPLETE"]
    feasible = sum(r.feasible for r in complete)
    assert len(status.summary.points) == len(status.summary.numbers)  # no two trials at one point
    assert (f"current front ({len(status.summary.numbers)} of {len(complete)} complete trials: "
            f"{feasible} feasible, {len(complete) - feasible} infeasible)") in text
    header = next(line for line in text.splitlines() if "trial" in line and "w:loss0" in line)
    for column in ("error (min)", "sparsity (max)", "violation", "w:loss0", "w:loss1", "balancer", "feasible"):
        assert column in header
    by_number = {r.number: r for r in status.records}
    for number in status.summary.numbers:  # each front row: its weights and its balancer
        r = by_number[number]
        row = next(line for line in text.splitlines() if re.match(rf"\W*{number}\s", line))
        assert f"{r.config['weights']['loss0']:.3f}" in row and r.config["balancer"]["method"] in row


def test_the_balancer_column_only_when_it_was_searched() -> None:
    one = synthetic_study(12, balancers=("static",))
    records = load_records(one)
    assert not balancer_searched(records)
    assert "balancer" not in _text(render_status(read_status(one, StudyMeta.from_study(one))))
    assert "front" in _text(render_status(read_status(one, StudyMeta.from_study(one))))
    assert balancer_searched(load_records(synthetic_study(12, balancers=("static", "mgda"))))


def test_balancer_settings_read_as_text() -> None:
    assert settings_text({"alpha": 1.23456, "schedule": "linear"}) == "alpha=1.235, schedule=linear"
    study = synthetic_study(3, balancers=("static",))
    r = load_records(study)[0]
    r.user_attrs["knobs"] = {"static.alpha": 0.5, "lr": 0.1}
    assert balancer_text(r) == "static (alpha=0.5)"
