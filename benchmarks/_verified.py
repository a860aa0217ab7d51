"""The sample-efficiency benchmark's verified reading (issue 19): is a run's front real?

``bench_sample_efficiency --verified`` keeps the current reading (single-seed trial values) and
adds this one, in the spirit of ``paretolab verify``:

* **Checkpoints.** At each share q of the step budget (``--checkpoints``, default every 10%),
  a run's raw front is that of the current reading: the non-dominated COMPLETE trials among
  those it finished within ``q * budget`` steps.
* **Retraining.** Every configuration on one of its checkpoint fronts is retrained with K fresh
  seeds (``--verify-seeds``, default 3): the seeds ``paretolab verify`` uses,
  ``repeat_seed(trial seed, 1..K)``, through paretolab's own ``Objective`` (a repeat trial:
  full steps, never pruned). A configuration then stands for the mean of its K fresh draws; the
  original draw is left out, since it was selected for looking good (the winner's curse).
* **Verified hypervolume.** A checkpoint's value is the hypervolume of its front's
  seed-averaged points, as a fraction of the reference built the same way: the union of every
  retrained configuration's mean over all runs in the table (all methods, seeds and
  checkpoints; so no run's verified front can exceed it), with the reference point at that
  union front's nadir + 10% of its range (the current reading's rule).
* **Compute.** "Steps to X%" is the median over seeds of the run's own training steps up to the
  first checkpoint whose verified fraction reaches X ("not reached" when most seeds do not). The
  verification's own steps (K retrainings of each point of that checkpoint's front, at full
  steps) are NOT counted in it; they are reported beside it, since a user verifies once, the
  front they stop at, not every checkpoint.

The retrained draws are saved (``--verified-save``, default next to ``--save``) and reused, so
``--from-json runs.json --verified`` summarises again without retraining, and a cut-short
retraining resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks._common import TASKS, spec_text

CHECKPOINTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SHOWN = (0.1, 0.2, 0.25, 0.5, 1.0)  # the checkpoints whose fractions the table shows (those there are)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the verified reading (on ``bench_sample_efficiency``'s parser)."""
    parser.add_argument("--verified", action="store_true",
                        help="also the verified reading: checkpoint fronts retrained with fresh seeds")
    parser.add_argument("--verify-seeds", type=int, default=3, help="fresh seeds per front configuration")
    parser.add_argument("--checkpoints", type=float, nargs="*", default=list(CHECKPOINTS),
                        help="shares of the step budget at which a run's front is verified")
    parser.add_argument("--verified-save", type=Path, default=None,
                        help="retrained draws (JSON; default: --save's name with .verified.json)")


def _key(run: dict) -> str:
    return f"{run['task']}|{run['method']}|{run['seed']}"


def checkpoint_fronts(run: dict, budget: int, checkpoints: list[float]) -> list[tuple[float, int, list[int]]]:
    """Per checkpoint q: (q, steps the run had spent by then, trial numbers on its raw front)."""
    from paretolab.dominance import nondominated_mask

    directions = [d for _, d in TASKS[run["task"]][1]]
    cumulative = np.cumsum([row["steps"] for row in run["rows"]])
    out = []
    for q in checkpoints:
        upto = int(np.searchsorted(cumulative, q * budget + 1e-9, side="right"))
        done = [i for i, row in enumerate(run["rows"][:upto])
                if row["state"] == "COMPLETE" and row["values"] is not None]
        spent = int(cumulative[upto - 1]) if upto else 0
        if not done:
            out.append((q, spent, []))
            continue
        mask = nondominated_mask(np.array([run["rows"][i]["values"] for i in done], float), directions)
        out.append((q, spent, [i for i, on in zip(done, mask) if on]))
    return out


def retrain(job: tuple[str, str, int, int, list[tuple[int, dict]], int]) -> dict:
    """Retrain each (trial number, params) of one run with K fresh seeds; their objective values
    (``None`` for a draw that failed)."""
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from paretolab.objective import Objective, repeat_seed
    from paretolab.records import RepeatRecord
    from paretolab.search_space import trial_seed
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    task, method, seed, trials, configs, k = job
    spec = parse_spec(spec_text(task, method, seed, trials))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(seed),
                                study_name=spec.name)
    objective = Objective(checked, "cpu")
    start = time.perf_counter()
    draws: dict[str, list[list[float] | None]] = {}
    for number, params in configs:
        base = trial_seed(seed, number)
        for j in range(1, k + 1):
            study.enqueue_trial(params, user_attrs={"repeat": RepeatRecord(number, repeat_seed(base, j)).to_attr()})
            study.optimize(objective, n_trials=1, catch=(Exception,))
            t = study.trials[-1]
            draws.setdefault(str(number), []).append(
                list(t.values) if t.state.name == "COMPLETE" and t.values is not None else None)
    return {"task": task, "method": method, "seed": seed, "draws": draws, "wall_s": time.perf_counter() - start}


def _saved_path(args: argparse.Namespace) -> Path | None:
    if args.verified_save is not None:
        return Path(args.verified_save)
    base = args.save or (args.from_json[0] if args.from_json else None)
    return None if base is None else Path(base).with_suffix(".verified.json")


def verify_runs(results: list[dict], args: argparse.Namespace) -> dict[str, dict[str, list]]:
    """Every run's checkpoint-front configurations retrained (what is saved is reused)."""
    path = _saved_path(args)
    saved: dict[str, dict[str, list]] = json.loads(path.read_text()) if path and path.exists() else {}
    jobs = []
    for run in results:
        if any("params" not in row for row in run["rows"]):
            sys.exit("--verified needs runs saved with their trials' params (rerun the runs)")
        steps = TASKS[run["task"]][3]
        wanted = sorted({i for _, _, front in checkpoint_fronts(run, args.trials * steps, args.checkpoints)
                         for i in front})
        have = saved.get(_key(run), {})
        todo = [(i, run["rows"][i]["params"]) for i in wanted
                if len(have.get(str(i), [])) < args.verify_seeds]
        if todo:
            jobs.append((run["task"], run["method"], run["seed"], args.trials, todo, args.verify_seeds))
    if jobs:
        n = sum(len(j[4]) for j in jobs) * args.verify_seeds
        print(f"verified reading: retraining {n} draws in {len(jobs)} runs", file=sys.stderr, flush=True)
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for res in pool.map(retrain, jobs):
                saved.setdefault(_key(res), {}).update(res["draws"])
                print(f"[{time.perf_counter() - start:.0f} s] verified {res['task']} {res['method']} seed "
                      f"{res['seed']}: {len(res['draws'])} configurations, {res['wall_s']:.0f} s",
                      file=sys.stderr, flush=True)
                if path is not None:
                    path.write_text(json.dumps(saved))
    return saved


def _means(draws: list[list[float] | None]) -> np.ndarray | None:
    ok = [d for d in draws if d is not None]
    return np.mean(np.array(ok, float), axis=0) if ok else None


def _median_cell(hits: list[float], per_trial: int) -> str:
    med = float(np.median(hits))
    reached = sum(math.isfinite(h) for h in hits)
    return (f"{med:.0f} ({med / per_trial:.1f} trials; {reached}/{len(hits)})" if math.isfinite(med)
            else f"not reached ({reached}/{len(hits)})")


def summarise(results: list[dict], saved: dict[str, dict[str, list]], trials: int, methods: list[str],
              checkpoints: list[float], k: int) -> str:
    """The verified reading's tables, per task."""
    from paretolab.dominance import default_reference_point, hypervolume, nondominated_mask

    checkpoints = sorted(checkpoints)
    shown = [q for q in SHOWN if q in checkpoints] or checkpoints[-1:]
    lines = [f"\n## Verified reading: checkpoint fronts retrained with {k} fresh seeds "
             f"(checkpoints {', '.join(f'{q:g}' for q in checkpoints)} of the budget)"]
    for task in TASKS:
        runs = [r for r in results if r["task"] == task and r["method"] in methods]
        if not runs:
            continue
        directions = [d for _, d in TASKS[task][1]]
        steps = TASKS[task][3]
        budget = trials * steps
        means = {(_key(r), int(i)): m for r in runs for i, d in saved.get(_key(r), {}).items()
                 if (m := _means(d)) is not None}
        if not means:
            continue
        union = np.array(list(means.values()))
        union_front = union[nondominated_mask(union, directions)]
        ref = default_reference_point(union_front, directions)
        hv_ref = hypervolume(union_front, directions, ref)
        lines.append(f"\n### {task} (verified): reference HV {hv_ref:.6g} from the means of "
                     f"{len(union)} retrained configurations, {len(union_front)} on their front (ref point "
                     f"{', '.join(f'{v:.4g}' for v in ref)})\n")
        lines.append(f"| method | median verified HV fraction at {' / '.join(f'{q:.0%}' for q in shown)} "
                     "of budget | median run steps to 90% (seeds reaching) | median run steps to 95% "
                     "(seeds reaching) | verification steps at 95% (median) | final front: points / "
                     "on its verified front (median) |")
        lines.append("|---|---|---|---|---|---|")
        for method in methods:
            mruns = [r for r in runs if r["method"] == method]
            if not mruns:
                continue
            fracs: dict[float, list[float]] = {q: [] for q in checkpoints}
            hits: dict[float, list[float]] = {0.9: [], 0.95: []}
            verify_cost: list[float] = []
            sizes, robust = [], []
            for r in mruns:
                first: dict[float, float] = {0.9: math.inf, 0.95: math.inf}
                cost95 = math.inf
                fronts = checkpoint_fronts(r, budget, checkpoints)
                for q, spent, front in fronts:
                    pts = [means[(_key(r), i)] for i in front if (_key(r), i) in means]
                    hv = hypervolume(np.array(pts), directions, ref) if pts else 0.0
                    fracs[q].append(hv / hv_ref)
                    for thr in first:
                        if math.isinf(first[thr]) and hv / hv_ref >= thr - 1e-12:
                            first[thr] = spent
                            if thr == 0.95:
                                cost95 = len(front) * k * steps
                for thr in first:
                    hits[thr].append(first[thr])
                verify_cost.append(cost95)
                final = [i for i in fronts[-1][2] if (_key(r), i) in means]
                sizes.append(len(fronts[-1][2]))
                if final:
                    pts = np.array([means[(_key(r), i)] for i in final])
                    robust.append(int(nondominated_mask(pts, directions).sum()))
            at = " / ".join(f"{np.median(fracs[q]):.3f}" for q in shown)
            cost = float(np.median(verify_cost))
            cost_cell = f"{cost:.0f}" if math.isfinite(cost) else "-"
            lines.append(f"| {method} | {at} | {_median_cell(hits[0.9], steps)} | "
                         f"{_median_cell(hits[0.95], steps)} | {cost_cell} | "
                         f"{np.median(sizes):.0f} / {np.median(robust) if robust else 0:.0f} |")
    return "\n".join(lines)


def reading(results: list[dict], methods: list[str], args: argparse.Namespace) -> str:
    """Retrain what is missing, then the verified tables."""
    saved = verify_runs(results, args)
    return summarise(results, saved, args.trials, methods, args.checkpoints, args.verify_seeds)

