"""One run, the whole front: hypervolume against cumulative training steps, one-run vs per-weight studies.

Methods (all real paretolab studies on the benchmark tasks of ``benchmarks._common``, same task,
losses, objectives, step budget and learning rate):

  pml[:x<M>][:e<E>][:s<S>][:d<D>][:c<C>][:same]
              a ``one_run`` study (Pareto manifold learning, Dimitriadis et al. 2023): each trial
              is one run of M x the per-weight trial's steps (default M = 1) that adds E evaluated
              preferences (default 21) as trials; S preferences per step (default 1), Bezier
              degree D (default 1: one anchor per loss), Dirichlet concentration C (default 1),
              ``same``: every anchor starts from the same model
  tpe-log     the competent Optuna study: TPESampler(seed) with independent per-loss weights,
              log-uniform in [1e-3, 1] (bench_sample_efficiency's definition); ``tpe-indep`` (the
              same on [0, 1]) can be added with --methods
  auto+moasha paretolab's ``sampler: auto`` with MO-ASHA pruning (bench_sample_efficiency's)

x-axis: cumulative training steps actually run. A one-run study's run counts its steps once, at
the run; its points cost no training step (their evaluation time is in the wall-clock figures),
so its curve jumps when a run ends. The reference hypervolume is that of the union of every
complete point of every run of every method (per task), the reference point at the union
front's nadir + 10% of its range (``bench_sample_efficiency.summarise``'s rule). Medians over
seeds. Per task it prints::

    one-run / best per-weight steps to 95%: A / B = R (goal <= 0.25: met|not met)

where A is the best one-run method's median steps to 95% of the reference hypervolume and B the
best per-weight method's.

    python -m benchmarks.bench_one_run                     # 3 tasks x 5 seeds, 80 full trials
    python -m benchmarks.bench_one_run --seeds 2 --trials 40 --methods pml pml:x3 tpe-log
    ... --save a.json; ... --from-json a.json b.json       # runs in parts, summarised together
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks._common import TASKS, spec_text
from benchmarks.bench_sample_efficiency import make_sampler, method_reading, task_reference
from benchmarks.bench_sample_efficiency import run_one as run_per_weight

PER_WEIGHT = ["tpe-log", "auto+moasha"]  # tpe-log: the competent Optuna study (issue 18)
DEFAULT_METHODS = ["pml", "pml:x3", *PER_WEIGHT]


def is_one_run(method: str) -> bool:
    return method.split(":")[0] == "pml"


def pml_options(method: str) -> dict:
    """The one-run settings a method name gives (see the module docstring)."""
    out = {"mult": 1.0, "preferences": 21, "samples_per_step": 1, "degree": 1,
           "concentration": 1.0, "init": "independent"}
    for token in method.split(":")[1:]:
        if token == "same":
            out["init"] = "same"
        elif token[0] == "x":
            out["mult"] = float(token[1:])
        elif token[0] == "e":
            out["preferences"] = int(token[1:])
        elif token[0] == "s":
            out["samples_per_step"] = int(token[1:])
        elif token[0] == "d":
            out["degree"] = int(token[1:])
        elif token[0] == "c":
            out["concentration"] = float(token[1:])
        else:
            raise ValueError(f"unknown pml option {token!r} in {method!r}")
    return out


def one_run_text(task: str, method: str, seed: int, trials: int) -> tuple[str, int, int]:
    """(study text, steps per run, runs) for a one-run method: as many runs as fit the per-weight
    methods' step budget (``trials`` full trials)."""
    opts = pml_options(method)
    steps = TASKS[task][3]
    run_steps = max(1, int(round(steps * opts["mult"])))
    runs = max(1, (trials * steps) // run_steps)
    eval_every = max(1, run_steps // 10)
    text = spec_text(task, "auto", seed, runs)
    lines = [line for line in text.splitlines() if not line.startswith(("search:", "budget:", "name:"))]
    lines.insert(0, f"name: bench-onerun-{task}-{method}-{seed}")
    lines.append(f"budget: {{trials: {runs}, steps: {run_steps}, eval_every: {eval_every}}}")
    lines.append(f"one_run: {{preferences: {opts['preferences']}, samples_per_step: "
                 f"{opts['samples_per_step']}, degree: {opts['degree']}, concentration: "
                 f"{opts['concentration']}, init: {opts['init']}}}")
    lines.append("output_dir: " + os.environ.get("BENCH_ONE_RUN_DIR", "/tmp/bench_one_run") +
                 f"/{task}-{method.replace(':', '_')}-{seed}")
    return "\n".join(lines) + "\n", run_steps, runs


def run_one_run(job: tuple[str, str, int, int]) -> dict:
    """One one-run study: per-trial (state, steps, values) in trial order; runs get state RUN
    (their steps count, their own values never enter the front)."""
    import torch
    torch.set_num_threads(1)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from paretolab.objective import Objective
    from paretolab.records import OneRunRecord, StudyMeta, trial_attrs
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    task, method, seed, trials = job
    text, _, runs = one_run_text(task, method, seed, trials)
    spec = parse_spec(text)
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler("auto", seed, runs),
                                study_name=spec.name)
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    objective = Objective(checked, "cpu")
    start = time.perf_counter()
    for _ in range(runs):
        study.optimize(objective, n_trials=1, catch=(Exception,))
    rows = []
    for t in study.trials:
        link = OneRunRecord.read(t)
        is_run = link is None or link.role == "run"
        rows.append({"state": "RUN" if is_run and t.state.name == "COMPLETE" else t.state.name,
                     "steps": int(trial_attrs(t).get("steps", 0) or 0),
                     "values": list(t.values) if t.values is not None and not is_run else None,
                     "wall_s": float(trial_attrs(t).get("wall_time_s") or 0.0)})
    return {"task": task, "method": method, "seed": seed, "rows": rows,
            "wall_s": time.perf_counter() - start}


def run_job(job: tuple[str, str, int, int]) -> dict:
    return run_one_run(job) if is_one_run(job[1]) else run_per_weight(job)


def summarise(results: list[dict], trials: int, methods: list[str], *, label: str = "one-run",
              mine: Callable[[str], bool] = is_one_run) -> str:
    """The per-task table and the ``<label> / best per-weight steps to 95%`` line; ``mine``
    tells the methods on the label's side (default: the one-run methods)."""
    lines = []
    for task in TASKS:
        runs = [r for r in results if r["task"] == task]
        if not runs:
            continue
        steps = TASKS[task][3]
        directions, ref, hv_ref, n_complete = task_reference(runs, task)
        budget = trials * steps
        lines.append(f"\n### {task}: budget {trials} full trials of {steps} steps = {budget} steps; "
                     f"reference HV {hv_ref:.6g} from {n_complete} complete points (ref point "
                     f"{', '.join(f'{v:.4g}' for v in ref)})\n")
        lines.append("| method | median HV fraction at 10% / 25% / 50% / 100% of budget | median steps "
                     "to 90% (seeds reaching) | median steps to 95% (seeds reaching) | trials or runs "
                     "(median) | points (median) | wall s (median) |")
        lines.append("|---|---|---|---|---|---|---|")
        med95: dict[str, float] = {}
        final: dict[str, float] = {}  # median HV fraction at the whole budget (breaks ties)
        for method in methods:
            mruns = [r for r in runs if r["method"] == method]
            if not mruns:
                continue
            at, reach = method_reading(mruns, directions, ref, hv_ref, budget)
            final[method] = at[-1]
            med95[method] = reach[0.95][0]
            cells = [f"{med:.0f} ({reached}/{len(mruns)})" if math.isfinite(med)
                     else f"not reached ({reached}/{len(mruns)})" for med, reached in reach.values()]
            one = mine(method)
            n_main = np.median([sum(row["state"] in (("RUN", "FAIL") if one else
                                                    ("COMPLETE", "PRUNED", "FAIL")) for row in r["rows"])
                                for r in mruns])
            n_points = np.median([sum(row["state"] == "COMPLETE" for row in r["rows"]) for r in mruns])
            wall = np.median([r["wall_s"] for r in mruns])
            lines.append(f"| {method} | {' / '.join(f'{a:.3f}' for a in at)} | {cells[0]} | {cells[1]} | "
                         f"{n_main:.0f} | {n_points:.0f} | {wall:.0f} |")
        one_run = {m: v for m, v in med95.items() if mine(m)}
        per_weight = {m: v for m, v in med95.items() if not mine(m) and not is_one_run(m)}
        if one_run and per_weight:
            ma, a = min(one_run.items(), key=lambda kv: (kv[1], -final[kv[0]]))
            mb, b = min(per_weight.items(), key=lambda kv: (kv[1], -final[kv[0]]))

            def show(v: float) -> str:
                return f"{v:.0f}" if math.isfinite(v) else f"not reached in {budget}"

            if math.isfinite(a) and math.isfinite(b):
                ratio = f"{a / b:.2f}"
                met = "met" if a / b <= 0.25 else "not met"
            elif math.isfinite(a):  # B did not reach 95% in the budget: only a bound
                ratio = f"below {a / budget:.2f}"
                met = "met" if a <= 0.25 * budget else "not met"
            else:
                ratio, met = "n/a", "not met"
            lines.append(f"\n{label} / best per-weight steps to 95%: {show(a)} / {show(b)} = {ratio} "
                         f"(goal <= 0.25: {met})")
            lines.append(f"(best {label} method: {ma}; best per-weight method: {mb})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+seeds-1")
    parser.add_argument("--trials", type=int, default=80, help="full per-weight trials (the step budget)")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--methods", nargs="*", default=DEFAULT_METHODS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--save", type=Path, default=None, help="write raw per-trial results (JSON)")
    parser.add_argument("--from-json", type=Path, nargs="*", default=None,
                        help="summarise saved results (several files: one union), run nothing")
    args = parser.parse_args()
    if args.from_json:
        results = [r for path in args.from_json for r in json.loads(path.read_text())]
        methods = list(dict.fromkeys([*args.methods, *(r["method"] for r in results)]))
        methods = [m for m in methods if any(r["method"] == m for r in results)]
        print(f"one run vs per-weight (saved): {len(results)} runs, seeds {sorted({r['seed'] for r in results})}")
        print(summarise(results, args.trials, methods))
        return
    jobs = [(task, m, seed, args.trials) for seed in range(args.first_seed, args.first_seed + args.seeds)
            for task in args.tasks for m in args.methods]
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for res in pool.map(run_job, jobs):
            results.append(res)
            print(f"[{time.perf_counter() - start:.0f} s] {res['task']} {res['method']} seed {res['seed']}: "
                  f"{len(res['rows'])} trials, {res['wall_s']:.0f} s", file=sys.stderr, flush=True)
            if args.save:
                args.save.write_text(json.dumps(results))
    print(f"one run vs per-weight: {len(jobs)} studies ({', '.join(args.methods)}; {args.seeds} seeds), "
          f"{args.workers} processes, {time.perf_counter() - start:.0f} s wall")
    print(summarise(results, args.trials, args.methods))


if __name__ == "__main__":
    main()
