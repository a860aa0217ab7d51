"""Sample efficiency of weight studies: hypervolume against cumulative training steps.

Methods (all on paretolab's real Objective: real training trials, static balancer, weights only):

  tpe-indep   Optuna 5's default multi-objective sampler (TPESampler(seed)), independent
              per-loss weights w_k ~ [0, 1] (``search.weights: {ranges: ...}``)
  tpe-log     the competent Optuna study: the same sampler with independent per-loss weights,
              log-uniform in [1e-3, 1] (what a user who knows loss scales differ would search);
              the ratio line compares with it when it is in the run (else with tpe-indep)
  auto        paretolab's ``sampler: auto`` with simplex weights, as it runs on long trials
              (``AutoSampler(max_proposal_share=None, time_limit=None)``: the benchmark's trials
              take a fraction of a CPU second, where auto keeps TPE whatever the dimension, and
              on a shared machine the proposal cap would make the method depend on the load)
  mtpe        multivariate TPE throughout (what auto was before issue 21); mtpe+moasha with pruning
  auto+moasha ``auto`` plus ``pruning: {method: moasha}`` (rungs ``min_steps * eta**k``, first
              rung steps / 9, agreement guard on; ``auto+moasha:<min_steps>[:<eta>]`` sets the
              first rung (and eta); ``auto+moasha-unguarded`` switches the guard off;
              ``auto+moasha@<n>`` sets its ``agreement_trials``, ``auto+moasha%<share>`` its
              ``control_share``)
  random      RandomSampler with simplex weights
  <m>/uniform, <m>/log<R>
              method <m> with ``spread: uniform`` or ``spread: log, max_ratio: R`` simplex weights
              (plain simplex methods use the default spread, log with max_ratio 100)
and, for the evidence behind ``auto`` (``--variants``):
  tpe-simplex independent TPE (Optuna's default) on the simplex parameterisation
  mtpe-indep  multivariate TPE (auto's sampler) with independent per-loss weights
  nsga2       NSGAIISampler on the simplex (population 10)
  gp          GPSampler on the simplex (``sampler: gp``); gp+moasha adds the default pruning
and, for the comparison with Bayesian optimisation with noisy EHVI (``--methods``):
  botorch     ``sampler: botorch`` (qLogNEHVI on BoTorch) on the simplex; botorch+moasha adds the
              default pruning; botorch+moasha+rungs also feeds the rung results to the model
              (``options: {rung_results: true}``: a fidelity input, qLogNEHVI at full length)
  ax          Ax's default multi-objective generation strategy (its ``Client``: Sobol, then
              qLogNEHVI), sequential, on independent log-uniform weights in [1e-3, 1]; each trial
              is trained by the same Objective (the params enqueued), so steps are comparable.
              Needs ax-platform (``pip install 'paretolab[bench]'``), which pins its own torch
              and BoTorch: run it from a separate environment and summarise with --from-json
Per trial, the seconds the sampler spent proposing it are recorded (``gen_s``; for botorch only the
model's proposals, for ax its ``get_next_trials``, for the others every trial through ``Timed``).

Every run uses the same number of training steps: ``trials`` full trials; the pruned method
keeps starting trials until it has spent the same number of steps (at most 4x the trials).
x-axis: cumulative training steps actually run (pruned trials stop early). Per task, the
reference hypervolume is that of the union of every complete trial of every run (all methods,
all seeds), with the reference point at the union front's nadir + 10% of the front's range. A
run's hypervolume after k steps uses its COMPLETE trials so far (pruned ones never enter the
front). Medians over seeds.

    python -m benchmarks.bench_sample_efficiency            # full: 3 tasks x 4 methods x 5 seeds
    python -m benchmarks.bench_sample_efficiency --variants # plus the three sampler variants
    python -m benchmarks.bench_sample_efficiency --quick    # 2 seeds, fewer trials (smoke test)
    ... --save a.json; ... --methods nsga2 --save b.json    # runs in parts;
    ... --from-json a.json b.json --variants               # summarised together (one reference HV)
    ... --verified   # also the noise-aware reading: fronts retrained with fresh seeds (benchmarks/_verified.py)
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks import _verified
from benchmarks._common import TASKS, spec_text

BASE_METHODS = ["tpe-indep", "tpe-log", "auto", "auto+moasha", "random"]
VARIANTS = ["tpe-simplex", "mtpe-indep", "nsga2"]
AX_LOW = 1e-3  # the ax method's weights: log-uniform in [AX_LOW, 1], independent per loss


def make_sampler(method: str, seed: int, trials: int):
    import optuna

    head, plus, tail = method.partition("+")
    method = head.partition("/")[0] + plus + tail  # the spread suffix does not change the sampler
    from paretolab.samplers import make_sampler as paretolab_sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if method in ("tpe-indep", "tpe-log", "tpe-simplex"):
            return optuna.samplers.TPESampler(seed=seed)  # Optuna 5's multi-objective default
        if method == "auto" or method.startswith("auto+moasha"):  # the rule as on long trials
            from paretolab.samplers.auto import AutoSampler
            return AutoSampler(seed=seed, n_trials=trials, max_proposal_share=None, time_limit=None)
        if method.startswith("mtpe"):  # multivariate TPE throughout: auto before issue 21
            from paretolab.samplers.auto import startup_trials
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                              n_startup_trials=startup_trials(trials))
        if method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if method == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=10)
        if method.startswith("gp"):
            return paretolab_sampler("gp", {}, seed, trials)
        if method.startswith("botorch"):
            options = {"rung_results": True} if method.endswith("+rungs") else {}
            return paretolab_sampler("botorch", options, seed, trials)
        if method == "ax":  # the params come from Ax (enqueued); this sampler is never asked
            return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(method)


class Timed:
    """A sampler proxy that adds up, per trial number, the seconds its sampler spends proposing
    (relative and independent sampling): the generation time of samplers that do not keep it."""

    def __init__(self, inner):
        self.inner = inner
        self.generation_seconds: dict[int, float] = {}

    def _timed(self, name: str, trial, *args):
        start = time.perf_counter()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            n = trial.number
            self.generation_seconds[n] = self.generation_seconds.get(n, 0.0) + time.perf_counter() - start

    def infer_relative_search_space(self, study, trial):
        return self._timed("infer_relative_search_space", trial, study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._timed("sample_relative", trial, study, trial, search_space)

    def sample_independent(self, study, trial, name, distribution):
        return self._timed("sample_independent", trial, study, trial, name, distribution)

    def __getattr__(self, name: str):  # before_trial, after_trial, reseed_rng, ...
        return getattr(self.inner, name)


def run_one(job: tuple[str, str, int, int]) -> dict:
    """One study: returns per-trial (state, steps, values) in trial order."""
    import torch
    torch.set_num_threads(1)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from paretolab.objective import Objective
    from paretolab.records import trial_attrs
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    task, method, seed, trials = job
    if method == "ax":
        return run_ax(job)
    spec = parse_spec(spec_text(task, method, seed, trials))
    checked = check_study(spec, check_storage_reachable=False)
    sampler = make_sampler(method, seed, trials)
    if not hasattr(sampler, "generation_seconds"):
        sampler = Timed(sampler)
    study = optuna.create_study(directions=spec.directions, sampler=sampler, study_name=spec.name)
    objective = Objective(checked, "cpu")
    budget_steps = trials * spec.budget.steps
    max_trials = trials * 4 if "+moasha" in method else trials
    spent, start = 0, time.perf_counter()
    while len(study.trials) < max_trials and spent < budget_steps:
        study.optimize(objective, n_trials=1, catch=(Exception,))
        t = study.trials[-1]
        spent += int(trial_attrs(t).get("steps", spec.budget.steps if t.state.name == "COMPLETE" else 0))
    gen = getattr(study.sampler, "generation_seconds", {})
    rows = [{"state": t.state.name, "steps": int(trial_attrs(t).get("steps", 0)),
             "values": list(t.values) if t.values is not None else None, "params": t.params,
             "gen_s": gen.get(t.number)} for t in study.trials]
    return {"task": task, "method": method, "seed": seed, "rows": rows,
            "wall_s": time.perf_counter() - start}


def run_ax(job: tuple[str, str, int, int]) -> dict:
    """The ``ax`` method: Ax's Client proposes, paretolab's Objective trains (sequentially)."""
    import optuna
    try:
        from ax import Client, RangeParameterConfig
    except ImportError:
        raise SystemExit("the 'ax' method needs ax-platform: pip install 'paretolab[bench]' "
                         "(best in a separate environment; it pins its own torch and BoTorch), "
                         "then run this benchmark with that environment's python") from None
    import logging
    for name in ["ax", *logging.root.manager.loggerDict]:  # Ax logs every trial at INFO
        if name.split(".")[0] == "ax":
            logging.getLogger(name).setLevel(logging.ERROR)
    from paretolab.objective import Objective
    from paretolab.records import RANGE_PARAM, trial_attrs, weight_param
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    task, method, seed, trials = job
    spec = parse_spec(spec_text(task, method, seed, trials))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(method, seed, trials),
                                study_name=spec.name)
    objective = Objective(checked, "cpu")
    losses = TASKS[task][2]
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=[
        RangeParameterConfig(name=f"w_{n}", parameter_type="float", bounds=(AX_LOW, 1.0), scaling="log")
        for n in losses])
    names = [n for n, _ in TASKS[task][1]]
    client.configure_optimization(objective=", ".join(
        ("-" if d == "minimize" else "") + n for n, d in TASKS[task][1]))
    rows, start = [], time.perf_counter()
    for _ in range(trials):
        t0 = time.perf_counter()
        ((index, params),) = client.get_next_trials(max_trials=1).items()
        gen_s = time.perf_counter() - t0
        study.enqueue_trial({weight_param(RANGE_PARAM, n): float(params[f"w_{n}"]) for n in losses})
        study.optimize(objective, n_trials=1, catch=(Exception,))
        t = study.trials[-1]
        if t.state.name == "COMPLETE":
            client.complete_trial(trial_index=index, raw_data={n: float(v) for n, v in zip(names, t.values)})
        else:
            client.mark_trial_failed(trial_index=index)
        rows.append({"state": t.state.name, "steps": int(trial_attrs(t).get("steps", 0)),
                     "values": list(t.values) if t.values is not None else None, "params": t.params,
                     "gen_s": gen_s})
    return {"task": task, "method": method, "seed": seed, "rows": rows,
            "wall_s": time.perf_counter() - start}


def hv_curve(rows: list[dict], directions: list[str], ref: np.ndarray,
             hv_ref: float) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative steps after each trial, HV fraction of the complete trials so far)."""
    from paretolab.dominance import hypervolume
    steps, fracs, points = [], [], []
    total = 0
    for r in rows:
        total += r["steps"]
        if r["state"] == "COMPLETE" and r["values"] is not None:
            points.append(r["values"])
        hv = hypervolume(np.array(points), directions, ref) if points else 0.0
        steps.append(total)
        fracs.append(hv / hv_ref)
    return np.array(steps), np.array(fracs)


def steps_to(steps: np.ndarray, fracs: np.ndarray, threshold: float) -> float:
    hit = np.flatnonzero(fracs >= threshold - 1e-12)
    return float(steps[hit[0]]) if len(hit) else math.inf


def frac_at(steps: np.ndarray, fracs: np.ndarray, budget: float) -> float:
    idx = np.flatnonzero(steps <= budget)
    return float(fracs[idx[-1]]) if len(idx) else 0.0


def task_reference(runs: list[dict], task: str) -> tuple[list[str], np.ndarray, float, int]:
    """A task's directions, reference point, reference hypervolume and the number of complete
    trials behind it: the hypervolume of the union of every complete trial of ``runs``, the
    reference point at the union front's nadir + 10% of its range."""
    from paretolab.dominance import default_reference_point, hypervolume, nondominated_mask
    directions = [d for _, d in TASKS[task][1]]
    union = np.array([row["values"] for r in runs for row in r["rows"]
                      if row["state"] == "COMPLETE" and row["values"] is not None])
    # the union's front, not every trial: one diverged trial (a weight near 0 lets a loss
    # blow up) would otherwise move the reference point and inflate every run's fraction
    ref = default_reference_point(union[nondominated_mask(union, directions)], directions)
    return directions, ref, float(hypervolume(union, directions, ref)), len(union)


Curve = tuple[np.ndarray, np.ndarray]  # (cumulative steps, HV fraction) of one run: hv_curve


def method_reading(mruns: list[dict], directions: list[str], ref: np.ndarray, hv_ref: float,
                   budget: float) -> tuple[list[float], dict[float, tuple[float, int]]]:
    """One method's runs read against the reference: the median HV fraction at 10/25/50/100% of
    the budget, and per threshold (0.9, 0.95) the median steps to reach it and how many seeds did."""
    return curves_reading([hv_curve(r["rows"], directions, ref, hv_ref) for r in mruns], budget)


def curves_reading(curves: list[Curve], budget: float) -> tuple[list[float], dict[float, tuple[float, int]]]:
    """:func:`method_reading` of runs whose curves are already computed."""
    at = [float(np.median([frac_at(s, f, q * budget) for s, f in curves])) for q in (0.1, 0.25, 0.5, 1.0)]
    reach = {}
    for thr in (0.9, 0.95):
        hits = [steps_to(s, f, thr) for s, f in curves]
        reach[thr] = (float(np.median(hits)), sum(math.isfinite(h) for h in hits))
    return at, reach


def first_to_95(curves: dict[str, list[Curve]], steps: int, budgets: list[int]) -> list[str]:
    """Per budget (in full trials): each method's median steps to 95% of the reference, counting
    only what it reached within that budget's steps, and which method got there first (fewest
    median steps; more seeds reaching breaks a tie). A budget smaller than the runs' own reads
    their first steps: the samplers whose start-up depends on the budget (``auto``: max(5,
    trials // 5) random trials) would have started differently."""
    lines = []
    for b in budgets:
        cap = b * steps
        cells = {}
        for m, cs in curves.items():
            hits = [h if h <= cap else math.inf for h in (steps_to(s, f, 0.95) for s, f in cs)]
            cells[m] = (float(np.median(hits)), sum(math.isfinite(h) for h in hits), len(hits))
        ranked = sorted(cells, key=lambda m: (cells[m][0], -cells[m][1]))
        first = ranked[0] if ranked and math.isfinite(cells[ranked[0]][0]) else None
        text = " · ".join(f"{m} {med:,.0f} ({k}/{n})" if math.isfinite(med) else f"{m} not reached ({k}/{n})"
                          for m in ranked for med, k, n in [cells[m]])
        lines.append(f"- budget {b} trials ({cap:,} steps): {text} → first: {first or 'none'}")
    return lines


def summarise(results: list[dict], trials: int, methods: list[str]) -> str:
    lines = []
    for task in TASKS:
        runs = [r for r in results if r["task"] == task]
        if not runs:
            continue
        steps = TASKS[task][3]
        directions, ref, hv_ref, n_complete = task_reference(runs, task)
        budget = trials * steps
        lines.append(f"\n### {task}: {steps} steps per full trial, budget {trials} full trials = "
                     f"{budget} steps; "
                     f"reference HV {hv_ref:.6g} from {n_complete} complete trials (ref point "
                     f"{', '.join(f'{v:.4g}' for v in ref)})\n")
        lines.append("| method | median HV fraction at 10% / 25% / 50% / 100% of budget "
                     "| median steps to 90% (seeds reaching) | median steps to 95% (seeds reaching) "
                     "| trials started (median) | pruned (median) |")
        lines.append("|---|---|---|---|---|---|")
        med95: dict[str, float] = {}
        curves: dict[str, list[Curve]] = {}
        for method in methods:
            mruns = [r for r in runs if r["method"] == method]
            if not mruns:
                continue
            curves[method] = [hv_curve(r["rows"], directions, ref, hv_ref) for r in mruns]
            at, reach = curves_reading(curves[method], budget)
            med95[method] = reach[0.95][0]
            cells = [f"{med:.0f} ({med / steps:.1f} trials; {reached}/{len(mruns)})" if math.isfinite(med)
                     else f"not reached ({reached}/{len(mruns)})" for med, reached in reach.values()]
            n_trials = np.median([len(r["rows"]) for r in mruns])
            n_pruned = np.median([sum(row["state"] == "PRUNED" for row in r["rows"]) for r in mruns])
            lines.append(f"| {method} | {' / '.join(f'{a:.3f}' for a in at)} | {cells[0]} | {cells[1]} | "
                         f"{n_trials:.0f} | {n_pruned:.0f} |")
        budgets = sorted({b for b in (40, 80, 160) if b <= trials} | {trials})
        lines.append("\nFirst to 95% of the reference per budget (median steps, seeds reaching within it):\n")
        lines.extend(first_to_95(curves, steps, budgets))
        lines.extend(against_ax(runs, methods, med95, budget))
        base = "tpe-log" if "tpe-log" in med95 else "tpe-indep"  # the strongest Optuna study in the run
        a, c = med95.get(base, math.inf), med95.get("auto+moasha", math.inf)
        if math.isfinite(a) and math.isfinite(c):
            lines.append(f"\nauto+moasha / {base} steps to 95%: {c:.0f} / {a:.0f} = {c / a:.2f} "
                         f"(goal <= 0.5: {'met' if c <= a / 2 else 'not met'})")
        elif math.isfinite(c):  # (a) did not reach 95% within the budget: only a bound
            lines.append(f"\nauto+moasha / {base} steps to 95%: {c:.0f} / more than {budget} "
                         f"(not reached) = below {c / budget:.2f} (goal <= 0.5: "
                         f"{'met' if c <= budget / 2 else 'not shown by this budget'})")
        else:
            lines.append(f"\nauto+moasha / {base} steps to 95%: auto+moasha did not reach 95% "
                         "(goal <= 0.5: not met)")
    return "\n".join(lines)


def against_ax(runs: list[dict], methods: list[str], med95: dict[str, float], budget: int) -> list[str]:
    """Per-trial generation time per method, and each method's steps to 95% against Ax's."""
    lines = []
    for method in methods:
        gen = [row["gen_s"] for r in runs if r["method"] == method for row in r["rows"]
               if row.get("gen_s") is not None]
        if gen:
            what = ("trial, Sobol ones included" if method == "ax" else
                    "model-proposed trial" if method.startswith("botorch") else "trial")
            lines.append(f"\n{method}: generation {np.median(gen):.2f} s per {what} "
                         f"(median; 90th percentile {np.percentile(gen, 90):.2f} s, {len(gen)} trials)")
    ax = med95.get("ax")
    if ax is None:
        return lines
    for method in methods:
        m = med95.get(method)
        if method == "ax" or m is None:
            continue
        if math.isfinite(ax) and math.isfinite(m):
            lines.append(f"\n{method} / ax steps to 95%: {m:.0f} / {ax:.0f} = {m / ax:.2f}")
        elif math.isfinite(m):
            lines.append(f"\n{method} / ax steps to 95%: {m:.0f} / more than {budget} (ax not reached) "
                         f"= below {m / budget:.2f}")
        else:
            lines.append(f"\n{method} / ax steps to 95%: {method} did not reach 95%"
                         + (f" (ax: {ax:.0f})" if math.isfinite(ax) else " (nor did ax)"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+seeds-1")
    parser.add_argument("--trials", type=int, default=40, help="full trials per run (the step budget)")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--variants", action="store_true", help="also the sampler variants behind auto")
    parser.add_argument("--methods", nargs="*", default=None, help="run only these methods")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 15 trials")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--save", type=Path, default=None, help="write raw per-trial results (JSON), "
                        "updated after every run")
    parser.add_argument("--from-json", type=Path, nargs="*", default=None,
                        help="summarise saved results (several files: one union; .json or .json.gz), "
                        "run nothing")
    _verified.add_arguments(parser)  # --verified: the noise-aware reading (benchmarks/_verified.py)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials = 2, 15
    methods = args.methods or BASE_METHODS + (VARIANTS if args.variants else [])
    if args.from_json:
        results = [r for path in args.from_json for r in json.loads(
            gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_text())]
        seeds = sorted({r["seed"] for r in results})
        print(f"sample efficiency (saved): {len(results)} runs, seeds {seeds}")
        print(summarise(results, args.trials, methods))
        if args.verified:
            print(_verified.reading(results, methods, args))
        return
    # seed-major order: a run cut short still has whole seeds for every task and method
    jobs = [(task, m, seed, args.trials)
            for seed in range(args.first_seed, args.first_seed + args.seeds) for task in args.tasks for m in methods]
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for res in pool.map(run_one, jobs):
            results.append(res)
            print(f"[{time.perf_counter() - start:.0f} s] {res['task']} {res['method']} seed {res['seed']}: "
                  f"{len(res['rows'])} trials, {res['wall_s']:.0f} s", file=sys.stderr, flush=True)
            if args.save:
                args.save.write_text(json.dumps(results))
    wall = time.perf_counter() - start
    print(f"sample efficiency: {len(jobs)} runs ({', '.join(methods)}; {args.seeds} seeds), "
          f"{args.workers} processes, {wall:.0f} s wall")
    print(summarise(results, args.trials, methods))
    if args.verified:
        print(_verified.reading(results, methods, args))


if __name__ == "__main__":
    main()
