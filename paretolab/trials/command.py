"""Command trials: run a program per trial and read back the metrics it reports.

Per trial the program finds its configuration in ``trial.json`` of its trial folder (env
``PARETOLAB_CONFIG``), appends ``{"step": n, "metric": value, ...}`` lines to
``PARETOLAB_METRICS`` (:mod:`paretolab.client` does it) and may check ``PARETOLAB_TRIAL_DIR/stop``.
``{name}`` placeholders in the command are replaced by param and weight values
(:mod:`paretolab.trials.placeholders`). The program runs in its trial folder
under a small supervisor (:mod:`paretolab.trials.supervise`) in a session of its own, which
stops the program and every process it started (however deep, SIGTERM then SIGKILL after a grace
period) when the trial is pruned, timed out or interrupted, and also when its worker dies, even
by SIGKILL; what the program leaves running when it exits is killed too. Its stdout and stderr
stay in the trial folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paretolab.errors import TrialFailure
from paretolab.records import TrialResult
from paretolab.trials.context import ReportLog
from paretolab.trials.metrics_lines import METRICS_FILE, MetricsTail
from paretolab.trials.placeholders import (  # noqa: F401 - re-exported for their users
    FIXED_NAMES,
    PLACEHOLDER,
    check_placeholders,
    fill,
    placeholder_values,
)
from paretolab.trials.supervise import START_FAILED

POLL_S = 0.2
CONFIG_FILE, STOP_FILE = "trial.json", "stop"
STDOUT_FILE, STDERR_FILE = "stdout.log", "stderr.log"


SUPERVISOR = Path(__file__).with_name("supervise.py")


def supervised(argv: Sequence[str], control_fd: int, grace: float) -> list[str]:
    """The command line that runs ``argv`` under the supervisor (isolated interpreter, no site:
    it starts fast and the user's environment cannot break it)."""
    return [sys.executable, "-I", "-S", str(SUPERVISOR), str(control_fd), f"{grace:g}", "--", *argv]


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Ask the supervisor to stop the program (SIGTERM to each of its processes, SIGKILL after
    ``grace`` seconds) and wait; should it not answer, SIGKILL its process group."""
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(grace + 5.0)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc)
    proc.wait()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL what is left in the supervisor's process group (nothing, on Linux)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stderr_tail(path: Path, lines: int = 15, chars: int = 2000) -> str:
    """The last lines of the program's stderr."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def prepare(config: Mapping[str, Any], trial_dir: Path) -> dict[str, str]:
    """Write ``trial.json`` into a fresh trial folder; the environment the program gets."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    for name in (METRICS_FILE, STOP_FILE):
        (trial_dir / name).unlink(missing_ok=True)
    (trial_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    return {"PARETOLAB_TRIAL_DIR": str(trial_dir), "PARETOLAB_CONFIG": str(trial_dir / CONFIG_FILE),
            "PARETOLAB_METRICS": str(trial_dir / METRICS_FILE)}


def visible_devices(device: str, visible: str | None = None) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for the program of a worker on ``cuda:N`` (None: leave it as it is).

    ``N`` counts the GPUs the worker sees: ``visible`` (default: the worker's own
    ``CUDA_VISIBLE_DEVICES``) maps it to the machine's. A GPU worker of ``workers: auto`` sees
    only its GPU, say ``3``, as ``cuda:0``: its program gets ``3``."""
    match = re.fullmatch(r"cuda:(\d+)", device)
    if not match:
        return None
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in (visible or "").split(",") if v.strip()]
    index = int(match[1])
    return ids[index] if index < len(ids) else match[1]


def run_command(command: Sequence[str], config: Mapping[str, Any], trial_dir: Path, log: ReportLog, *,
                device: str = "cpu", cwd: Path | None = None, timeout: float | None = None,
                grace: float = 10.0) -> TrialResult:
    """Run one command trial to its end; the last reported values are its final metrics.

    Raises :class:`TrialFailure` for a non-zero exit (with the end of stderr), a timeout or a
    bad metrics line, and :class:`~paretolab.pruning.RungPruned` when stopped at a rung (the
    program is stopped first, whatever ends the trial early)."""
    trial_dir = trial_dir.absolute()  # the program runs there: its paths must not be relative to it
    from paretolab.threads import env as thread_env

    env = {**os.environ, **thread_env(config.get("threads")), **prepare(config, trial_dir)}
    gpu = visible_devices(device)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    if cwd is not None:
        env["PARETOLAB_STUDY_DIR"] = str(cwd)
    argv = fill(command, placeholder_values(config, trial_dir, cwd), cwd)
    start = time.perf_counter()
    control_r, control_w = os.pipe()  # only this process holds control_w: its end is the worker's death
    try:
        with open(trial_dir / STDOUT_FILE, "wb") as out, open(trial_dir / STDERR_FILE, "wb") as err:
            proc = subprocess.Popen(supervised(argv, control_r, grace), cwd=trial_dir, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, pass_fds=(control_r,))
    except OSError as exc:
        os.close(control_w)
        raise TrialFailure(f"cannot start the command {argv[0]!r}: {exc.strerror or exc}") from None
    finally:
        os.close(control_r)
    try:
        return _follow(proc, trial_dir, log, start=start, device=device, timeout=timeout, grace=grace,
                       steps=config.get("steps"))
    finally:
        os.close(control_w)


def _follow(proc: subprocess.Popen[bytes], trial_dir: Path, log: ReportLog, *, start: float, device: str,
            timeout: float | None, grace: float, steps: int | None = None) -> TrialResult:
    """Read the program's reports until it ends; stop it if the trial ends first."""
    tail = MetricsTail(trial_dir / METRICS_FILE, max_steps=steps)
    try:
        while True:
            code = proc.poll()
            for step, metrics in tail.read(final=code is not None):
                log.add(step, metrics)
            if code is not None:
                break
            if timeout is not None and time.perf_counter() - start > timeout:
                (trial_dir / STOP_FILE).touch()
                stop(proc, grace)
                raise TrialFailure(f"the command ran past budget.trial_timeout ({timeout:g} s) "
                                   "and was killed")
            try:  # returns as soon as the program exits
                proc.wait(POLL_S)
            except subprocess.TimeoutExpired:
                pass
    except BaseException:  # pruned, failed, interrupted: the program must not outlive the trial
        if proc.poll() is None:
            (trial_dir / STOP_FILE).touch()
            stop(proc, grace)
        raise
    _kill_group(proc)  # the supervisor killed what the program left behind; elsewhere than Linux, this does
    if code == 127:
        last = stderr_tail(trial_dir / STDERR_FILE, lines=1)
        if last.startswith(START_FAILED):
            raise TrialFailure(last.removeprefix("paretolab: "))
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail_text = stderr_tail(trial_dir / STDERR_FILE)
        raise TrialFailure(f"the command {how}" + (f"; stderr ends with:\n{tail_text}" if tail_text else
                                                   " (stderr is empty)"))
    return TrialResult(metrics=dict(log.latest), curves=log.curves, steps=log.last_step,
                       wall_time_s=time.perf_counter() - start, device=device)
