"""A command trial leaves no process behind (issue 16): the program's children and grandchildren
— through a shell, one that left the session with ``setsid``, one that ignores SIGTERM, one
whose parent already exited — all end when the trial is pruned, timed out, finishes, or when its
worker is SIGKILLed. Each process of the family writes its pid to a file; the tests check the
pids."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paretolab.errors import TrialFailure
from paretolab.pruning import RungDecision, RungPruned
from paretolab.records import TrialResult
from paretolab.trials.command import run_command
from paretolab.trials.context import ReportLog

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")]

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = ("program", "grandchild", "escapee", "stubborn", "orphan")
CONFIG = {"trial": 0, "weights": {}, "params": {}, "seed": 0, "steps": 1}

FAMILY = """\
import os, signal, subprocess, sys, time
folder, role = sys.argv[1], sys.argv[2]
here = [sys.executable, __file__, folder]
def note(name):
    with open(os.path.join(folder, name + ".pid.tmp"), "w") as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(folder, name + ".pid.tmp"), os.path.join(folder, name + ".pid"))
if role == "grandchild":
    note(role); time.sleep(60)
elif role == "escapee":  # leaves the program's session and process group
    os.setsid(); note(role); time.sleep(60)
elif role == "stubborn":  # SIGTERM does not stop it
    signal.signal(signal.SIGTERM, signal.SIG_IGN); note(role); time.sleep(60)
elif role == "parent-of-orphan":  # starts the orphan and exits at once
    subprocess.Popen(here + ["orphan"]); sys.exit(0)
elif role == "orphan":
    note(role); time.sleep(60)
else:  # the program: starts the family, waits for it, then does as told
    note("program")
    for member in ("grandchild", "escapee", "stubborn", "parent-of-orphan"):
        subprocess.Popen(here + [member])
    while not all(os.path.exists(os.path.join(folder, m + ".pid"))
                  for m in ("grandchild", "escapee", "stubborn", "orphan")):
        time.sleep(0.02)
    if sys.argv[3] == "exit":
        sys.exit(0)
    with open(os.environ["PARETOLAB_METRICS"], "a") as f:
        f.write('{"step": 1, "loss": 1.0}\\n')
    time.sleep(60)
"""


def _family(tmp_path: Path, mode: str) -> list[str]:
    """The command: a shell that runs the family's program (so the program is a grandchild)."""
    (tmp_path / "family.py").write_text(FAMILY)
    return ["bash", "-c", f"{sys.executable} {tmp_path / 'family.py'} {tmp_path} program {mode}; echo done"]


def _pids(folder: Path) -> dict[str, int]:
    return {m: int((folder / f"{m}.pid").read_text()) for m in MEMBERS}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _left(pids: dict[str, int], within: float = 0.0) -> list[str]:
    """The members still alive after waiting up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        left = [m for m, pid in pids.items() if _alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


class PrunedAtFirstReport(ReportLog):
    """The pruning hook's decision at the first report: stop (as MO-ASHA does at a rung)."""

    def add(self, step, metrics):
        raise RungPruned(1, RungDecision(keep=False, position=1, n=2, n_keep=1, rank=1), TrialResult(metrics={}))


def test_pruning_stops_every_process_of_the_program(tmp_path):
    with pytest.raises(RungPruned):
        run_command(_family(tmp_path, "report"), CONFIG, tmp_path, PrunedAtFirstReport(), grace=0.5)
    pids = _pids(tmp_path)
    assert _left(pids) == []  # all gone when the trial ends, the stubborn one included
    assert (tmp_path / "stop").exists()


def test_trial_timeout_stops_every_process_of_the_program(tmp_path):
    with pytest.raises(TrialFailure, match="trial_timeout"):
        run_command(_family(tmp_path, "sleep"), CONFIG, tmp_path, ReportLog(), timeout=3, grace=0.5)
    assert _left(_pids(tmp_path)) == []


def test_what_a_finished_program_left_running_is_killed(tmp_path):
    result = run_command(_family(tmp_path, "exit"), CONFIG, tmp_path, ReportLog(), grace=0.5)
    assert result.steps is None
    assert "done" in (tmp_path / "stdout.log").read_text()  # the shell ran to its end
    assert _left(_pids(tmp_path)) == []


WORKER = """\
import sys
from pathlib import Path
from paretolab.trials.command import run_command
from paretolab.trials.context import ReportLog
folder = Path(sys.argv[1])
run_command(sys.argv[2:], {"trial": 0, "weights": {}, "params": {}, "seed": 0, "steps": 1}, folder,
            ReportLog(), grace=1.0)
"""


def test_a_sigkilled_worker_leaves_no_process_of_its_program(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), *_family(tmp_path, "sleep")],
                              env=env)
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"{m}.pid").exists() for m in MEMBERS) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = _pids(tmp_path)
    assert _left(pids) == list(MEMBERS)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert _left(pids, within=5.0) == [], "processes of the program outlived their worker"


def test_a_sigkilled_paretolab_run_leaves_no_process_of_its_command(tmp_path):
    """End to end: ``paretolab run`` (its one worker in-process) killed by SIGKILL, as the OOM
    killer would, mid-trial: the command's whole family ends (the one that ignores SIGTERM
    after ``kill_grace``)."""
    (tmp_path / "family.py").write_text(FAMILY)
    (tmp_path / "study.yaml").write_text(
        "name: family\n"
        f"trainer: {{command: [bash, -c, '{{python}} {{study_dir}}/family.py {tmp_path} program sleep; echo done'],\n"
        "          kill_grace: 1}\n"
        "losses: [a, b]\nobjectives: [loss, other]\nbudget: {trials: 1, steps: 1}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, "-m", "paretolab.cli", "run", "study.yaml"], cwd=tmp_path,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{m}.pid").exists() for m in MEMBERS) and time.monotonic() < deadline:
        assert run.poll() is None, "paretolab run ended early"
        time.sleep(0.05)
    pids = _pids(tmp_path)
    assert _left(pids) == list(MEMBERS)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert _left(pids, within=5.0) == [], "processes of the command outlived paretolab run"
