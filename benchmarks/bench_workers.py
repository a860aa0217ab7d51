"""Workers benchmark: paretolab's per-trial overhead and the speed-up of parallel workers.

1. Overhead: N trials of the same tiny training function (``paretolab.trainer.train`` on the
   ``toy`` task), once through ``run_study`` (one worker: lock, budget check, stale check,
   records in user attrs) and once through a bare ``study.optimize`` loop that samples the same
   params and calls the same function, on the same kind of storage (SQLite with heartbeats).
2. Throughput: the same CPU-bound study with 1 worker and with 2 worker processes (trials/s);
   on a machine with GPUs, one worker per GPU against one worker on one GPU.

Usage: python benchmarks/bench_workers.py [--trials 40] [--steps 200] [--cpu-trials 16] [--cpu-steps 3000]
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
from paretolab.spec_check import check_study
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


def paretolab_run(path: Path, workers: int | str) -> float:
    checked = check_study(load_spec(path))
    start = time.perf_counter()
    out = run_study(checked, workers=workers, progress=False, report_every=0)
    elapsed = time.perf_counter() - start
    assert out.counts["COMPLETE"] == checked.spec.budget.trials, out.counts
    return elapsed


def bare_run(root: Path, trials: int, steps: int) -> float:
    """The same trials through plain Optuna: sample weights, call train(), return the values."""
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
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cpu-trials", type=int, default=16)
    parser.add_argument("--cpu-steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    os.chdir(root)
    print(f"cores: {len(os.sched_getaffinity(0))}, load average before: {os.getloadavg()[0]:.2f}, "
          f"torch {torch.__version__}, optuna {optuna.__version__}, GPUs: {torch.cuda.device_count()}")

    rows = []
    for r in range(args.repeats):  # interleaved so both see the same machine load
        t_bare = bare_run(root / f"b{r}", args.trials, args.steps)
        t_ours = paretolab_run(write_spec(root, f"ours{r}", args.trials, args.steps), 1)
        rows.append((t_bare, t_ours))
    print(f"\n### Per-trial overhead ({args.trials} toy trials x {args.steps} steps, SQLite, 1 worker)\n")
    print("| repeat | bare Optuna loop s | paretolab s | per trial bare ms | per trial paretolab ms | ratio |")
    print("|---|---|---|---|---|---|")
    for i, (b, o) in enumerate(rows):
        print(f"| {i} | {b:.2f} | {o:.2f} | {1e3 * b / args.trials:.1f} | {1e3 * o / args.trials:.1f} "
              f"| {o / b:.3f}x |")
    best_b, best_o = min(r[0] for r in rows), min(r[1] for r in rows)
    print(f"\noverhead (best of {args.repeats} each): paretolab / bare = {best_o / best_b:.3f}x "
          f"({1e3 * (best_o - best_b) / args.trials:+.1f} ms per trial); goal <= 1.05x")

    print(f"\n### Throughput, CPU-bound trials ({args.cpu_trials} toy trials x {args.cpu_steps} steps)\n")
    print("| workers | wall s | trials/s | speed-up |")
    print("|---|---|---|---|")
    times = {}
    for w in (1, 2):
        times[w] = min(paretolab_run(write_spec(root, f"cpu{w}-{r}", args.cpu_trials, args.cpu_steps), w)
                       for r in range(args.repeats))
        print(f"| {w} | {times[w]:.2f} | {args.cpu_trials / times[w]:.3f} | {times[1] / times[w]:.2f}x |")
    print(f"\n2 workers / 1 worker throughput: {times[1] / times[2]:.2f}x (goal >= 1.8x on 2 cores)")
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
