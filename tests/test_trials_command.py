"""Command trials (``trainer: {command: [...]}``): a program per trial, its configuration in
trial.json and placeholders, its reports read back while it runs; pruning, crashes, hangs and a
lost worker stop it (issue 16). The scripts are toy-sized and need neither torch nor Optuna."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from paretolab import runner
from paretolab.errors import SpecError
from paretolab.records import load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage
from paretolab.trials.command import fill, visible_devices

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """\
import argparse, json, os, signal, sys, time
from paretolab import client

parser = argparse.ArgumentParser()
parser.add_argument("--mode", default="ok")
parser.add_argument("--wa", type=float, default=0.5)
parser.add_argument("--steps", type=int, default=4)
args, _ = parser.parse_known_args()
cfg = client.config()
folder = client.trial_dir()
open(os.path.join(folder, "pid"), "w").write(str(os.getpid()))
json.dump({"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("PARETOLAB_")}},
          open(os.path.join(folder, "seen.json"), "w"))
print("hello from the script")
if args.mode == "crash":
    print("line one of the trouble", file=sys.stderr)
    print("RuntimeError: the script broke", file=sys.stderr)
    sys.exit(3)
if args.mode == "hang":
    while True:
        time.sleep(0.1)
if args.mode == "slow":  # worse each trial, so MO-ASHA prunes the later ones at a rung
    def on_term(*_):
        open(os.path.join(folder, "terminated"), "w").write("yes")
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    for step in range(1, args.steps + 1):
        client.report(step, loss1=float(cfg["trial"]), loss2=float(cfg["trial"]))
        time.sleep(0.3)
    sys.exit(0)
wb = cfg["weights"]["b"]
for step in range(1, args.steps + 1):
    client.report(step, loss1=wb + 1.0 / step, loss2=args.wa)
"""


def _study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, extra: str = "",
           trials: int = 2, steps: int = 4, budget: str = "") -> tuple[optuna.Study, object]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    (tmp_path / "script.py").write_text(SCRIPT)
    text = textwrap.dedent(f"""\
        name: cmd-{mode}
        trainer:
          command: ["{{python}}", script.py, --mode, {mode}, --wa, "{{w.a}}", --lr, "{{lr}}",
                    --steps, "{{steps}}", --seed, "{{seed}}", --width, "{{width}}", --dir, "{{trial_dir}}"]
          params: {{width: 3}}
          kill_grace: 0.5
        losses: [a, b]
        objectives: [loss1, loss2]
        search:
          params:
            lr: {{low: 0.001, high: 0.1, log: true}}
        budget: {{trials: {trials}, steps: {steps}, timeout: 60{budget}}}
        """) + extra
    path = tmp_path / "study.yaml"
    path.write_text(text)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    return optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url)), spec


def _folder(tmp_path: Path, spec, number: int) -> Path:
    return tmp_path / "reports" / spec.slug / "trials" / str(number)


@pytest.mark.slow
def test_a_command_trial_runs_with_its_configuration_and_placeholders(tmp_path, monkeypatch):
    study, spec = _study(tmp_path, monkeypatch, "ok")
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE"]
    for r in records:
        weights, folder = r.config["weights"], _folder(tmp_path, spec, r.number)
        assert r.values == pytest.approx([weights["b"] + 0.25, weights["a"]])  # the last report
        assert r.result.curves["step"] == [1, 2, 3, 4]
        seen = json.loads((folder / "seen.json").read_text())
        argv = seen["argv"]
        assert argv[argv.index("--wa") + 1] == str(weights["a"])
        assert argv[argv.index("--lr") + 1] == str(r.config["train"]["lr"])
        assert argv[argv.index("--steps") + 1] == "4" and argv[argv.index("--width") + 1] == "3"
        assert argv[argv.index("--seed") + 1] == str(r.config["seed"])
        assert argv[argv.index("--dir") + 1] == str(folder)
        assert seen["env"]["PARETOLAB_TRIAL_DIR"] == str(folder)
        config = json.loads((folder / "trial.json").read_text())
        assert config["weights"] == weights and config["params"]["width"] == 3
        assert config["steps"] == 4 and config["balancer"]["method"] == "static"
        assert "hello from the script" in (folder / "stdout.log").read_text()
    report = (tmp_path / "reports" / spec.slug / "report.html").read_text()
    for r in records:  # the report links each trial's kept output, relative to its own folder
        assert f'href="trials/{r.number}/stdout.log"' in report
        assert f'href="trials/{r.number}/stderr.log"' in report
    _train_the_pick(tmp_path, spec)


def _train_the_pick(tmp_path: Path, spec) -> None:
    """``paretolab pick`` then ``paretolab train --steps 6``: the command runs again with the
    picked weights and params (pick.yaml's, edits included) and the longer {steps}."""
    import yaml
    from typer.testing import CliRunner

    from paretolab.cli import app

    runner_ = CliRunner()
    assert runner_.invoke(app, ["pick", str(tmp_path / "reports" / spec.slug)]).exit_code == 0
    pick_file = tmp_path / "reports" / spec.slug / "pick.yaml"
    doc = yaml.safe_load(pick_file.read_text())
    assert doc["params"]["width"] == 3 and "lr" in doc["params"] and set(doc["weights"]) == {"a", "b"}
    assert doc["balancer"]["method"] == "static"
    pick_file.write_text(pick_file.read_text().replace("width: 3", "width: 5"))
    result = runner_.invoke(app, ["train", str(pick_file), "--steps", "6"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "reports" / spec.slug / "train" / f"trial-{doc['trial']}"
    argv = json.loads((folder / "seen.json").read_text())["argv"]
    assert argv[argv.index("--steps") + 1] == "6" and argv[argv.index("--width") + 1] == "5"
    assert argv[argv.index("--wa") + 1] == str(doc["weights"]["a"])
    assert json.loads((folder / "trial.json").read_text())["steps"] == 6
    assert f"{doc['weights']['b'] + 1 / 6:.4g}" in result.output  # the retrained loss1


@pytest.mark.slow
def test_a_crashing_command_fails_with_the_end_of_its_stderr(tmp_path, monkeypatch):
    study, _ = _study(tmp_path, monkeypatch, "crash")
    for r in load_records(study):
        assert r.state == "FAIL" and r.counts_toward_budget
        assert "exited with code 3" in r.failure.reason
        assert r.failure.reason.endswith("line one of the trouble\nRuntimeError: the script broke")


@pytest.mark.slow
def test_a_hung_command_is_killed_by_trial_timeout(tmp_path, monkeypatch):
    start = time.perf_counter()
    study, spec = _study(tmp_path, monkeypatch, "hang", trials=1, budget=", trial_timeout: 1")
    (r,) = load_records(study)
    assert r.state == "FAIL" and "trial_timeout (1 s)" in r.failure.reason
    assert time.perf_counter() - start < 30
    pid = int((_folder(tmp_path, spec, 0) / "pid").read_text())
    assert not _alive(pid)
    assert (_folder(tmp_path, spec, 0) / "stop").exists()


@pytest.mark.slow
def test_mo_asha_stops_a_command_trial_at_a_rung(tmp_path, monkeypatch):
    study, spec = _study(tmp_path, monkeypatch, "slow", trials=2, steps=8, extra=(
        "pruning: {method: moasha, min_steps: 2, eta: 2, min_trials: 1, min_agreement: null, "
        "control_share: 0}\n"))
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "PRUNED"]
    pruned = records[1]
    assert pruned.result.pruned_at == 2 and pruned.result.curves["step"][:2] == [1, 2]
    folder = _folder(tmp_path, spec, 1)
    assert (folder / "terminated").read_text() == "yes"  # SIGTERM reached the script
    assert (folder / "stop").exists()  # what client.should_stop() checks
    assert not _alive(int((folder / "pid").read_text()))
    assert pruned.duration_s < 8 * 0.3  # it did not run to its end


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie no one reaped yet is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


WORKER = """\
import sys
from pathlib import Path
from paretolab.trials.command import run_command
from paretolab.trials.context import ReportLog
folder = Path(sys.argv[1])
config = {"trial": 0, "weights": {}, "params": {}, "seed": 0, "steps": 1}
run_command([sys.executable, "-c", "import os, time; open(os.environ['PARETOLAB_TRIAL_DIR'] + '/pid', 'w')"
             ".write(str(os.getpid())); time.sleep(60)"], config, folder, ReportLog())
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the supervisor's subreaper and /proc are Linux only")
def test_a_worker_killed_mid_trial_leaves_no_orphan(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], env=env)
    pid_file = tmp_path / "pid"
    deadline = time.time() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert _alive(child)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deadline = time.time() + 5
    while _alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the training program outlived its worker"


def test_placeholders_take_params_weights_and_the_trial_folder():
    values = {"lr": 0.01, "w.ce": 0.25, "trial_dir": "/t/3", "steps": 100, "seed": 7}
    assert fill(["train", "--lr={lr}", "{w.ce}", "{trial_dir}/ckpt", "{steps}", "{seed}"], values) == \
        ["train", "--lr=0.01", "0.25", "/t/3/ckpt", "100", "7"]
    assert visible_devices("cuda:1", "") == "1" and visible_devices("cpu", "") is None


def test_the_command_sees_the_workers_own_gpu():
    """A GPU worker sees only its GPU (CUDA_VISIBLE_DEVICES=3) and trains on its cuda:0: the
    command must get GPU 3, not the machine's GPU 0."""
    assert visible_devices("cuda:0", "3") == "3"
    assert visible_devices("cuda:1", "2, 5") == "5"
    assert visible_devices("cuda:0", "GPU-8f2c") == "GPU-8f2c"
    assert visible_devices("cuda:0", "") == "0"


def test_an_unknown_placeholder_is_a_study_file_error(tmp_path):
    text = ("name: x\nlosses: [a, b]\nobjectives: [m]\n"
            "trainer: {command: [python, t.py, '{w.c}']}\n")
    with pytest.raises(SpecError, match=r"placeholder \{w.c\} names no param or weight"):
        check_study(parse_spec(text, source=str(tmp_path / "s.yaml")), check_storage_reachable=False)


CLIENT = """\
import sys
sys.modules["torch"] = None  # importing torch (or Optuna) would now fail
sys.modules["optuna"] = None
from paretolab import client
assert client.config()["weights"] == {"a": 0.5}
assert not client.should_stop()
client.report(3, loss=0.5, acc=1)
open(client.trial_dir() + "/stop", "w").close()
assert client.should_stop()
"""


@pytest.mark.slow  # starts a process (0.2 s)
def test_the_client_helper_needs_neither_torch_nor_optuna(tmp_path):
    (tmp_path / "trial.json").write_text(json.dumps({"weights": {"a": 0.5}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PARETOLAB_TRIAL_DIR": str(tmp_path),
           "PARETOLAB_CONFIG": str(tmp_path / "trial.json"),
           "PARETOLAB_METRICS": str(tmp_path / "metrics.jsonl")}
    subprocess.run([sys.executable, "-c", CLIENT], env=env, check=True, timeout=30)
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 3, "loss": 0.5, "acc": 1.0}


@pytest.mark.slow
def test_the_own_script_example_runs_end_to_end(tmp_path, monkeypatch):
    """examples/own_script.py (the own_loop training as a script) with a tiny budget."""
    import shutil

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "studies").mkdir()
    text = (ROOT / "studies" / "own_script.yaml").read_text()
    text = text.replace("trials: 6", "trials: 2").replace("steps: 100", "steps: 20")
    path = tmp_path / "studies" / "own_script.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE"], [r.failure for r in records]
    assert records[0].result.curves["step"] == [10, 20]
    assert records[0].values != records[1].values
