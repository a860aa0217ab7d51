"""The front of ``studies/posttrain.yaml`` (GRPO fine-tunes, three rewards and the KL) at 24
and 48 trials: hypervolume, distinct non-dominated points, wall time and GRPO steps.

One study of ``--trials`` trials runs with the study file's task, search, budget and workers;
the front at each of ``--at`` trial counts is read from its first that many trials (by trial
number; the sampler proposed them without knowing the budget beyond them, which is what a study
stopped there would have seen). Hypervolume: every objective turned into one to minimise in
[0, 1] -- ``1 - correct``, ``length / max_new``, ``1 - format`` and ``kl`` (capped at 1) --
against the reference point (1, 1, 1, 1), computed by moocore; the starting model is measured
the same way for comparison (its own point, at KL 0).

    python -m benchmarks.bench_posttrain                      # 48 trials, fronts at 24 and 48
    python -m benchmarks.bench_posttrain --trials 24 --at 12 24 --keep reports-bench
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from paretolab.cli import app

STUDY = Path(__file__).resolve().parents[1] / "studies" / "posttrain.yaml"


def minimised(frame: pd.DataFrame, max_new: int) -> np.ndarray:
    """(n, 4) objectives as losses in [0, 1]: 1 - correct, length / max_new, 1 - format, kl (<= 1)."""
    return np.column_stack([1.0 - frame["correct"], frame["length"] / max_new, 1.0 - frame["format"],
                            np.minimum(frame["kl"], 1.0)]).astype(float)


def non_dominated(points: np.ndarray) -> np.ndarray:
    """The distinct rows no other row dominates (all objectives minimised)."""
    unique = np.unique(points, axis=0)
    a, b = unique[:, None, :], unique[None, :, :]
    dominated = ((a <= b).all(axis=2) & (a < b).any(axis=2)).any(axis=0)
    return unique[~dominated]


def hypervolume(points: np.ndarray) -> float:
    import moocore

    inside = points[(points < 1.0).all(axis=1)]
    return float(moocore.hypervolume(inside, ref=np.ones(points.shape[1]))) if len(inside) else 0.0


def starting_point(params: dict[str, Any]) -> dict[str, float]:
    """The starting checkpoint's metrics (the fine-tunes' common origin)."""
    from paretolab.tasks import make_task

    task = make_task("posttrain", params)
    model = task.build_model().eval()
    with torch.no_grad():
        return dict(task.evaluate(model, torch.device("cpu")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--at", type=int, nargs="+", default=[24, 48], help="trial counts to read the front at")
    parser.add_argument("--workers", type=int, default=None, help="default: the study file's")
    parser.add_argument("--keep", type=Path, default=None, help="keep the study's folder here (its report)")
    args = parser.parse_args()

    spec = yaml.safe_load(STUDY.read_text())
    spec["budget"]["trials"] = args.trials
    if args.workers:
        spec["workers"] = args.workers
    max_new = int(spec["task"]["params"]["max_new"])
    folder = Path(tempfile.mkdtemp(prefix="bench-posttrain-"))
    path = folder / "posttrain.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    start = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        app(["run", str(path), "--no-progress"], standalone_mode=False)
    finally:
        os.chdir(cwd)
    wall = time.perf_counter() - start
    trials = pd.read_csv(folder / "reports" / "posttrain" / "trials.csv").sort_values("trial")
    origin = starting_point(spec["task"]["params"])
    print(f"starting model: correct {origin['correct']:.3f}, length {origin['length']:.2f}, "
          f"format {origin['format']:.3f}, kl 0; hypervolume of its point "
          f"{hypervolume(minimised(pd.DataFrame([origin]), max_new)):.4f}")
    print(f"study: {args.trials} trials, {spec['budget']['steps']} GRPO steps each, "
          f"{spec['workers']} workers, wall {wall:.0f} s (with the one-off pre-training if not cached)")
    rows = []
    for count in args.at:
        first = trials[trials["trial"] < count]
        done = first[first["state"] == "COMPLETE"]
        front = non_dominated(minimised(done, max_new))
        rows.append({"trials": count, "complete": len(done), "front_points": len(front),
                     "hypervolume": round(hypervolume(front), 4),
                     "grpo_steps": int(len(done) * spec["budget"]["steps"]),
                     "trial_s_median": round(float(done["duration_s"].median()), 1),
                     "trial_s_sum": round(float(done["duration_s"].sum()), 0),
                     "correct_range": f"{done['correct'].min():.2f}-{done['correct'].max():.2f}",
                     "length_range": f"{done['length'].min():.2f}-{done['length'].max():.2f}",
                     "format_range": f"{done['format'].min():.2f}-{done['format'].max():.2f}",
                     "kl_range": f"{done['kl'].min():.3f}-{done['kl'].max():.3f}"})
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + " --- |" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    if args.keep is not None:
        shutil.copytree(folder, args.keep, dirs_exist_ok=True)
        print(f"kept: {args.keep}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
