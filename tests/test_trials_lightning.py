"""examples/lightning_loop (issue 16): PyTorch Lightning's own loop as a function trial, with the
trial's balancer in ``training_step`` and a callback's reports pruned by MO-ASHA."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import optuna
import pytest

from paretolab import runner
from paretolab.records import StudyMeta, front_summary, load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]
HAVE_LIGHTNING = importlib.util.find_spec("pytorch_lightning") is not None
REQUIRED = os.environ.get("PARETOLAB_REQUIRE_SYSTEM") == "1"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LIGHTNING and not REQUIRED,
                    reason="pytorch-lightning is not installed (pip install 'paretolab[examples]')")
def test_the_lightning_example_runs_end_to_end_and_prunes(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples" / "lightning_loop", tmp_path / "lightning_loop")
    path = tmp_path / "lightning_loop" / "study.yaml"
    text = path.read_text()
    # a tiny budget; a rung that prunes from the second trial on (no agreement guard, no controls)
    text = text.replace("trials: 8", "trials: 3").replace("steps: 80", "steps: 40").replace(
        "pruning: {method: moasha, min_steps: 20, eta: 2}",
        "pruning: {method: moasha, min_steps: 20, eta: 2, min_trials: 1, min_agreement: null, "
        "control_share: 0}")
    assert "control_share: 0" in text and "trials: 3" in text
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    records = load_records(study)
    states = [r.state for r in records]
    assert states[0] == "COMPLETE" and "FAIL" not in states, [r.failure for r in records]
    assert records[0].result.curves["step"] == [10, 20, 30, 40]  # each validation is a curve point
    # every later trial either beat the first at the rung and went on, or was stopped there
    for r in records[1:]:
        assert r.result.curves["step"][-1] == (20 if r.state == "PRUNED" else 40)
    # seed 0: the third trial is dominated at the rung; paretolab.TrialPruned, raised in the
    # callback, stopped trainer.fit and the trial is recorded as pruned
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert records[2].result.pruned_at == 20
    summary = front_summary(StudyMeta.from_study(study), records)
    assert summary.numbers, "no front"
    folder = spec.study_dir / "trials" / "0"
    assert (folder / "model.pt").is_file()
    assert {p.name for p in folder.iterdir()} == {"model.pt"}  # no logger or checkpoint files
    assert (spec.study_dir / "report.html").is_file()
