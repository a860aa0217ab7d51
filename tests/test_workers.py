"""Parallel and distributed runs: local workers on SQLite, workers sharing PostgreSQL, faults.

`make test` runs each test file on one pytest-xdist process (``--dist loadfile``), so these tests,
whose heartbeats, grace periods and signals are timed, run one after another as here.

The PostgreSQL tests start their own server (Debian's ``postgresql`` package) in a temporary
directory and stop it at the end; they are skipped when the binaries are missing, unless
PARETOLAB_REQUIRE_SYSTEM=1 (CI), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.devices import plan_workers, resolve_workers
from paretolab.records import counts_toward_budget, trial_attrs
from paretolab.search_space import TrialConfig
from paretolab.spec import load_spec
from paretolab.storage import open_storage, redact
from paretolab.trainer import train

from conftest import system_missing

runner = CliRunner()
PASSWORD = "s3cr@t:pw/x"  # URL-encoded in the storage URL
ENCODED = "s3cr%40t%3Apw%2Fx"
BIN = Path(sys.executable).parent
RUN_SCRIPT = """\
import sys
from paretolab.runner import run_study
from paretolab.spec import load_spec
from paretolab.spec.checks import check_study

if __name__ == "__main__":  # worker processes are spawned: they re-import this file
    beat, grace = (int(a) for a in sys.argv[3:5]) if len(sys.argv) > 4 else (1, 3)
    out = run_study(check_study(load_spec(sys.argv[1])), workers=int(sys.argv[2]), progress=False,
                    heartbeat_interval=beat, grace_period=grace, max_retries=2)
    print("COUNTS", out.counts, "INTERRUPTED", out.interrupted, flush=True)
"""


def study_file(tmp_path: Path, name: str, trials: int, steps: int, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        task: toy
        objectives: [loss1, loss2]
        train: {{lr: 0.05}}
        budget: {{trials: {trials}, steps: {steps}}}
        seed: 3
        """) + extra)
    return path


def sqlite_study(tmp_path: Path, name: str, timeout: float = 60) -> optuna.Study:
    """The study, once its creator has made it (opening the file earlier would race it)."""
    db = tmp_path / "reports" / name / "study.db"

    def load():
        try:
            if db.exists():
                study = optuna.load_study(study_name=name, storage=open_storage(f"sqlite:///{db}"))
                return study if study.user_attrs.get("paretolab") else None
        except Exception:  # noqa: BLE001 - being created
            return None
        return None

    return wait_until(load, timeout, f"study {name}")


def env() -> dict[str, str]:
    # faulthandler: a hung process dumps every thread's stack on SIGABRT (see `finish`)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}


def finish(proc: subprocess.Popen, timeout: float, study_dir: Path | None = None) -> str:
    """The output of ``proc`` (its own process group) once it ends. If it is still running after
    ``timeout`` s, the failure shows where each of its processes was stuck: SIGABRT to the group
    makes faulthandler print every thread's stack, and the workers' logs are attached."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGABRT)
        except ProcessLookupError:
            pass
        out = proc.communicate(timeout=30)[0]
        logs = "".join(f"\n--- {p.name}\n{p.read_text()[-4000:]}"
                       for p in sorted(study_dir.glob("worker-*.log"))) if study_dir else ""
        raise AssertionError(f"still running {timeout} s later; output and stacks:\n{out}{logs}") from None


def wait_until(predicate, timeout: float, what: str, poll: float = 0.2):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def running_trial_of(study: optuna.Study, pid: int) -> optuna.trial.FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # once it has its configuration: a kill before sampling would leave nothing to re-run
        if str(trial_attrs(t).get("host", "")).endswith(f":{pid}") and "config" in trial_attrs(t):
            return t
    return None


def check_exact_budget_after_loss(study: optuna.Study, budget: int, lost: int) -> None:
    """Exactly ``budget`` trials complete; the lost one is FAIL, not counted, and was retried."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == budget
    assert sum(counts_toward_budget(t.state.name, trial_attrs(t)) for t in trials) == budget
    by_number = {t.number: t for t in trials}
    assert by_number[lost].state == optuna.trial.TrialState.FAIL
    assert "failure" not in trial_attrs(by_number[lost])  # lost, not failed by itself
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost]
    assert len(retries) == 1 and retries[0].state == optuna.trial.TrialState.COMPLETE
    assert retries[0].params == by_number[lost].params  # same configuration, re-run
    assert trial_attrs(retries[0])["config"]["seed"] == trial_attrs(by_number[lost])["config"]["seed"]
    assert not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING,
                                                 optuna.trial.TrialState.WAITING)]
    # nothing else failed and nothing ran beyond the budget
    assert len(trials) == budget + 1


# --- units -----------------------------------------------------------------------------------
def test_redact_hides_passwords_with_any_characters() -> None:
    url = f"postgresql+psycopg://bob:{ENCODED}@db.example:5432/studies"
    assert redact(url) == "postgresql+psycopg://bob:***@db.example:5432/studies"
    assert redact("postgresql://bob:p@ss:w/rd@host/db") == "postgresql://bob:***@host/db"
    assert "zz" not in redact("postgresql://host/db?sslmode=require&password=zz")
    assert redact("sqlite:///reports/x/study.db") == "sqlite:///reports/x/study.db"


def test_auto_workers_fill_the_cores_without_oversubscription(monkeypatch) -> None:
    import paretolab.devices as w

    monkeypatch.setattr(w, "usable_cores", lambda: 8)
    monkeypatch.setattr(w, "visible_gpus", lambda device: [])
    assert resolve_workers("auto", "auto") == 8
    slots = plan_workers(3, "auto")
    assert [s.threads for s in slots] == [3, 3, 2] and sum(s.threads for s in slots) == 8
    assert all(s.device == "cpu" and s.env["OMP_NUM_THREADS"] == str(s.threads) for s in slots)
    monkeypatch.setattr(w, "visible_gpus", lambda device: ["0", "3"])
    assert resolve_workers("auto", "auto") == 2
    assert resolve_workers("auto", "auto", trials_per_gpu=3) == 6
    slots = plan_workers(4, "auto")
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "3", "0", "3"]
    assert {s.device for s in slots} == {"cuda:0"}  # each worker sees only its own GPU



def test_device_auto_means_the_first_visible_gpu_else_the_cpu(monkeypatch) -> None:
    """One definition of `device: auto` (devices.resolve_device), used by run, worker and the pool."""
    import paretolab.devices as d

    monkeypatch.setattr(d, "visible_gpus", lambda device: [])
    assert [d.resolve_device(x) for x in ("auto", "cuda", "cpu", "cuda:1")] == ["cpu", "cpu", "cpu", "cuda:1"]
    assert {s.device for s in d.plan_workers(2, "auto")} == {"cpu"}
    monkeypatch.setattr(d, "visible_gpus", lambda device: ["2"])
    assert [d.resolve_device(x) for x in ("auto", "cuda", "cpu", "cuda:1")] == ["cuda:0", "cuda:0", "cpu", "cuda:1"]


def test_a_trainer_function_rerun_with_device_auto_gets_the_workers_device(tmp_path, monkeypatch) -> None:
    """A pick's rerun of a trainer function (device ``auto``) sees the device a run's worker gets."""
    import paretolab.devices as d
    from paretolab.records.config import TrialConfig
    from paretolab.trials.run import run_trainer

    (tmp_path / "train.py").write_text("def train(trial):\n    return {'device_is_gpu': trial.device == 'cuda:0'}\n")
    config = TrialConfig(weights={"a": 1.0}, balancer={"method": "static", "settings": {}}, train={},
                         task="", task_params={}, loss_groups={"a": {"a": 1.0}}, seed=0, steps=1,
                         eval_every=1, extra={"trainer": {"function": "train.py:train", "base_dir": str(tmp_path)}})
    monkeypatch.setattr(d, "visible_gpus", lambda device: ["2"])
    result = run_trainer(config, tmp_path / "trial", device="auto", required=["device_is_gpu"])
    assert result.metrics["device_is_gpu"] == 1.0

# --- SQLite, local workers -------------------------------------------------------------------
@pytest.mark.slow  # starts worker processes
def test_last_trials_are_not_overrun_by_racing_workers(tmp_path, monkeypatch) -> None:
    """4 workers, budget 6: the study holds exactly 6 trials (no surplus started, none trimmed)."""
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "race", trials=6, steps=1000)  # trials outlast the workers' start-up
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--workers", "4"])
    assert result.exit_code == 0, result.output
    trials = sqlite_study(tmp_path, "race").trials
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)
    assert len({trial_attrs(t)["worker"] for t in trials}) >= 2


@pytest.mark.slow
def test_four_sqlite_workers_run_4_x_100_fast_trials_without_locking_failures(tmp_path, monkeypatch) -> None:
    """Trials of 2 steps: the four workers spend their time on the storage and its lock."""
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "many", trials=400, steps=2)
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--workers", "4"])
    assert result.exit_code == 0, result.output
    trials = sqlite_study(tmp_path, "many").trials
    assert len(trials) == 400
    assert [t.number for t in trials if t.state.name != "COMPLETE"] == []
    assert sorted({trial_attrs(t)["worker"] for t in trials}) == [0, 1, 2, 3]
    logs = "".join(p.read_text() for p in (tmp_path / "reports" / "many").glob("worker-*.log"))
    assert "locked" not in logs and "Traceback" not in logs


@pytest.mark.slow  # starts worker processes
def test_two_worker_random_run_reproduces_a_sequential_run_trial_by_trial(tmp_path, monkeypatch) -> None:
    """sampler: random draws each trial's params from (seed, trial number) only, so a 2-worker
    run gives the same params and the same objective values per trial number as 1 worker."""
    monkeypatch.chdir(tmp_path)
    for name, workers in (("seq", "1"), ("par", "2")):
        path = study_file(tmp_path, name, trials=10, steps=500, extra="sampler: random\n")
        result = runner.invoke(app, ["run", str(path), "--no-progress", "--workers", workers])
        assert result.exit_code == 0, result.output
    seq, par = sqlite_study(tmp_path, "seq").trials, sqlite_study(tmp_path, "par").trials
    assert len({trial_attrs(t)["worker"] for t in par}) == 2
    assert len({tuple(t.params.items()) for t in seq}) == 10  # really sampled
    for a, b in zip(seq, par, strict=True):
        assert a.number == b.number and a.params == b.params and a.values == b.values
        assert trial_attrs(a)["config"]["seed"] == trial_attrs(b)["config"]["seed"]


@pytest.mark.slow  # starts worker processes
def test_two_worker_model_based_run_is_reproducible_per_trial_from_its_stored_config(
        tmp_path, monkeypatch) -> None:
    """With TPE the params depend on which trials finished first; each trial's result is still
    a function of its stored config (params + seed from study seed and trial number)."""
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "tpe2", trials=8, steps=30)
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--workers", "2"])
    assert result.exit_code == 0, result.output
    for t in sqlite_study(tmp_path, "tpe2").trials:
        again = train(TrialConfig.from_dict(trial_attrs(t)["config"]), "cpu")
        assert again.metrics == trial_attrs(t)["metrics"]


@pytest.mark.slow
def test_a_running_trial_that_never_beat_is_failed_after_the_grace_period(tmp_path) -> None:
    """A worker that dies (or loses the database) between creating a trial and its first
    heartbeat left the trial RUNNING for ever (Optuna skips trials without a heartbeat), and
    the study could not reach its budget: the last worker waited for it."""
    from paretolab.worker import _fail_stale

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1, grace_period=2, max_retries=1)
    study = optuna.create_study(storage=storage, study_name="s", directions=["minimize", "minimize"])
    silent = storage.get_trial(storage.create_new_trial(study._study_id)).number  # RUNNING, never beats
    live = study.ask()
    storage.record_heartbeat(live._trial_id)
    _fail_stale(study)  # first sighting: not yet
    assert study.trials[silent].state.name == "RUNNING"
    time.sleep(2.2)
    storage.record_heartbeat(live._trial_id)
    _fail_stale(study)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    assert states[silent] == "FAIL" and states[live.number] == "RUNNING"
    assert states[2:] == ["WAITING"]  # re-run by the retry callback, as for a trial that stopped beating


def test_each_worker_session_samples_its_own_params(tmp_path, monkeypatch) -> None:
    """Seeded alike, two workers (or a resumed run) drew the same start-up params: with two
    workers every trial had a twin. Worker 0 of a fresh study keeps the study seed's draws."""
    from paretolab.search_space import suggest_config
    from paretolab.spec.checks import check_study
    from paretolab.study import open_study, session_seed, study_sampler

    monkeypatch.chdir(tmp_path)
    checked = check_study(load_spec(study_file(tmp_path, "twins", trials=20, steps=10)))
    open_study(checked, create=True)
    def draw(study: optuna.Study) -> optuna.Trial:
        trial = study.ask()
        suggest_config(trial, checked.spec, checked.balanced_names, checked.loss_groups)  # as a trial does
        return trial

    w0, w1 = (open_study(checked, create=False, worker=w) for w in (0, 1))  # both on an empty study
    a, b = draw(w0), draw(w1)
    assert a.params and a.params != b.params
    alone = optuna.create_study(directions=["minimize"] * 2, sampler=study_sampler(checked.spec))
    assert draw(alone).params == a.params  # a one-worker run draws what it always drew
    w0.tell(a, [1.0, 2.0])
    w1.tell(b, [2.0, 1.0])
    resumed = draw(open_study(checked, create=False, worker=0))  # a second `paretolab run`
    assert resumed.params not in (a.params, b.params)
    assert session_seed(3, 0, 0) == 3 and len({session_seed(3, w, n) for w in (0, 1, "host:9") for n in (0, 5)}) == 6


OOM_TASK = """\
import torch
from paretolab.tasks.toy import ToyTask


class Oom(ToyTask):
    def __init__(self, big: bool = False, **kw):
        super().__init__(**kw)
        self.big = big

    def compute_losses(self, model, batch):
        if self.big:  # a model too big for the GPU: what CUDA raises then
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().compute_losses(model, batch)
"""


@pytest.mark.slow
def test_a_trial_out_of_gpu_memory_fails_with_that_reason_and_the_worker_goes_on(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "oomtask.py").write_text(OOM_TASK)
    path = tmp_path / "oom.yaml"
    path.write_text(textwrap.dedent("""\
        name: oom
        task: oomtask.py:Oom
        objectives: [loss1, loss2]
        search: {params: {task.big: [true, false]}}
        budget: {trials: 12, steps: 40}
        sampler: random
        seed: 1
        """))
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    trials = sqlite_study(tmp_path, "oom").trials
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed and len(failed) < len(trials), [t.state.name for t in trials]
    assert all(trial_attrs(t)["failure"].startswith("out of GPU memory") for t in failed)
    assert len(trials) == 12  # a failure with a reason counts toward the budget


@pytest.mark.slow
def test_processes_opening_a_fresh_sqlite_file_at_once_all_get_the_storage(tmp_path, monkeypatch) -> None:
    """A run starting while a dashboard or `paretolab report` opens the same new file: both
    create the tables and the loser fails ('table ... already exists'); open_storage looks again."""
    import threading

    import paretolab.storage as storage_mod

    def open_together(n: int, url: str) -> list[str]:
        barrier, errors = threading.Barrier(n), []

        def one() -> None:
            barrier.wait()
            try:
                open_storage(url)
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(str(exc))

        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return errors

    for i in range(5):
        assert open_together(6, f"sqlite:///{tmp_path / f'fresh{i}.db'}") == []
    monkeypatch.setattr(storage_mod, "SQLITE_CREATE_ATTEMPTS", 1)  # the race is real without it
    assert any(open_together(6, f"sqlite:///{tmp_path / f'once{i}.db'}") for i in range(5))


def test_run_storage_flag_puts_the_study_where_it_says(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "elsewhere", trials=2, steps=5)
    url = f"sqlite:///{tmp_path / 'shared' / 'all.db'}"
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--storage", url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shared" / "all.db").is_file()
    assert not (tmp_path / "reports" / "elsewhere" / "study.db").exists()
    study = optuna.load_study(study_name="elsewhere", storage=url)
    assert len(study.trials) == 2


def test_fault_settings_come_from_the_study_file_and_flags_override_them(tmp_path) -> None:
    from paretolab.worker import WorkerOptions

    path = study_file(tmp_path, "faults", trials=2, steps=5, extra=textwrap.dedent("""\
        trials_per_gpu: 2
        faults: {heartbeat_interval: 2, grace_period: 7, max_retries: 5, storage_patience: 9}
        """))
    spec = load_spec(path)
    opts = WorkerOptions.from_spec(spec)
    assert (opts.heartbeat_interval, opts.grace_period, opts.max_retries, opts.storage_patience,
            opts.trials_per_gpu) == (2, 7, 5, 9.0, 2)
    assert WorkerOptions.from_spec(spec, max_retries=0).max_retries == 0
    assert WorkerOptions.from_spec(load_spec(study_file(tmp_path, "plain", 2, 5))).grace_period == 30


@pytest.mark.slow
def test_report_is_refreshed_during_the_run_and_a_failing_refresh_does_not_stop_it(
        tmp_path, monkeypatch) -> None:
    import paretolab.report as report
    from paretolab.runner import run_study
    from paretolab.spec import load_spec
    from paretolab.spec.checks import check_study

    monkeypatch.chdir(tmp_path)
    calls = []
    real = report.write_report

    def flaky(*args, **kwargs):
        calls.append(time.time())
        if len(calls) == 1:
            raise RuntimeError("plotly broke")
        return real(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", flaky)
    out = run_study(check_study(load_spec(study_file(tmp_path, "refresh", trials=4, steps=5))),
                    progress=False, report_every=0.001)
    assert out.counts["COMPLETE"] == 4
    assert len(calls) >= 3  # mid-run refreshes plus the final write
    assert (tmp_path / "reports" / "refresh" / "report.html").is_file()


def test_unreachable_storage_at_start_is_one_clear_error_without_the_password(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"postgresql+psycopg://bob:{ENCODED}@127.0.0.1:{port}/nowhere"
    path = study_file(tmp_path, "unreach", trials=2, steps=5, extra=f"storage: '{url}'\n")
    for args in (["run", str(path), "--no-progress"], ["worker", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "cannot reach storage" in result.output and "Traceback" not in result.output
        assert ENCODED not in result.output and "s3cr" not in result.output


# --- faults (issue 13) -----------------------------------------------------------------------
FAILING_TASK = """\
from pathlib import Path

from paretolab.tasks.toy import ToyTask


class Broken(ToyTask):
    def compute_losses(self, model, batch):
        if Path("broken.flag").exists():
            raise RuntimeError("my data loader broke")
        return super().compute_losses(model, batch)
"""


@pytest.mark.slow  # over 0.9 s
def test_a_task_that_fails_every_trial_stops_the_study_after_five_in_a_row(tmp_path, monkeypatch) -> None:
    """A broken task used to spend the whole budget (1,065 failed trials before Ctrl-C when the
    failures were not counted); now five failures in a row with nothing completed stop it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text(FAILING_TASK)
    (tmp_path / "broken.flag").touch()
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntask: broken.py:Broken\nobjectives: [loss1, loss2]\n"
                    "budget: {trials: 40, steps: 3}\n")
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "the last 5 trials failed in a row" in result.output and "my data loader broke" in result.output
    assert "Traceback" not in result.output
    trials = sqlite_study(tmp_path, "broken").trials
    assert len(trials) == 5 and all(t.state.name == "FAIL" for t in trials)
    assert (tmp_path / "reports" / "broken" / "trials.csv").is_file()  # tables written anyway
    # fixed, the same command resumes: the earlier failures do not stop the fixed task
    (tmp_path / "broken.flag").unlink()
    path.write_text(path.read_text().replace("trials: 40", "trials: 8"))
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert [t.state.name for t in sqlite_study(tmp_path, "broken").trials].count("COMPLETE") == 3


def test_a_trial_taken_over_by_another_worker_is_dropped_and_the_run_goes_on(tmp_path, monkeypatch) -> None:
    """Another worker failed this worker's trial as stale (this one was paused, or beat slower
    than that worker's grace period); when the trial then ended, `Cannot tell a FAIL trial`
    crashed `paretolab run`. Now: one log line, the trial is redone, the run ends normally."""
    import paretolab.kinds.task as kinds_task

    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "taken", trials=3, steps=20)
    real_train, taken = kinds_task.train, []

    def train_while_another_worker_fails_the_trial(*args, **kwargs):
        result = real_train(*args, **kwargs)
        if not taken:  # what a worker with a short grace period does meanwhile
            other = open_storage(f"sqlite:///{tmp_path / 'reports' / 'taken' / 'study.db'}")
            (running,) = optuna.load_study(study_name="taken", storage=other).get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            other.set_trial_state_values(running._trial_id, optuna.trial.TrialState.FAIL)
            taken.append(running.number)
        return result

    monkeypatch.setattr(kinds_task, "train", train_while_another_worker_fails_the_trial)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    trials = sqlite_study(tmp_path, "taken").trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert "failure" not in trial_attrs(trials[0])  # lost, not failed by itself: redone
    log = (tmp_path / "reports" / "taken" / "worker-0.log").read_text()
    assert log.count("failed as stale by another worker") == 1 and "Traceback" not in log


@pytest.mark.slow  # about 3 s: a run with its report
def test_a_trial_failed_by_another_worker_during_its_tell_is_dropped_and_the_run_goes_on(
        tmp_path, monkeypatch) -> None:
    """The race behind a CI failure (`paretolab run` exit 1 beside `paretolab worker --grace-period
    2`): Optuna's `tell` checks that the trial is still RUNNING, runs the sampler's `after_trial`,
    then writes the state; another worker that fails the trial as stale in between made that write
    raise UpdateFinishedTrialError, which crashed the run. Here the other worker's write is made
    at exactly that moment, every time."""
    from paretolab.storage import HeartbeatStorage

    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "race", trials=2, steps=5)
    real_set, taken = HeartbeatStorage.set_trial_state_values, []

    def set_after_another_worker_failed_it(self, trial_id, state, values=None):
        if state == optuna.trial.TrialState.COMPLETE and not taken:  # between tell's check and write
            other = open_storage(f"sqlite:///{tmp_path / 'reports' / 'race' / 'study.db'}")
            assert real_set(other, trial_id, optuna.trial.TrialState.FAIL)
            taken.append(trial_id)
        return real_set(self, trial_id, state, values)

    monkeypatch.setattr(HeartbeatStorage, "set_trial_state_values", set_after_another_worker_failed_it)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    trials = sqlite_study(tmp_path, "race").trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert "failure" not in trial_attrs(trials[0])  # lost, not failed by itself: redone
    log = (tmp_path / "reports" / "race" / "worker-0.log").read_text()
    assert log.count("failed as stale by another worker") == 1 and "Traceback" not in log


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_trial_is_being_created_marks_it_interrupted(tmp_path, monkeypatch, signum) -> None:
    """Ctrl-C (or SIGTERM) that arrives inside `study.ask()`, after the trial exists but before
    its training started, used to leave it RUNNING with no params: the Ctrl-C test then found
    a RUNNING trial after the run ended. Now the interrupt is held until the trial can be marked."""
    from paretolab.interrupts import SignalsAsInterrupts
    from paretolab.worker import run_trial

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="ask", storage=storage, directions=["minimize"])
    study_id = storage.get_study_id_from_name("ask")
    real_ask = optuna.Study.ask

    def ask_then_signal(self, *args, **kwargs):
        trial = real_ask(self, *args, **kwargs)  # the trial is RUNNING in the storage now
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # delivered here, before ask returns
        return trial

    monkeypatch.setattr(optuna.Study, "ask", ask_then_signal)
    ran = []
    with SignalsAsInterrupts(), pytest.raises(KeyboardInterrupt):
        run_trial(study, storage, study_id, lambda t: ran.append(t) or [t.suggest_float("x", 0, 1)],
                  heartbeat_interval=1)
    (trial,) = study.get_trials(deepcopy=False)
    assert trial.state.name == "FAIL" and trial_attrs(trial).get("interrupted") is True
    assert not ran  # the objective never started


@pytest.mark.slow  # over 0.9 s
def test_heartbeats_resume_after_a_storage_outage() -> None:
    """Optuna's heartbeat thread ends at its first failed write, so after an outage longer than
    the grace period a live trial looks lost and another worker fails it."""
    import sqlalchemy.exc

    from paretolab.worker import Heartbeat

    class Flaky:
        def __init__(self):
            self.beats: list[float] = []
            self.down_until = time.monotonic() + 0.5

        def record_heartbeat(self, trial_id: int) -> None:
            if time.monotonic() < self.down_until:
                raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
            self.beats.append(time.monotonic())

    storage = Flaky()
    with Heartbeat(storage, trial_id=1, number=0, interval=0.1):
        time.sleep(1.5)
    assert len(storage.beats) >= 5  # beating again once the storage was back


@pytest.mark.slow  # about 5 s: trains until the storage is full
def test_a_full_storage_disk_stops_new_trials_uses_no_budget_and_names_the_cause(tmp_path, monkeypatch) -> None:
    """The SQLite file's disk is full (SQLite's max_page_count, the same SQLITE_FULL error):
    the worker used to go on creating and training trials whose results could not be stored,
    counted some as failed trials, and blamed 'exceeding max length'."""
    import sqlalchemy

    import paretolab.storage as storage_mod

    monkeypatch.chdir(tmp_path)
    real_open = storage_mod.open_storage

    def nearly_full_disk(url, **kwargs):
        storage = real_open(url, **kwargs)
        with storage.engine.connect() as conn:
            room = conn.exec_driver_sql("PRAGMA page_count").scalar() + 6

        @sqlalchemy.event.listens_for(storage.engine, "connect")
        def limit(dbapi_conn, _record):
            dbapi_conn.execute(f"PRAGMA max_page_count = {room}")

        storage.engine.dispose()
        return storage

    monkeypatch.setattr(storage_mod, "open_storage", nearly_full_disk)
    path = study_file(tmp_path, "full", trials=30, steps=100)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "database or disk is full" in result.output and "max length" not in result.output
    monkeypatch.setattr(storage_mod, "open_storage", real_open)
    trials = sqlite_study(tmp_path, "full").trials
    assert 0 < len(trials) < 30
    # the first failed write stopped the run: only the trial in flight was cut, and it counts
    # for nothing (redone on resume); no trial recorded the storage error as its own failure
    assert [t.state.name for t in trials[:-1]] == ["COMPLETE"] * (len(trials) - 1)
    assert trials[-1].state.name != "COMPLETE" and "failure" not in trial_attrs(trials[-1])
    assert sum(counts_toward_budget(t.state.name, trial_attrs(t)) for t in trials) == len(trials) - 1


def test_a_full_output_folder_leaves_no_tmp_files_no_logging_pages_and_exits_1(tmp_path, monkeypatch) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "outfull", trials=2, steps=5)
    study_dir = tmp_path / "reports" / "outfull"
    study_dir.mkdir(parents=True)
    for name in ("worker-0.log", "trials.csv.tmp", "report.html.tmp"):
        (study_dir / name).symlink_to("/dev/full")
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "Pareto front of" in result.output  # the results are shown all the same
    assert "trials.csv and front.csv not written" in result.output and "No space left" in result.output
    assert "report.html not written" in result.output
    assert "Logging error" not in result.output and "Traceback" not in result.output
    assert result.output.count("cannot write the log") == 1
    assert not list(study_dir.glob("*.tmp"))


def test_validate_rejects_an_sqlite_storage_that_cannot_be_created(tmp_path) -> None:
    path = study_file(tmp_path, "proc", trials=2, steps=5, extra="storage: sqlite:////proc/nope/x.db\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "cannot create the SQLite file '/proc/nope/x.db'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_worker_checks_the_study_exists_before_it_says_it_joined(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, "absent", trials=2, steps=5)
    result = runner.invoke(app, ["worker", str(path)])
    assert result.exit_code == 2, result.output
    assert "holds no study named 'absent'" in result.output and "joined" not in result.output


@pytest.mark.slow
def test_sigkilled_sqlite_worker_trial_is_failed_by_heartbeat_and_retried(tmp_path) -> None:
    path = study_file(tmp_path, "kill-sqlite", trials=4, steps=3000)
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    proc = subprocess.Popen([sys.executable, "run.py", str(path), "2"], cwd=tmp_path, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        db = tmp_path / "reports" / "kill-sqlite" / "study.db"
        wait_until(db.exists, 60, "the study")
        study = sqlite_study(tmp_path, "kill-sqlite")

        def worker_trial():
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                pid = int(str(trial_attrs(t).get("host", ":0")).rsplit(":", 1)[1])
                if pid and pid != proc.pid and "config" in trial_attrs(t):
                    return t, pid
            return None

        victim, pid = wait_until(worker_trial, 90, "a worker's running trial")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        wait_until(lambda: study.get_trials(deepcopy=False)[victim.number].state.name == "FAIL",
                   30, "the heartbeat to fail the lost trial")
        assert time.time() - killed_at < 3 + 10  # grace 3 s plus a poll and some slack
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    check_exact_budget_after_loss(study, 4, victim.number)


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_cleanly_and_the_run_resumes(tmp_path) -> None:
    path = study_file(tmp_path, "ctrlc", trials=2, steps=4000)  # both cut, both redone on resume
    # a run in a terminal's foreground: SIGINT at its default. Started from a shell without job
    # control (`pytest ... &` in a script), the tests inherit SIGINT ignored, and so would the
    # run, which then cannot be interrupted at all (Python keeps an ignored SIGINT ignored)
    proc = subprocess.Popen([str(BIN / "paretolab"), "run", str(path), "--no-progress", "--workers", "2"],
                            cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    db = tmp_path / "reports" / "ctrlc" / "study.db"
    try:
        wait_until(db.exists, 60, "the study")
        study = sqlite_study(tmp_path, "ctrlc")
        wait_until(lambda: len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))) == 2,
                   90, "two running trials")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        out = finish(proc, 60, db.parent)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    cut = [t for t in trials if trial_attrs(t).get("interrupted")]
    assert len(cut) == 2
    result = subprocess.run([str(BIN / "paretolab"), "run", str(path), "--no-progress", "--workers", "2"],
                            cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = study.get_trials(deepcopy=False)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2


def start_run(tmp_path: Path, *args: str) -> subprocess.Popen:
    """`paretolab run` as in a terminal's foreground (SIGINT at its default, its own group)."""
    return subprocess.Popen([str(BIN / "paretolab"), "run", *args, "--no-progress"], cwd=tmp_path, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def spawned_workers_of(pid: int) -> list[int]:
    """The worker processes that ``pid`` spawned (not its resource tracker) whose Python has
    started up: it catches SIGINT (/proc's SigCgt), so a Ctrl-C now meets its imports."""
    found = []
    for children in glob.glob(f"/proc/{pid}/task/*/children"):
        for child in Path(children).read_text().split():
            try:
                if b"--multiprocessing-fork" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    continue
                status = Path(f"/proc/{child}/status").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            caught = int(status.split("SigCgt:")[1].split()[0], 16)
            if caught & (1 << (signal.SIGINT - 1)):
                found.append(int(child))
    return found


@pytest.mark.slow
def test_ctrl_c_while_a_spawned_worker_still_imports_prints_no_traceback(tmp_path) -> None:
    """A spawned worker spends its first seconds importing (the command line, torch, the task)
    before it can handle Ctrl-C; a Ctrl-C then printed the child's KeyboardInterrupt traceback."""
    path = study_file(tmp_path, "early", trials=4, steps=4000)
    proc = start_run(tmp_path, str(path), "--workers", "2")
    try:
        wait_until(lambda: spawned_workers_of(proc.pid), 60, "a spawned worker", poll=0.01)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        out = finish(proc, 60, tmp_path / "reports" / "early")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert not (tmp_path / "reports" / "early" / "worker-1.log").exists()  # it was still importing


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith(("Z", "X"))
    except FileNotFoundError:
        return True


@pytest.mark.slow
def test_sigterm_stops_the_run_like_ctrl_c_with_exit_143_and_the_run_resumes(tmp_path) -> None:
    """What `timeout`, systemd, Kubernetes and Slurm send, to the run process alone: it used to
    die at once, leaving its trial RUNNING and its spawned worker running on."""
    path = study_file(tmp_path, "term", trials=2, steps=4000)  # both cut, both redone on resume
    proc = start_run(tmp_path, str(path), "--workers", "2")
    try:
        study = sqlite_study(tmp_path, "term")
        wait_until(lambda: len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))) == 2,
                   90, "two running trials")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, out
    assert "interrupted" in out and "Traceback" not in out
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert len([t for t in trials if trial_attrs(t).get("interrupted")]) == 2
    again = subprocess.run([str(BIN / "paretolab"), "run", str(path), "--no-progress"], cwd=tmp_path,
                           env=env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) == 2


@pytest.mark.slow
def test_spawned_workers_stop_when_the_run_is_sigkilled(tmp_path) -> None:
    """They used to run on to the budget with nobody watching them."""
    path = study_file(tmp_path, "orphans", trials=40, steps=4000)
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    output = tmp_path / "run.out"  # the run's and its workers' stderr (faulthandler's stacks)
    with output.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "run.py", str(path), "2"], cwd=tmp_path, env=env(),
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        study = sqlite_study(tmp_path, "orphans")

        def child_trial():
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                pid = int(str(trial_attrs(t).get("host", ":0")).rsplit(":", 1)[1])
                if pid and pid != proc.pid and "config" in trial_attrs(t):
                    return t, pid
            return None

        trial, child = wait_until(child_trial, 90, "a spawned worker's trial")
        proc.kill()
        killed_at = time.time()
        proc.wait(timeout=30)
        try:
            wait_until(lambda: gone(child), 30, "the orphaned worker to stop", poll=0.05)
        except AssertionError:
            os.kill(child, signal.SIGABRT)  # faulthandler: where it is stuck
            wait_until(lambda: gone(child), 10, "the stack dump")
            log = tmp_path / "reports" / "orphans" / "worker-1.log"
            raise AssertionError(f"orphan alive 30 s after the run was killed:\n{output.read_text()[-6000:]}"
                                 f"\n--- worker-1.log\n{log.read_text()[-4000:]}") from None
        took = time.time() - killed_at
        assert took < 1 + 5, took  # a heartbeat interval (1 s) plus marking its trial
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the run's group: its workers too, if still there
        except ProcessLookupError:
            pass
    assert trial_attrs(study.get_trials(deepcopy=False)[trial.number]).get("interrupted") is True


@pytest.mark.slow
def test_a_run_paused_past_the_grace_period_drops_its_taken_over_trial_and_finishes(tmp_path) -> None:
    """SIGSTOP, then SIGCONT, on SQLite: meanwhile the other worker failed the paused trial as
    stale; when it then ended, `Cannot tell a FAIL trial` crashed `paretolab run`."""
    path = study_file(tmp_path, "paused", trials=3, steps=4000)
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    proc = subprocess.Popen([sys.executable, "run.py", str(path), "2"], cwd=tmp_path, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        study = sqlite_study(tmp_path, "paused")
        victim = wait_until(lambda: running_trial_of(study, proc.pid), 90, "the run's own trial")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: study.get_trials(deepcopy=False)[victim.number].state.name == "FAIL", 60,
                       "the other worker to fail the paused trial")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Cannot tell" not in out and "Traceback" not in out
    trials = study.get_trials(deepcopy=False)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3
    assert "failure" not in trial_attrs(trials[victim.number])  # lost: redone, not counted
    log = (tmp_path / "reports" / "paused" / "worker-0.log")
    assert not log.exists() or "Traceback" not in log.read_text()


@pytest.mark.slow
def test_a_worker_with_a_shorter_grace_period_than_the_others_heartbeat_crashes_nothing(tmp_path) -> None:
    """`paretolab worker --grace-period 2` beside a run beating every 4 s fails the run's live
    trials as stale; the run used to crash at the end of such a trial."""
    path = study_file(tmp_path, "impatient", trials=4, steps=3000)
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    run = subprocess.Popen([sys.executable, "run.py", str(path), "1", "4", "12"], cwd=tmp_path, env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    impatient = None
    try:
        study = sqlite_study(tmp_path, "impatient")
        impatient = subprocess.Popen([str(BIN / "paretolab"), "worker", str(path), "--heartbeat-interval", "1",
                                      "--grace-period", "2"], cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        outs = [p.communicate(timeout=300)[0] for p in (run, impatient)]
    finally:
        for p in (run, impatient):
            if p is not None and p.poll() is None:
                p.kill()
    assert [run.returncode, impatient.returncode] == [0, 0], outs
    assert not any("Cannot tell" in o or "Traceback" in o for o in outs), outs
    trials = study.get_trials(deepcopy=False)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]


@pytest.mark.system
def test_a_study_on_a_really_full_disk_stops_with_the_real_cause_and_leaves_no_tmp(tmp_path) -> None:
    """A 320 KB tmpfs holding the study directory fills up during the run (needs root to mount)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        system_missing(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        path = study_file(mnt, "disk", trials=400, steps=300)
        result = subprocess.run([str(BIN / "paretolab"), "run", str(path), "--no-progress"], cwd=mnt, env=env(),
                                capture_output=True, text=True, timeout=600)
        out = result.stdout + result.stderr
        assert result.returncode == 2, out
        assert "database or disk is full" in out and "max length" not in out
        assert "Logging error" not in out and "Traceback" not in out, out
        assert not list(mnt.rglob("*.tmp")), list(mnt.rglob("*"))
        db = mnt / "reports" / "disk" / "study.db"
        study = optuna.load_study(study_name="disk", storage=f"sqlite:///{db}")
        trials = study.get_trials(deepcopy=False)
        # stopped at the first failed write: far below the budget, nothing counted that did not finish
        assert len(trials) < 400
        assert sum(counts_toward_budget(t.state.name, trial_attrs(t)) for t in trials) == \
            sum(t.state.name == "COMPLETE" for t in trials)
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], capture_output=True)  # our sqlite engine may hold it


# --- PostgreSQL ------------------------------------------------------------------------------
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PgServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="paretolab-pg-"))
        self.data = self.root / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def cmd(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True,
                              text=True, check=check, timeout=120)

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text("unused-superuser-pw\n")
        if self.as_user:
            shutil.chown(pwfile, "postgres")
        self.cmd("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                 "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync")
        self.start()
        self.sql("CREATE USER paretolab PASSWORD 's3cr@t:pw/x'")
        self.sql("CREATE DATABASE studies OWNER paretolab")

    def start(self) -> None:
        opts = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self.cmd("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def sql(self, statement: str) -> None:
        self.cmd("psql", "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-c", statement)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://paretolab:{ENCODED}@127.0.0.1:{self.port}/studies"


@pytest.fixture(scope="module")
def postgres():
    bindir = _pg_bin()
    if bindir is None:
        system_missing("PostgreSQL binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    server = PgServer(bindir)
    server.init()
    yield server
    server.stop("immediate")
    shutil.rmtree(server.root, ignore_errors=True)


def pg_study(server: PgServer, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(server.url))


def no_password_anywhere(texts: list[str], directory: Path) -> None:
    files = [p.read_text(errors="replace") for p in (directory / "reports").rglob("*") if p.is_file()
             and p.suffix in (".log", ".csv", ".html", ".yaml", ".json")]  # not the study file itself
    for text in texts + files:
        assert PASSWORD not in text and ENCODED not in text


@pytest.mark.slow
@pytest.mark.system
def test_three_workers_on_two_kinds_of_process_share_one_postgresql_study(postgres, tmp_path) -> None:
    """`paretolab run` (1 worker) plus two `paretolab worker` processes: one study, exact budget.
    The README's two-machine recipe: the study file names no storage, both get --storage."""
    path = study_file(tmp_path, "pg-three", trials=18, steps=1500)
    run = subprocess.Popen([str(BIN / "paretolab"), "run", str(path), "--no-progress", "--storage", postgres.url],
                           cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers: list[subprocess.Popen] = []
    try:
        wait_until(lambda: "pg-three" in optuna.get_all_study_names(open_storage(postgres.url)), 60,
                   "the study")
        workers = [subprocess.Popen([str(BIN / "paretolab"), "worker", str(path), "--storage", postgres.url],
                                    cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
                   for _ in range(2)]
        outputs = [p.communicate(timeout=300)[0] for p in [run, *workers]]
    finally:
        for p in [run, *workers]:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in [run, *workers]] == [0, 0, 0], outputs
    trials = pg_study(postgres, "pg-three").trials
    assert len(trials) == 18 and all(t.state.name == "COMPLETE" for t in trials)
    hosts = {trial_attrs(t)["host"] for t in trials}
    assert {h.rsplit(":", 1)[1] for h in hosts} >= {str(w.pid) for w in workers}  # both joined
    assert "postgresql+psycopg://paretolab:***@" in outputs[0]
    no_password_anywhere(outputs, tmp_path)


@pytest.mark.system
@pytest.mark.slow
def test_sigkilled_postgresql_worker_trial_is_failed_by_heartbeat_and_retried(postgres, tmp_path) -> None:
    path = study_file(tmp_path, "pg-kill", trials=5, steps=3000, extra=f"storage: '{postgres.url}'\n")
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    run = subprocess.Popen([sys.executable, "run.py", str(path), "1"], cwd=tmp_path, env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim_proc = None
    try:
        wait_until(lambda: "pg-kill" in optuna.get_all_study_names(open_storage(postgres.url)), 60, "the study")
        victim_proc = subprocess.Popen([str(BIN / "paretolab"), "worker", str(path), "--heartbeat-interval", "1",
                                        "--grace-period", "3", "--max-retries", "2"], cwd=tmp_path, env=env(),
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        study = pg_study(postgres, "pg-kill")
        victim = wait_until(lambda: running_trial_of(study, victim_proc.pid), 90, "the worker's trial")
        victim_proc.kill()  # SIGKILL: a lost machine
        killed_at = time.time()
        wait_until(lambda: study.get_trials(deepcopy=False)[victim.number].state.name == "FAIL", 30,
                   "the heartbeat to fail the lost trial")
        assert time.time() - killed_at < 3 + 10
        out, _ = run.communicate(timeout=240)
    finally:
        for p in (run, victim_proc):
            if p is not None and p.poll() is None:
                p.kill()
    assert run.returncode == 0, out
    check_exact_budget_after_loss(study, 5, victim.number)


@pytest.mark.system
@pytest.mark.slow
def test_storage_lost_during_a_run_stops_workers_clearly_and_keeps_finished_trials(postgres, tmp_path) -> None:
    path = study_file(tmp_path, "pg-lost", trials=12, steps=1500, extra=f"storage: '{postgres.url}'\n")
    worker_args = ["--heartbeat-interval", "1", "--grace-period", "3", "--storage-patience", "4"]
    # the study exists once `run` starts it; here a worker does all the work
    first = subprocess.run([str(BIN / "paretolab"), "validate", str(path)], cwd=tmp_path, env=env(),
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    from paretolab.spec import load_spec
    from paretolab.spec.checks import check_study
    from paretolab.study import open_study

    open_study(check_study(load_spec(path)), create=True)
    proc = subprocess.Popen([str(BIN / "paretolab"), "worker", str(path), *worker_args], cwd=tmp_path,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        study = pg_study(postgres, "pg-lost")
        wait_until(lambda: sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) >= 2,
                   120, "two finished trials")
        done_before = {t.number: t.values for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
        postgres.stop("immediate")
        stopped_at = time.time()
        out, _ = proc.communicate(timeout=90)
        elapsed = time.time() - stopped_at
    finally:
        if proc.poll() is None:
            proc.kill()
        postgres.start()
    assert proc.returncode == 2, out
    assert "lost the study storage" in out and "Traceback" not in out, out
    assert elapsed < 4 + 60, elapsed  # patience + one trial + back-off slack
    no_password_anywhere([out], tmp_path)
    study = pg_study(postgres, "pg-lost")
    kept = {t.number: t.values for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    assert all(kept[n] == v for n, v in done_before.items())
    # the server is back: the same command resumes and finishes the budget exactly
    again = subprocess.run([str(BIN / "paretolab"), "worker", str(path), *worker_args], cwd=tmp_path,
                           env=env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    trials = pg_study(postgres, "pg-lost").get_trials(deepcopy=False)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 12


@pytest.mark.system
def test_postgresql_errors_name_their_real_cause(postgres, tmp_path, monkeypatch) -> None:
    """Wrong password, missing database and a closed port used to read alike ('unreachable')."""
    from paretolab.errors import StorageError

    monkeypatch.chdir(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    base = f"postgresql+psycopg://paretolab:{ENCODED}@127.0.0.1"
    cases = {"password authentication failed": base.replace(ENCODED, "wrong%3Apw") + f":{postgres.port}/studies",
             'database "nosuch" does not exist': f"{base}:{postgres.port}/nosuch",
             "refused": f"{base}:{closed}/studies"}
    for cause, url in cases.items():
        path = study_file(tmp_path, "pg-err", trials=2, steps=5, extra=f"storage: '{url}'\n")
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 2 and cause in result.output, result.output
        with pytest.raises(StorageError) as caught:
            open_storage(url)
        assert cause in str(caught.value) and "unreachable" not in str(caught.value)
        for text in (result.output, str(caught.value)):
            assert "Traceback" not in text and ENCODED not in text and PASSWORD not in text


@pytest.mark.system
@pytest.mark.slow
def test_a_postgresql_outage_longer_than_the_grace_period_loses_no_live_trial(postgres, tmp_path) -> None:
    """PostgreSQL stopped and restarted (pg_ctl) while two workers train: Optuna's heartbeat
    thread died at the first failed write, so after the outage each live trial looked stale,
    the other worker failed it, and its end crashed the run (`Cannot tell a FAIL trial`)."""
    path = study_file(tmp_path, "pg-blip", trials=4, steps=20000, extra=f"storage: '{postgres.url}'\n")
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    run = subprocess.Popen([sys.executable, "run.py", str(path), "2"], cwd=tmp_path, env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: "pg-blip" in optuna.get_all_study_names(open_storage(postgres.url)), 60, "the study")
        study = pg_study(postgres, "pg-blip")
        live = wait_until(lambda: [t.number for t in study.get_trials(deepcopy=False)
                                   if t.state.name == "RUNNING" and "config" in trial_attrs(t)]
                          if len(study.get_trials(deepcopy=False)) >= 2 else None, 90, "two live trials")
        postgres.stop("fast")
        try:
            time.sleep(6)  # twice the grace period
        finally:
            postgres.start()
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out
    assert "Cannot tell" not in out and "Traceback" not in out, out
    trials = pg_study(postgres, "pg-blip").get_trials(deepcopy=False)
    assert all(trials[n].state.name == "COMPLETE" for n in live), [t.state.name for t in trials]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4
