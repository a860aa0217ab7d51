"""examples/trl_grpo (issue 28): TRL's GRPOTrainer tuned by paretolab, as a function trial and
as a command trial, on a tiny GPT-2 built in code. Two trials of two steps each."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
from pathlib import Path

import optuna
import pytest

from paretolab import runner
from paretolab.records import load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]
HAVE_TRL = all(importlib.util.find_spec(m) is not None for m in ("trl", "transformers", "datasets"))
REQUIRED = os.environ.get("PARETOLAB_REQUIRE_SYSTEM") == "1"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAVE_TRL and not REQUIRED,
                                 reason="TRL is not installed (pip install 'paretolab[hf]')")]


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study_file: str, log_every: tuple[str, str]) -> tuple:
    """The example's study, shortened to 2 trials of 2 steps, each step logged and reported."""
    shutil.copytree(ROOT / "examples" / "trl_grpo", tmp_path / "trl_grpo",
                    ignore=shutil.ignore_patterns("__pycache__", "reports"))
    path = tmp_path / "trl_grpo" / study_file
    text = path.read_text()
    short = (text.replace("trials: 8", "trials: 2").replace("steps: 12", "steps: 2")
             .replace("min_steps: 4", "min_steps: 1").replace(*log_every))
    assert log_every[1] in short and short.count("trials: 2") == 1 and "steps: 2\n" in short and "min_steps: 1" in short
    path.write_text(short)
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(short, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    return load_records(study), spec


def _check(records) -> None:
    assert records[0].state == "COMPLETE", records[0].failure
    assert {r.state for r in records} <= {"COMPLETE", "PRUNED"}, [r.failure for r in records]
    for r in records:
        weights = r.config["weights"]
        curves = r.result.curves
        assert curves["step"][0] == 1 and curves["step"][-1] == (2 if r.state == "COMPLETE" else 1)
        for name in ("brevity", "vowels", "kl"):
            assert math.isfinite(r.metrics[name]), name
            assert r.metrics[name] == curves[name][-1]  # the last report is the final metric
        assert 0 <= r.metrics["brevity"] <= 1 and 0 <= r.metrics["vowels"] <= 1 and r.metrics["kl"] >= 0
        # TRL's logged reward is the reward_weights-weighted sum: the trial's weights reached TRL
        for k in range(len(curves["step"])):
            expected = weights["brevity"] * curves["brevity"][k] + weights["vowels"] * curves["vowels"][k]
            assert curves["reward"][k] == pytest.approx(expected, abs=1e-6)


def test_grpo_as_a_function_trial(tmp_path, monkeypatch):
    records, spec = _run(tmp_path, monkeypatch, "study.yaml", ("log_every: 2", "log_every: 1"))
    _check(records)
    betas = {r.config["task_params"]["beta"] for r in records}
    assert len(betas) == 2  # searched
    assert (spec.study_dir / "tiny-gpt2" / "config.json").is_file()  # built once, next to the trials
    assert (spec.study_dir / "report.html").is_file()


def test_grpo_as_a_command_trial(tmp_path, monkeypatch):
    records, spec = _run(tmp_path, monkeypatch, "study_script.yaml", ('--log-every, "2"', '--log-every, "1"'))
    _check(records)
    for r in records:
        folder = spec.study_dir / "trials" / str(r.number)
        reported = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        assert [line["step"] for line in reported] == r.result.curves["step"]
        if r.state == "COMPLETE":
            assert "final:" in (folder / "stdout.log").read_text()
