"""Experiment trackers: a real run logged to a real local MLflow store and real TensorBoard event
files, read back with MLflow's client and TensorBoard's EventAccumulator."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.errors import SpecError
from paretolab.records import StudyMeta, front_summary, load_records
from paretolab.spec import load_spec
from paretolab.trackers import open_trackers

runner = CliRunner()
STUDY = """\
    name: toy-trackers
    task: {ref: toy, params: {start: [0.0, 0.0]}}
    objectives: [loss1, loss2]
    train: {lr: 0.05}
    budget: {trials: 3, steps: 10}
    seed: 1
"""


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    root = tmp_path_factory.mktemp("trackers")
    (root / "study.yaml").write_text(textwrap.dedent(STUDY) + textwrap.dedent(f"""\
        log:
          mlflow: {{tracking_uri: "sqlite:///{root.as_posix()}/mlflow.db", experiment: paretolab-toy}}
          tensorboard: {{dir: tb}}
    """))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for _ in range(2):  # the second run resumes a finished study: nothing is logged twice
            result = runner.invoke(app, ["run", "study.yaml", "--no-progress"])
            assert result.exit_code == 0, result.output
    return root


def _stored(root: Path) -> tuple[StudyMeta, list]:
    study = optuna.load_study(study_name="toy-trackers",
                              storage=f"sqlite:///{root / 'reports' / 'toy-trackers' / 'study.db'}")
    return StudyMeta.from_study(study), load_records(study)


@pytest.mark.slow
def test_mlflow_store_holds_every_trial_and_the_front(tracked_run: Path) -> None:
    from mlflow import MlflowClient

    meta, records = _stored(tracked_run)
    summary = front_summary(meta, records)
    client = MlflowClient(tracking_uri=f"sqlite:///{tracked_run.as_posix()}/mlflow.db")
    experiment = client.get_experiment_by_name("paretolab-toy")
    runs = client.search_runs([experiment.experiment_id])
    trials = {int(r.data.tags["paretolab.trial"]): r for r in runs
              if r.data.tags["paretolab.trial"] != "front"}
    assert sorted(trials) == [r.number for r in records] == [0, 1, 2]  # once each, after two runs
    for record in records:
        run = trials[record.number]
        assert run.info.run_name == f"trial {record.number}" and run.info.status == "FINISHED"
        assert run.data.params["balancer"] == record.config["balancer"]["method"]
        for loss, weight in record.config["weights"].items():
            assert float(run.data.params[f"weight.{loss}"]) == pytest.approx(weight)
        for name, value in zip(meta.objectives, record.values):
            assert run.data.metrics[f"objective.{name}"] == pytest.approx(value)
        curve = record.result.curves
        history = client.get_metric_history(run.info.run_id, "curve.loss1")
        assert [m.step for m in history] == curve["step"]
        assert [m.value for m in history] == pytest.approx(curve["loss1"])
        assert (run.data.tags.get("paretolab.on_front") == "true") == (record.number in summary.numbers)
    fronts = [r for r in runs if r.data.tags["paretolab.trial"] == "front"]
    assert len(fronts) == 1
    assert fronts[0].data.metrics["hypervolume"] == pytest.approx(summary.hypervolume)
    assert fronts[0].data.tags["paretolab.front_trials"] == ",".join(map(str, sorted(summary.numbers)))


@pytest.mark.slow
def test_tensorboard_event_files_hold_curves_objectives_and_the_front(tracked_run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    meta, records = _stored(tracked_run)
    summary = front_summary(meta, records)
    folder = tracked_run / "tb"
    assert sorted(p.name for p in folder.iterdir()) == ["front", "trial-0", "trial-1", "trial-2"]
    for record in records:
        events = EventAccumulator(str(folder / f"trial-{record.number}"))
        events.Reload()
        curve = record.result.curves
        loss1 = events.Scalars("curve/loss1")
        assert [e.step for e in loss1] == curve["step"]
        assert [e.value for e in loss1] == pytest.approx(curve["loss1"], rel=1e-6)
        for name, value in zip(meta.objectives, record.values):
            assert events.Scalars(f"objective/{name}")[-1].value == pytest.approx(value, rel=1e-6)
        assert len(list((folder / f"trial-{record.number}").glob("events.out.tfevents.*"))) >= 1
    front = EventAccumulator(str(folder / "front"))
    front.Reload()
    assert sorted(e.step for e in front.Scalars("front/loss1")) == sorted(summary.numbers)
    assert front.Scalars("front/hypervolume")[-1].value == pytest.approx(summary.hypervolume, rel=1e-6)


def test_no_log_section_means_no_tracker(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text(textwrap.dedent(STUDY))
    spec = load_spec(tmp_path / "study.yaml")
    meta = StudyMeta.from_spec(spec, ["loss1", "loss2"])
    assert not open_trackers(spec, meta)
    assert spec.log.mlflow is None and spec.log.tensorboard is None and spec.log.wandb is None


def test_a_tracker_without_its_library_is_a_clear_user_error(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "study.yaml").write_text(textwrap.dedent(STUDY) + "log: {wandb: {mode: offline}}\n")
    spec = load_spec(tmp_path / "study.yaml")
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "paretolab.trackers.wandb", raising=False)
    with pytest.raises(SpecError) as err:
        open_trackers(spec, StudyMeta.from_spec(spec, ["loss1", "loss2"]))
    assert "log.wandb needs the wandb package" in err.value.render()
    assert err.value.exit_code == 2


def test_log_section_rejects_unknown_trackers(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text(textwrap.dedent(STUDY) + "log: {neptune: {}}\n")
    with pytest.raises(SpecError):
        load_spec(tmp_path / "study.yaml")


def test_readme_tracker_section_is_a_valid_log_section() -> None:
    import yaml

    from paretolab.spec.models import LogSpec

    from conftest import README

    section = README.read_text().split("## Experiment trackers", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    log = LogSpec.model_validate(yaml.safe_load(block)["log"])
    assert log.mlflow is not None and log.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert log.tensorboard is not None and log.tensorboard.dir == "runs" and log.wandb is None


@pytest.mark.slow  # over 0.9 s
def test_a_tracker_that_cannot_start_is_a_warning_only(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("mlflow")
    (tmp_path / "study.yaml").write_text(textwrap.dedent(STUDY) + textwrap.dedent(f"""\
        log:
          mlflow: {{tracking_uri: "nosuchscheme://{tmp_path.as_posix()}"}}
          tensorboard: {{}}
    """))
    spec = load_spec(tmp_path / "study.yaml")
    trackers = open_trackers(spec, StudyMeta.from_spec(spec, ["loss1", "loss2"]))
    assert [type(t).__name__ for t in trackers.trackers] == ["TensorboardTracker"]
    assert "log.mlflow: not logging this worker's trials" in caplog.text


@pytest.mark.slow
def test_a_trial_logged_twice_is_logged_once(tracked_run: Path) -> None:
    """Another worker, or a resumed run, sending a trial again adds no run and no event file."""
    from mlflow import MlflowClient

    from paretolab.trackers.mlflow import MlflowTracker
    from paretolab.trackers.tensorboard import TensorboardTracker

    meta, records = _stored(tracked_run)
    uri = f"sqlite:///{tracked_run.as_posix()}/mlflow.db"
    events = sorted((tracked_run / "tb" / "trial-0").iterdir())
    MlflowTracker(meta, uri, "paretolab-toy").on_trial(records[0])
    TensorboardTracker(meta, tracked_run / "tb").on_trial(records[0])
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("paretolab-toy").experiment_id])
    assert sorted(r.data.tags["paretolab.trial"] for r in runs) == ["0", "1", "2", "front"]
    assert sorted((tracked_run / "tb" / "trial-0").iterdir()) == events
