"""Engines benchmark: 2 Ray workers against 2 local workers on the same study (issue 31).

A one-node Ray cluster with 2 CPUs is started here (``ray start --head --block``, stopped at the
end); the same CPU-bound toy study (``sampler: random``, so both runs train the same trials) runs
with ``workers: 2`` (the ``run`` process and one spawned process) and with ``workers: {engine:
ray, count: 2, per_worker: {num_cpus: 1}}`` (two Ray tasks; the driver only watches), each on a
fresh SQLite file. Per run, read from the stored trials:

- throughput with both workers running: the sum over workers of 1 / its mean cycle (one trial's
  start to the same worker's next start, stored), so the spawned local worker's later start
  does not count against it (the ratio Ray / local is the goal: within 10%);
- end-to-end wall time of ``run_study`` (Ray's connection and task start-up included), and the
  throughput it gives (trials / wall);
- per-trial overhead of a Ray worker: its mean cycle minus the local workers' one, and its mean
  trial duration (start to end, stored) minus theirs.

Usage: python -m benchmarks.bench_engines [--trials 10] [--steps 300] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna

from benchmarks.bench_workers import write_spec
from paretolab.records import trial_attrs
from paretolab.runner import run_study
from paretolab.spec import load_spec
from paretolab.spec.checks import check_study
from paretolab.spec.engines import RayWorkers


@contextmanager
def ray_cluster(cpus: int) -> Iterator[str]:
    """The address of a one-node Ray cluster started for the benchmark, stopped after it."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    proc = subprocess.Popen([ray_bin, "start", "--head", "--block", "--port=0", "--node-ip-address=127.0.0.1",
                             f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"ray start --address='([^']+)'", line)
            if found:
                yield found.group(1)
                break
        else:
            raise RuntimeError("ray start ended before printing its address")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # --block: ray start stops what it started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def measure(path: Path, workers: int | RayWorkers) -> dict[str, float]:
    checked = check_study(load_spec(path))
    start = time.perf_counter()
    out = run_study(checked, workers=workers, progress=False, report_every=0)
    wall = time.perf_counter() - start
    assert out.counts["COMPLETE"] == checked.spec.budget.trials, out.counts
    study = optuna.load_study(study_name=checked.spec.name, storage=checked.spec.storage_url)
    trials = study.get_trials(deepcopy=False)
    by_worker: dict[str, list] = defaultdict(list)
    for t in trials:
        by_worker[str(trial_attrs(t).get("worker"))].append(t)
    cycles_by_worker = []
    for own in by_worker.values():
        starts = sorted(t.datetime_start for t in own)
        cycles_by_worker.append([(b - a).total_seconds() for a, b in zip(starts, starts[1:])])
    cycles = [c for own in cycles_by_worker for c in own]
    return {"wall_s": wall, "running_tps": sum(1 / statistics.mean(c) for c in cycles_by_worker if c),
            "trial_s": statistics.mean((t.datetime_complete - t.datetime_start).total_seconds() for t in trials),
            "cycle_s": statistics.mean(cycles) if cycles else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # the cluster and this driver alike
    root = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    cwd = os.getcwd()
    os.chdir(root)  # the studies' reports/ folders, and the Ray tasks' working folder
    results: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
    try:
        with ray_cluster(2) as address:
            engine = RayWorkers(engine="ray", address=address, count=2, per_worker={"num_cpus": 1})
            for r in range(args.repeats):
                order = [("local", 2), ("ray", engine)] if r % 2 == 0 else [("ray", engine), ("local", 2)]
                for kind, workers in order:
                    path = write_spec(root, f"{kind}-{r}", args.trials, args.steps)
                    results[kind].append(measure(path, workers))
                    print(kind, r, {k: round(v, 4) for k, v in results[kind][-1].items()}, flush=True)
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
    mean = {kind: {k: statistics.mean(run[k] for run in runs) for k in runs[0]} for kind, runs in results.items()}
    local, ray = mean["local"], mean["ray"]
    print(f"\n{args.trials} toy trials x {args.steps} steps, 2 workers each, {args.repeats} repeats (means):")
    print(f"  throughput, both workers running: local {local['running_tps']:.3f} trials/s, Ray "
          f"{ray['running_tps']:.3f} trials/s; Ray / local = {ray['running_tps'] / local['running_tps']:.3f}")
    print(f"  end to end: local {local['wall_s']:.1f} s, Ray {ray['wall_s']:.1f} s; throughput Ray / local = "
          f"{local['wall_s'] / ray['wall_s']:.3f}")
    print(f"  per trial: duration local {local['trial_s'] * 1e3:.0f} ms, Ray {ray['trial_s'] * 1e3:.0f} ms "
          f"(Ray overhead {(ray['trial_s'] - local['trial_s']) * 1e3:+.0f} ms); cycle local "
          f"{local['cycle_s'] * 1e3:.0f} ms, Ray {ray['cycle_s'] * 1e3:.0f} ms "
          f"({(ray['cycle_s'] - local['cycle_s']) * 1e3:+.0f} ms)")


if __name__ == "__main__":
    main()
