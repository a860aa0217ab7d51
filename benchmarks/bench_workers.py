"""Workers benchmark: paretolab's per-trial overhead and the speed-up of parallel workers.

1. Overhead: N trials of the same tiny training function (``paretolab.trainer.train`` on the
   ``toy`` task), through ``run_study`` (one worker: lock, budget check, stale check, records
   in user attrs, tables and report at the end) and through a bare ``study.optimize`` loop that
   samples the same params and calls the same function, on the same kind of storage (SQLite
   with heartbeats). Per trial: the mean time from one trial's start to the next one's, read
   from the stored start times (everything a trial costs, without the one-off work before the
   first trial and after the last); end to end: the wall time of the whole call.
2. Throughput: the same CPU-bound study with 1 worker and with 2 workers (trials/s), end to
   end (``run_study`` wall time, worker start-up included) and steady state (trials finished
   per second between the first trial's start and the last trial's end); on a machine with
   GPUs, one worker per GPU against one worker on one GPU.

Usage: python -m benchmarks.bench_workers [--trials 40] [--steps 200] [--cpu-trials 24] [--cpu-steps 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import textwrap
import time
from pathlib import Path

import optuna

from paretolab.runner import run_study
from paretolab.search_space import TrialConfig, trial_seed
from paretolab.spec import load_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage
from paretolab.trainer import train


def write_spec(root: Path, name: str, trials: int, steps: int, device: str = "cpu") -> Path:
    path = root / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        task: toy
        objectives: [loss1, loss2]
        train: {{lr: 0.05}}
        budget: {{trials: {trials}, steps: {steps}}}
        sampler: random
        device: {device}
        seed: 0
        """))
    return path


def cycle_s(storage_url: str, name: str) -> float:
    """Mean seconds from one trial's start to the next one's (stored trial start times)."""
    study = optuna.load_study(study_name=name, storage=storage_url)
    starts = sorted(t.datetime_start for t in study.get_trials(deepcopy=False))
    return (starts[-1] - starts[0]).total_seconds() / (len(starts) - 1)


def paretolab_run(path: Path, workers: int | str) -> float:
    return paretolab_timed(path, workers)[0]


def paretolab_timed(path: Path, workers: int | str) -> tuple[float, float, float]:
    """(wall seconds of run_study, steady-state trials per second, mean trial cycle seconds)."""
    checked = check_study(load_spec(path))
    start = time.perf_counter()
    out = run_study(checked, workers=workers, progress=False, report_every=0)
    elapsed = time.perf_counter() - start
    assert out.counts["COMPLETE"] == checked.spec.budget.trials, out.counts
    study = optuna.load_study(study_name=checked.spec.name, storage=checked.spec.storage_url)
    trials = study.get_trials(deepcopy=False)
    first = min(t.datetime_start for t in trials)
    last = max(t.datetime_complete for t in trials)
    return (elapsed, len(trials) / max(1e-9, (last - first).total_seconds()),
            cycle_s(checked.spec.storage_url, checked.spec.name))


def bare_run(root: Path, trials: int, steps: int) -> tuple[float, float]:
    """(wall seconds, mean trial cycle seconds) of the plain Optuna loop."""
    root.mkdir(parents=True, exist_ok=True)
    spec = load_spec(write_spec(root, "bare-spec", trials, steps))
    checked = check_study(spec)
    storage = open_storage(f"sqlite:///{root}/bare/study.db")
    study = optuna.create_study(study_name="bare", storage=storage, directions=spec.directions,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    names = checked.balanced_names

    def objective(trial: optuna.Trial) -> list[float]:
        raw = {n: trial.suggest_float(f"u.{n}", 0.0, 1.0) for n in names}
        total = sum(raw.values()) or 1.0
        config = TrialConfig(weights={n: v / total for n, v in raw.items()},
                             balancer={"method": "static", "settings": {}},
                             train=spec.train.model_dump(), task="toy", task_params={},
                             loss_groups=checked.loss_groups, seed=trial_seed(0, trial.number),
                             steps=steps, eval_every=spec.eval_every)
        metrics = train(config, "cpu").metrics
        return [metrics[n] for n in spec.objective_names]

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - start, cycle_s(f"sqlite:///{root}/bare/study.db", "bare")


def breakdown(root: Path, trials: int, steps: int) -> None:
    """Where paretolab's per-trial time goes: perf_counter around the calls of one 1-worker run."""
    import collections
    import functools

    import paretolab.kinds.task as objective_mod  # the task kind trains
    import paretolab.worker as runner_mod  # the trial loop lives in worker.py

    spent: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter = collections.Counter()

    def timed(owner: object, name: str) -> None:
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
                calls[name] += 1

        setattr(owner, name, wrapper)

    for owner, name in ((runner_mod, "_counts"), (runner_mod, "_fail_stale"), (objective_mod, "train"),
                        (objective_mod, "suggest_config"), (optuna.Trial, "set_user_attr")):
        timed(owner, name)
    _, _, cycle = paretolab_timed(write_spec(root, "breakdown", trials, steps), 1)
    print(f"\n### Where a paretolab trial's time goes ({trials} trials x {steps} steps, 1 worker)\n")
    print(f"trial cycle {1e3 * cycle:.1f} ms; per trial:")
    for name in spent:
        print(f"- {name}: {1e3 * spent[name] / trials:.2f} ms ({calls[name]} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cpu-trials", type=int, default=24)
    parser.add_argument("--cpu-steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of a trial")
    parser.add_argument("--overhead-only", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    os.chdir(root)
    print(f"cores: {len(os.sched_getaffinity(0))}, load average before: {os.getloadavg()[0]:.2f}, "
          f"torch {torch.__version__}, optuna {optuna.__version__}, GPUs: {torch.cuda.device_count()}")
    bare_run(root / "warm-up-bare", 3, args.steps)  # first-call costs (imports, allocator) for both
    paretolab_run(write_spec(root, "warm-up", 3, args.steps), 1)

    n = args.trials
    rows = []
    for r in range(args.repeats):  # interleaved so both see the same machine load
        wall_b, cyc_b = bare_run(root / f"b{r}", n, args.steps)
        wall_o, _, cyc_o = paretolab_timed(write_spec(root, f"ours{r}", n, args.steps), 1)
        rows.append((wall_b, wall_o, cyc_b, cyc_o))
    print(f"\n### Per-trial overhead ({n} toy trials x {args.steps} steps, SQLite, 1 worker)\n")
    print("| repeat | bare Optuna loop s | paretolab s | end-to-end ratio | per trial bare ms "
          "| per trial paretolab ms | per-trial ratio |")
    print("|---|---|---|---|---|---|---|")
    for i, (wb, wo, cb, co) in enumerate(rows):
        print(f"| {i} | {wb:.2f} | {wo:.2f} | {wo / wb:.3f}x | {1e3 * cb:.1f} | {1e3 * co:.1f} "
              f"| {co / cb:.3f}x |")
    per_trial = sorted(r[3] / r[2] for r in rows)[len(rows) // 2]
    extra = sorted(r[3] - r[2] for r in rows)[len(rows) // 2]
    end_to_end = sorted(r[1] / r[0] for r in rows)[len(rows) // 2]
    print(f"\nper-trial overhead (median of {args.repeats}): paretolab / bare = {per_trial:.3f}x "
          f"({1e3 * extra:+.1f} ms per trial); goal <= 1.05x")
    print(f"end to end (median; includes the final tables and report.html): {end_to_end:.3f}x")
    if args.breakdown:
        breakdown(root, n, args.steps)
    if args.overhead_only:
        return

    print(f"\n### Throughput, CPU-bound trials ({args.cpu_trials} toy trials x {args.cpu_steps} steps)\n")
    print(f"| workers | wall s (best of {args.repeats}) | trials/s end to end | speed-up "
          "| trials/s steady state | speed-up |")
    print("|---|---|---|---|---|---|")
    times: dict[int, tuple[float, float]] = {}  # best wall time, best steady-state rate
    for w in (1, 2):
        runs = [paretolab_timed(write_spec(root, f"cpu{w}-{r}", args.cpu_trials, args.cpu_steps), w)
                for r in range(args.repeats)]
        times[w] = (min(x[0] for x in runs), max(x[1] for x in runs))
        print(f"| {w} | {times[w][0]:.2f} | {args.cpu_trials / times[w][0]:.3f} | "
              f"{times[1][0] / times[w][0]:.2f}x "
              f"| {times[w][1]:.3f} | {times[w][1] / times[1][1]:.2f}x |")
    print(f"\n2 workers / 1 worker throughput: {times[1][0] / times[2][0]:.2f}x end to end, "
          f"{times[2][1] / times[1][1]:.2f}x steady state (goal >= 1.8x on 2 cores)")
    n_gpu = torch.cuda.device_count()
    if n_gpu:
        g1 = paretolab_run(write_spec(root, "gpu1", args.cpu_trials, args.cpu_steps, "cuda:0"), 1)
        gn = paretolab_run(write_spec(root, "gpun", args.cpu_trials, args.cpu_steps, "cuda"), "auto")
        print(f"\nGPU: 1 worker {g1:.2f} s, one worker per GPU ({n_gpu}) {gn:.2f} s: {g1 / gn:.2f}x")
    else:
        print("\nGPU: no GPU on this machine; the one-worker-per-GPU figure was not measured.")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
