"""Workers on a real Ray cluster: a local one started here (``ray start --head`` on this machine,
two CPUs), stopped at the end. SQLite serves: every worker is on this one node (a cluster of
several nodes needs PostgreSQL, which ``run`` checks once connected).

Skipped when Ray is missing, unless PARETOLAB_REQUIRE_SYSTEM=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from paretolab.records import trial_attrs

from conftest import system_missing
from test_workers import check_exact_budget_after_loss, env, finish, sqlite_study, study_file, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.system]
BIN = Path(sys.executable).parent
FAULTS = "faults: {heartbeat_interval: 1, grace_period: 3, max_retries: 2}\n"


def ray_env() -> dict[str, str]:
    """The cluster's and the driver's environment: Ray's token authentication off for both (a
    ``ray.init()`` elsewhere on the machine leaves a token in ~/.ray that a new cluster would
    then require, and a driver without RAY_AUTH_MODE=token would not send)."""
    return {**env(), "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """The address of a one-node Ray cluster with 2 CPUs; its processes end with the fixture."""
    ray_bin = shutil.which("ray", path=str(BIN)) or shutil.which("ray")
    try:
        import ray  # noqa: F401
    except ImportError:
        ray_bin = None
    if ray_bin is None:
        system_missing("Ray is not installed (pip install 'paretolab[ray]')")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    proc = subprocess.Popen([ray_bin, "start", "--head", "--block", "--port=0", "--node-ip-address=127.0.0.1",
                             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"], env=ray_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines: list[str] = []
        address = None
        assert proc.stdout is not None
        while address is None:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("ray start ended:\n" + "".join(lines))
            lines.append(line)
            found = re.search(r"ray start --address='([^']+)'", line)
            address = found.group(1) if found else None
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # --block: ray start stops what it started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def start(tmp_path: Path, path: Path, address: str, workers: int = 2) -> subprocess.Popen:
    # SIGINT at its default, as in a terminal (see test_workers' Ctrl-C test)
    return subprocess.Popen([str(BIN / "paretolab"), "run", str(path), "--no-progress", "--ray", address,
                             "--workers", str(workers)], cwd=tmp_path, env=ray_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def running_of(proc: subprocess.Popen, study: optuna.Study, worker: str | None = None,
               ) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials that have their configuration (of ``worker``, when given)."""
    if proc.poll() is not None:
        raise AssertionError(f"the run ended early ({proc.returncode}):\n{proc.communicate()[0]}")
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if "config" in trial_attrs(t) and worker in (None, trial_attrs(t).get("worker"))]


def test_a_killed_ray_worker_trial_is_redone_and_the_budget_is_exact(tmp_path, ray_cluster) -> None:
    path = study_file(tmp_path, "ray-kill", trials=4, steps=2500, extra=FAULTS)
    proc = start(tmp_path, path, ray_cluster)
    try:
        study = sqlite_study(tmp_path, "ray-kill", timeout=120)
        victim = wait_until(lambda: (running_of(proc, study, "ray-1") or [None])[0], 180, "ray-1's running trial")
        pid = int(str(trial_attrs(victim)["host"]).rsplit(":", 1)[1])
        os.kill(pid, signal.SIGKILL)  # the worker's process, as when its node is lost
        out = finish(proc, 300, tmp_path / "reports" / "ray-kill")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    check_exact_budget_after_loss(study, 4, victim.number)
    workers = {trial_attrs(t).get("worker") for t in study.get_trials(deepcopy=False)}
    assert workers <= {"ray-0", "ray-1"} and workers, workers  # every trial ran on a Ray worker


def test_ctrl_c_on_the_driver_stops_the_ray_workers_and_marks_their_trials(tmp_path, ray_cluster) -> None:
    path = study_file(tmp_path, "ray-ctrlc", trials=2, steps=40000, extra=FAULTS)
    proc = start(tmp_path, path, ray_cluster)
    try:
        study = sqlite_study(tmp_path, "ray-ctrlc", timeout=120)
        wait_until(lambda: len(running_of(proc, study)) == 2, 180, "two running trials")
        os.killpg(proc.pid, signal.SIGINT)  # the driver's terminal; the workers run in the cluster
        out = finish(proc, 90, tmp_path / "reports" / "ray-ctrlc")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert sum(bool(trial_attrs(t).get("interrupted")) for t in trials) == 2
