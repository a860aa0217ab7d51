"""Where in weight space a two-loss task's front lies, and how much one weight varies by seed.

Diagnostics behind the sample-efficiency reading (RESULTS.md): every point is a real trial of
``bench_sample_efficiency``'s study for the task (static balancer), with its weights fixed.

  --grid LO HI N     N weights w1 evenly from LO to HI (w2 = 1 - w1): final objective values,
                     and which are on the grid's front
  --seeds R N        N trials (N different trial seeds) at one log-ratio r = log(w2 / w1) = R:
                     the mean, standard deviation and best of each objective

    python -m benchmarks.bench_weight_landscape toy --grid 0.45 0.60 31
    python -m benchmarks.bench_weight_landscape multitask_regression --seeds -3 8
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np

from benchmarks._common import TASKS, spec_text


def run_fixed(task: str, log_ratios: list[float]) -> np.ndarray:
    """Final objective values of one trial per log-ratio r = log(w2 / w1) (trial numbers 0, 1, ...)."""
    import optuna
    import torch
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from paretolab.objective import Objective
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    losses = TASKS[task][2]
    if len(losses) != 2:
        raise SystemExit(f"{task} has {len(losses)} losses; this probe is for two")
    # a max_ratio wide enough for every requested ratio
    bound = max(abs(r) for r in log_ratios) + 1.0
    text = spec_text(task, f"auto/log{math.exp(bound):.6g}", 0, len(log_ratios))
    spec = parse_spec(text)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(0))
    for r in log_ratios:
        study.enqueue_trial({f"r.{losses[1]}": r})
    objective = Objective(check_study(spec, check_storage_reachable=False), "cpu")
    study.optimize(objective, n_trials=len(log_ratios))
    return np.array([t.values for t in study.trials], dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=[t for t, v in TASKS.items() if len(v[2]) == 2])
    parser.add_argument("--grid", nargs=3, type=float, metavar=("LO", "HI", "N"))
    parser.add_argument("--seeds", nargs=2, type=float, metavar=("R", "N"))
    args = parser.parse_args()
    names = [n for n, _ in TASKS[args.task][1]]
    directions = [d for _, d in TASKS[args.task][1]]
    if args.grid:
        from paretolab.dominance import nondominated_mask
        lo, hi, n = args.grid
        w1 = np.linspace(lo, hi, int(n))
        values = run_fixed(args.task, [math.log((1 - w) / w) for w in w1])
        front = nondominated_mask(values, directions)
        print(f"| w1 | {' | '.join(names)} | on the grid's front |\n|---|{'---|' * len(names)}---|")
        for w, v, f in zip(w1, values, front):
            print(f"| {w:.4f} | {' | '.join(f'{x:.4g}' for x in v)} | {'yes' if f else ''} |")
        for k, name in enumerate(names):
            print(f"{name}: from {values[:, k].min():.4g} to {values[:, k].max():.4g}")
    if args.seeds:
        r, n = args.seeds[0], int(args.seeds[1])
        values = run_fixed(args.task, [r] * n)
        best = [values[:, k].min() if d == "minimize" else values[:, k].max()
                for k, d in enumerate(directions)]
        print(f"{n} trial seeds at r = log(w2 / w1) = {r:g} (w1 = {1 / (1 + math.exp(r)):.4f}):")
        for k, name in enumerate(names):
            print(f"  {name}: mean {values[:, k].mean():.4f}, std {values[:, k].std(ddof=1):.4f}, "
                  f"best {best[k]:.4f}")


if __name__ == "__main__":
    main()
