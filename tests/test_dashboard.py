"""optuna-dashboard, opened on a study paretolab stored, sees the same constraints, the same front
and the weights themselves (issue 14.8). Called through the dashboard's own WSGI app and its own
Pareto-front code, no server."""

from __future__ import annotations

import io
import json
import textwrap
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from paretolab import runner
from paretolab.records import StudyMeta, front_summary, load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage

pytestmark = pytest.mark.slow  # one 8-trial study (about 8 s on a busy 2-core machine)

dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed")
from optuna_dashboard._pareto_front import get_pareto_front_trials  # noqa: E402


def _get(app: Any, path: str) -> Any:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, _headers, _exc=None: status.append(s)))
    assert status[0].startswith("200"), (status, body[:300])
    return json.loads(body)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, StudyMeta]:
    """A constrained toy study where the constraint cuts the unconstrained front."""
    tmp = tmp_path_factory.mktemp("dashboard")
    text = textwrap.dedent(f"""\
        name: dash
        task: {{ref: toy, params: {{start: [0.0, 0.0]}}}}
        objectives: [loss1, loss2]
        constraints: ['loss1 <= -10']
        train: {{lr: 0.05}}
        budget: {{trials: 8, steps: 60}}
        storage: sqlite:///{tmp / 'study.db'}
        workers: 1
        """)
    (tmp / "study.yaml").write_text(text)
    spec = parse_spec(text, filename=str(tmp / "study.yaml"), source=str(tmp / "study.yaml"))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name="dash", storage=open_storage(spec.storage_url))
    return study, StudyMeta.from_study(study)


def test_the_dashboard_shows_our_constraints_and_marks_our_front(stored) -> None:
    study, meta = stored
    records = load_records(study)
    ours = front_summary(meta, records).numbers
    unconstrained = [t.number for t in get_pareto_front_trials(study.trials, study.directions)]
    assert ours and set(ours) != set(unconstrained)  # the study tells the two apart

    app = dashboard.wsgi(study._storage)
    study_id = next(s["study_id"] for s in _get(app, "/api/studies")["study_summaries"] if s["study_name"] == "dash")
    detail = _get(app, f"/api/studies/{study_id}")
    by_number = {t["number"]: t for t in detail["trials"]}
    for r in records:  # every trial shows its violations, in the study file's order
        assert by_number[r.number]["constraints"] == pytest.approx(list(r.violations.values()))
    # The dashboard's Pareto-front plot marks as "Best Trial" the non-dominated feasible trials
    # (its front-end: feasible = every constraint <= 0, then its Pareto code): our front.
    feasible = [t for t in study.trials if t.state.name == "COMPLETE"
                and all(c <= 0 for c in by_number[t.number]["constraints"])]
    assert sorted(t.number for t in get_pareto_front_trials(feasible, study.directions)) == sorted(ours)


def test_the_dashboard_shows_the_weights_as_numbers(stored) -> None:
    study, meta = stored
    app = dashboard.wsgi(study._storage)
    study_id = next(s["study_id"] for s in _get(app, "/api/studies")["study_summaries"] if s["study_name"] == "dash")
    detail = _get(app, f"/api/studies/{study_id}")
    sortable = {a["key"] for a in detail["union_user_attrs"] if a["sortable"]}
    assert {f"w.{loss}" for loss in meta.losses} <= sortable  # plottable in the dashboard
    for trial, r in zip(detail["trials"], load_records(study)):
        shown = {a["key"]: float(a["value"]) for a in trial["user_attrs"] if a["key"].startswith("w.")}
        assert shown == pytest.approx({f"w.{k}": v for k, v in r.config["weights"].items()})
        assert sum(shown.values()) == pytest.approx(1.0)
