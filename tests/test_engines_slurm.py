"""``paretolab submit`` against a real single-node Slurm: Debian's ``slurmctld``, ``slurmd`` and
``munge``, started here on 127.0.0.1 with a minimal configuration in a temporary folder and
stopped at the end; the study on the PostgreSQL server of test_workers (Slurm jobs refuse
SQLite). Needs root (slurmd starts the jobs). Skipped when Slurm is missing, unless
PARETOLAB_REQUIRE_SYSTEM=1 (CI installs it), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paretolab.records import trial_attrs

from conftest import system_missing
from test_workers import env, pg_study, postgres, study_file, wait_until  # noqa: F401 - postgres: a fixture

pytestmark = [pytest.mark.slow, pytest.mark.system]
BIN = Path(sys.executable).parent
DAEMONS = ("munged", "slurmctld", "slurmd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def slurm() -> Iterator[dict[str, str]]:
    """The environment (``SLURM_CONF``) of a one-node Slurm cluster with partition ``debug``."""
    found = {name: shutil.which(name, path="/usr/sbin:/usr/bin:/sbin") for name in (*DAEMONS, "sbatch", "sinfo")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        system_missing(f"Slurm is not installed ({', '.join(missing)} missing): apt-get install slurmctld "
                       "slurmd slurm-client munge")
    if os.geteuid() != 0:
        system_missing("a local Slurm needs root (slurmd starts the jobs as their users)")
    root = Path(tempfile.mkdtemp(prefix="slurm", dir="/tmp"))
    for sub in ("spool", "state", "log"):
        (root / sub).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname()
    conf = root / "slurm.conf"
    conf.write_text(textwrap.dedent(f"""\
        ClusterName=paretolab
        SlurmctldHost={host}(127.0.0.1)
        SlurmctldPort={_free_port()}
        SlurmdPort={_free_port()}
        AuthType=auth/munge
        CredType=cred/munge
        AuthInfo=socket={root}/munge.sock
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core
        SlurmUser=root
        SlurmdUser=root
        SlurmctldPidFile={root}/slurmctld.pid
        SlurmdPidFile={root}/slurmd.pid
        SlurmdSpoolDir={root}/spool
        StateSaveLocation={root}/state
        SlurmctldLogFile={root}/log/slurmctld.log
        SlurmdLogFile={root}/log/slurmd.log
        ReturnToService=2
        JobCompType=jobcomp/none
        AccountingStorageType=accounting_storage/none
        MpiDefault=none
        NodeName={host} NodeAddr=127.0.0.1 CPUs={min(2, os.cpu_count() or 1)} State=UNKNOWN
        PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
        """))
    slurm_env = {**env(), "SLURM_CONF": str(conf)}
    try:
        subprocess.run([found["munged"], "--force", f"--socket={root}/munge.sock", f"--key-file={key}",
                        f"--pid-file={root}/munged.pid", f"--log-file={root}/log/munged.log",
                        f"--seed-file={root}/munge.seed"], check=True, timeout=30)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([found[daemon], "-f", str(conf)], env=slurm_env, check=True, timeout=60)

        def idle() -> bool:
            out = subprocess.run([found["sinfo"], "-h", "-o", "%t"], env=slurm_env, capture_output=True,
                                 text=True, timeout=30).stdout
            return out.strip() == "idle"

        wait_until(idle, 60, "the Slurm node to be idle", poll=1.0)
        yield slurm_env
    finally:
        for name in ("slurmd", "slurmctld", "munged"):  # the daemons this fixture started, by pid
            pid_file = root / f"{name}.pid"
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(1)
        shutil.rmtree(root, ignore_errors=True)


def squeue(slurm_env: dict[str, str], array: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", array], env=slurm_env, capture_output=True, text=True,
                          timeout=30).stdout


def test_submit_runs_a_job_array_on_slurm_to_the_exact_budget(tmp_path, slurm, postgres) -> None:  # noqa: F811
    path = study_file(tmp_path, "slurm-array", trials=4, steps=300,
                      extra=f"storage: {postgres.url}\nfaults: {{heartbeat_interval: 1, grace_period: 3}}\n")
    out = subprocess.run([str(BIN / "paretolab"), "submit", str(path), "--slurm",
                          "partition=debug,cpus_per_task=1,time=15", "--workers", "2"], cwd=tmp_path,
                         env=slurm, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    array = re.search(r"submitted 2 workers as Slurm job array (\d+)", out.stdout)
    assert array, out.stdout
    jobs = array.group(1)
    wait_until(lambda: not squeue(slurm, jobs).strip(), 300, "the job array to end", poll=2.0)
    study = pg_study(postgres, "slurm-array")
    trials = study.get_trials(deepcopy=False)
    logs = "".join(p.read_text()[-2000:] for p in (tmp_path / "reports" / "slurm-array").rglob("*_log.*"))
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4, logs  # the budget, no more
    labels = {str(trial_attrs(t)["worker"]) for t in trials}
    assert labels and labels <= {f"slurm-{jobs}_0", f"slurm-{jobs}_1"}, labels
    status = subprocess.run([str(BIN / "paretolab"), "status", str(path)], cwd=tmp_path, env=slurm,
                            capture_output=True, text=True, timeout=120)
    assert "4 of 4 trials done" in status.stdout, status.stdout + status.stderr
