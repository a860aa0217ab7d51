"""Proposal cost of ``sampler: botorch`` (qLogNEHVI) replayed on saved study histories.

Reads the raw runs a sample-efficiency benchmark saved (``--save``; default
``benchmarks/data/issue21_sample_efficiency.json.gz``), takes the ``botorch`` runs of the chosen
tasks, and replays each run's history: for trial ``k`` (``--from`` to the run's end, every
``--every``-th), the sampler proposes from the first ``k`` trials (as stored: params and values),
one sampler instance per run and mode, so a mode that keeps state between proposals (the GP
hyperparameters of ``warm_start``) sees the sequence it would see in a study. Per mode: the
median and 90th percentile of the seconds per proposal, and how far its proposals land from
the reference mode's (``before``: refit from scratch each time, raw samples evaluated 5 at a
time) in the unit cube (max-norm).

    python -m benchmarks.bench_proposal_cost --tasks digits --seeds 0 1 2
    python -m benchmarks.bench_proposal_cost --tasks digits --seeds 0 --profile 40   # cProfile one proposal
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import math
import pstats
import time
import warnings
from pathlib import Path

import numpy as np

DEFAULT = Path(__file__).parent / "data" / "issue21_sample_efficiency.json.gz"
BOUND = math.log(100.0)  # the simplex log-ratio params' range (spread: log, max_ratio 100)
MODES = {"before": {"warm_start": False, "init_batch_limit": 5},  # issue 27.9's starting point
         "batched": {"warm_start": False, "init_batch_limit": 64},
         "after": {"warm_start": True, "init_batch_limit": 64}}


def load(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return json.load(fh)


def history(run: dict, k: int, directions: list[str], sampler):
    """An in-memory study holding the run's first ``k`` trials, proposing by ``sampler``."""
    import optuna
    from optuna.distributions import FloatDistribution

    study = optuna.create_study(directions=directions, sampler=sampler)
    for row in run["rows"][:k]:
        state = optuna.trial.TrialState[row["state"]]
        study.add_trial(optuna.trial.create_trial(
            state=state, params=row["params"],
            distributions={p: FloatDistribution(-BOUND, BOUND) for p in row["params"]},
            values=row["values"] if state == optuna.trial.TrialState.COMPLETE else None))
    return study


def propose(study, names: list[str]) -> np.ndarray:
    """Ask for the next trial (Optuna calls the sampler's relative sampling in ``ask``); its
    point in the unit cube."""
    trial = study.ask()
    return np.array([(trial.suggest_float(p, -BOUND, BOUND) + BOUND) / (2 * BOUND) for p in names])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--tasks", nargs="*", default=["digits"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--from", dest="start", type=int, default=10, help="first replayed trial")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--profile", type=int, default=None, help="cProfile the proposal of this trial (cold)")
    args = ap.parse_args()

    import optuna
    import torch
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from benchmarks._common import TASKS
    from paretolab.samplers.ehvi import BoTorchEHVISampler

    runs = [r for r in load(args.data) if r["method"] == "botorch" and r["task"] in args.tasks
            and r["seed"] in args.seeds]
    for run in runs:
        directions = [d for _, d in TASKS[run["task"]][1]]
        names = sorted(run["rows"][0]["params"])
        if args.profile is not None:
            sampler = BoTorchEHVISampler(seed=run["seed"], n_startup_trials=0, **MODES["before"])
            propose(history(run, args.profile - 1, directions, sampler), names)  # imports, kernel load
            study = history(run, args.profile, directions, sampler)
            prof = cProfile.Profile()
            prof.runcall(propose, study, names)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
            continue
        seconds: dict[str, list[float]] = {m: [] for m in MODES}
        cpu: dict[str, list[float]] = {m: [] for m in MODES}
        points: dict[str, list[np.ndarray]] = {m: [] for m in MODES}
        samplers = {m: BoTorchEHVISampler(seed=run["seed"], n_startup_trials=0, **o) for m, o in MODES.items()}
        for k in range(args.start, len(run["rows"]), args.every):
            for mode, sampler in samplers.items():  # interleaved: the machine's load hits every mode alike
                study = history(run, k, directions, sampler)
                start, start_cpu = time.perf_counter(), time.process_time()
                points[mode].append(propose(study, names))
                seconds[mode].append(time.perf_counter() - start)
                cpu[mode].append(time.process_time() - start_cpu)
        for mode in MODES:
            s, c = np.array(seconds[mode]), np.array(cpu[mode])
            dist = np.array([np.abs(a - b).max() for a, b in zip(points[mode], points["before"])])
            print(f"{run['task']:22s} seed {run['seed']} {mode:7s}: {len(s)} proposals, wall median "
                  f"{np.median(s):.2f} s, p90 {np.percentile(s, 90):.2f} s; CPU median {np.median(c):.2f} s, "
                  f"p90 {np.percentile(c, 90):.2f} s; distance to before: median {np.median(dist):.3f}, "
                  f"max {dist.max():.3f}, within 0.05: {int((dist <= 0.05).sum())}", flush=True)


if __name__ == "__main__":
    main()
