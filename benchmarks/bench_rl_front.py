"""How much of deep-sea-treasure's known Pareto front the RL studies reach, per balancer.

Runs ``studies/deep_sea_treasure.yaml`` (the concave variant, whose true front has 10 points,
most of them off its convex hull) with its task and budget, once per way of searching:

* ``static``: weighted sums only (the simplex weights searched);
* ``chebyshev`` and ``stch``: the (smoothed) weighted Chebyshev scalarization;
* ``lagrangian``: the epsilon-constraint method: treasure alone (weights fixed at 1 and 0)
  with the travel time held under a searched threshold (``-time <= threshold``);

and ``study``: the study file's own search (all of its balancers in one study, its sampler
choosing among them), run only when named (``--methods study``). For each it reports how many
of the 10 true points some trial's greedy policy reaches (both returns equal), the hypervolume
ratio to the true front (reference: the true front's worst values minus 1), the environment
steps and the wall time. Then ``studies/resource_gathering.yaml`` and its hypervolume ratio to
the front mo-gymnasium gives. The true fronts are
``env.unwrapped.pareto_front(gamma=1.0)``.

    python -m benchmarks.bench_rl_front                       # 12 trials per method
    python -m benchmarks.bench_rl_front --trials 6 --workers 2 --methods static lagrangian
    python -m benchmarks.bench_rl_front --methods study --trials 40 --rg-trials 0
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from paretolab.cli import app
from paretolab.tasks.rl.envs import known_front
from paretolab.tasks.rl.front import hypervolume_ratio, matched_points, reference_point

STUDIES = Path(__file__).resolve().parents[1] / "studies"
METHODS: dict[str, dict[str, Any]] = {
    "static": {"weights": "simplex", "balancer": ["static"]},
    "chebyshev": {"weights": "simplex", "balancer": [{"method": "chebyshev", "ideal": "running_min"}]},
    "stch": {"weights": "simplex", "balancer": [{"method": "stch", "ideal": "running_min"}]},
    "lagrangian": {"weights": {"fixed": {"treasure": 1.0, "time": 0.0}},
                   "balancer": [{"method": "lagrangian", "constraint": "time", "threshold": [1.0, 20.0]}]},
    "study": {},  # the study file's own search: static, chebyshev and lagrangian in one study
}


def run_study(spec: dict[str, Any], folder: Path) -> tuple[pd.DataFrame, float]:
    """Run the study ``spec`` in ``folder``; its complete trials and the wall time."""
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    start = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        app(["run", str(path), "--no-progress"], standalone_mode=False)
    finally:
        os.chdir(cwd)
    wall = time.perf_counter() - start
    trials = pd.read_csv(folder / "reports" / spec["name"] / "trials.csv")
    return trials[trials["state"] == "COMPLETE"], wall


def judge(trials: pd.DataFrame, names: list[str], front: np.ndarray) -> dict[str, Any]:
    found = trials[names].to_numpy(float)
    if "feasible" in trials and trials["feasible"].dtype == bool:
        found = found[trials["feasible"].to_numpy()]
    hits = matched_points(found, front)
    unique = np.unique(found, axis=0)
    a, b = unique[:, None, :], unique[None, :, :]
    better = (a >= b).all(axis=2) & (a > b).any(axis=2)  # better[i, j]: i dominates j
    best = unique[~better.any(axis=0)]  # the found front: no other found point dominates them
    return {"points": f"{int(hits.sum())}/{len(front)}",
            "reached": " ".join(f"({', '.join(f'{v:g}' for v in p)})" for p in front[hits]),
            "found_front": " ".join(f"({', '.join(f'{v:g}' for v in p)})" for p in best),
            "hv_ratio": round(hypervolume_ratio(found, front), 3),
            "env_steps": int(trials["metric:env_steps"].sum()),
            "trials": len(trials)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="trials per method")
    parser.add_argument("--steps", type=int, default=None,
                        help="PPO updates per trial (default: the study's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=[m for m in METHODS if m != "study"],
                        choices=list(METHODS))
    parser.add_argument("--rg-trials", type=int, default=8, help="resource-gathering trials (0: skip)")
    args = parser.parse_args()

    base = yaml.safe_load((STUDIES / "deep_sea_treasure.yaml").read_text())
    names = [o["name"] for o in base["objectives"]]
    front = known_front(base["task"]["params"]["env"])
    print(f"deep-sea-treasure concave: {len(front)} true points, hypervolume reference "
          f"{reference_point(front).tolist()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            spec = {**base, "name": f"bench-rl-{method}", "workers": args.workers,
                    "search": {**base["search"], **METHODS[method]},
                    "budget": {**base["budget"], "trials": args.trials,
                               **({"steps": args.steps} if args.steps else {})}}
            trials, wall = run_study(spec, Path(tmp))
            row = {"method": method, **judge(trials, names, front), "wall_s": round(wall, 1)}
            rows.append(row)
            print(row, flush=True)
        if args.rg_trials:
            rg = yaml.safe_load((STUDIES / "resource_gathering.yaml").read_text())
            rg_names = ["death", "gold", "gem"]
            rg_front = known_front(rg["task"]["params"]["env"])
            spec = {**rg, "name": "bench-rl-rg", "workers": args.workers,
                    "budget": {**rg["budget"], "trials": args.rg_trials}}
            trials, wall = run_study(spec, Path(tmp))
            row = {"method": "resource-gathering (study file)", **judge(trials, rg_names, rg_front),
                   "wall_s": round(wall, 1)}
            rows.append(row)
            print(f"resource-gathering front {rg_front.tolist()}, reference "
                  f"{reference_point(rg_front).tolist()}")
            print(row, flush=True)
    print()
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + " --- |" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
