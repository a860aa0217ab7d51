"""Rewarded soups (Rame et al., NeurIPS 2023) against per-weight studies: hypervolume against
cumulative training steps, at the same step budget.

Methods (real paretolab studies on the tasks of ``benchmarks._common``, same task, losses,
objectives, per-trial steps and learning rate):

  soup[:e<E>][:c<C>][:p<P>]
              ``one_run: {method: soup}``: each run fine-tunes one specialist per loss (corner
              weight C on its own loss, default 0.9) for the per-weight trial's steps from a
              shared start (the model at the trial's seed, after P steps at the centre preference
              when P > 0), then evaluates E interpolated models (default 21); as many runs as fit
              the budget (the sampler searches nothing: each run differs by its seed)
  soup+refine[...]
              the same soup once, then ``then: sampler``: the rest of the budget in per-weight
              trials of ``sampler: auto`` (log-ratio weights), which sees the soup's points
  soup+warm[...]
              soup+refine whose per-weight trials start from the nearest completed trial's
              checkpoint (``init: {from: nearest, steps: S/3}``)
  tpe-log, auto+moasha, pml...
              per-weight and manifold studies as in ``bench_sample_efficiency`` / ``bench_one_run``

A run counts its steps once (every specialist's, the pre-training's); its points cost no step.
The reference hypervolume is that of the union of every complete point of every method (per
task). Per task it prints::

    soup / best per-weight steps to 95%: A / B = R (goal <= 0.25: met|not met)

    python -m benchmarks.bench_soup --tasks posttrain --seeds 1 --trials 8 --save benchmarks/data/soup.json
    python -m benchmarks.bench_soup --from-json benchmarks/data/soup.json --trials 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from benchmarks import bench_one_run
from benchmarks._common import TASKS, spec_text

DEFAULT_METHODS = ["soup", "soup+refine", "tpe-log", "auto+moasha"]
# the built-in posttrain task (GRPO, three rewards and the KL; studies/posttrain.yaml's task and
# objectives) at the size the shared 2-core machine allowed: 10 GRPO steps per trial, 32
# held-out prompts
POSTTRAIN = ("{ref: posttrain, params: {rewards: [correct, brief, format], digits: 2, group: 8, "
             "iterations: 2, advantages: centered, max_new: 14, eval_prompts: 32}}",
             [("correct", "maximize"), ("length", "minimize"), ("format", "maximize"), ("kl", "minimize")],
             ["correct", "brief", "format", "kl"], 10, 10, 1e-3)
TASKS.setdefault("posttrain", POSTTRAIN)  # for this benchmark only (the others' task lists stay)


def is_soup(method: str) -> bool:
    return method.split(":")[0] in ("soup", "soup+refine", "soup+warm")


def soup_options(method: str) -> dict:
    """The soup settings a method name gives (see the module docstring)."""
    out = {"preferences": 21, "corner": 0.9, "pretrain": 0}
    for token in method.split(":")[1:]:
        key, value = token[0], token[1:]
        if key == "e":
            out["preferences"] = int(value)
        elif key == "c":
            out["corner"] = float(value)
        elif key == "p":
            out["pretrain"] = int(value)
        else:
            raise ValueError(f"unknown soup option {token!r} in {method!r}")
    return out


def soup_text(task: str, method: str, seed: int, trials: int) -> tuple[str, int]:
    """(study text, trials) for a soup method at a budget of ``trials`` full per-weight trials."""
    opts = soup_options(method)
    kind = method.split(":")[0]
    _, _, losses, steps, eval_every, _ = TASKS[task]
    run_cost = len(losses) * steps + opts["pretrain"]
    budget = trials * steps
    if kind == "soup":
        n, then, init = max(1, budget // run_cost), "", ""
    else:
        n, then = 1 + max(0, (budget - run_cost) // steps), ", then: sampler"
        init = f"init: {{from: nearest, steps: {max(1, steps // 3)}}}\n" if kind == "soup+warm" else ""
        if init:  # warm-started trials are shorter: as many as fit the rest
            n = 1 + max(0, (budget - run_cost) // max(1, steps // 3))
    text = spec_text(task, "auto", seed, n)
    lines = [line for line in text.splitlines() if not line.startswith(("name:",))]
    lines.insert(0, f"name: bench-soup-{task}-{method}-{seed}")
    lines.append(f"one_run: {{method: soup, preferences: {opts['preferences']}, corner: {opts['corner']}, "
                 f"pretrain_steps: {opts['pretrain']}{then}}}")
    lines.append("output_dir: " + os.environ.get("BENCH_SOUP_DIR", "/tmp/bench_soup") +
                 f"/{task}-{method.replace(':', '_')}-{seed}")
    if not then:  # a plain soup study evaluates its own grid: no weights to search
        lines = [line for line in lines if not line.startswith("search:")]
    return "\n".join(lines) + "\n" + init, n


def run_soup(job: tuple[str, str, int, int]) -> dict:
    """One soup study: per-trial (state, steps, values) in trial order; runs get state RUN."""
    import warnings

    import torch
    torch.set_num_threads(1)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from benchmarks.bench_sample_efficiency import make_sampler
    from paretolab.objective import Objective
    from paretolab.records import OneRunRecord, StudyMeta, trial_attrs
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    task, method, seed, trials = job
    text, n = soup_text(task, method, seed, trials)
    spec = parse_spec(text)
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler("auto", seed, n),
                                study_name=spec.name)
    StudyMeta.from_spec(spec, checked.balanced_names).write(study)
    objective = Objective(checked, "cpu")
    budget, spent, start = trials * TASKS[task][3], 0, time.perf_counter()
    for _ in range(n):
        if spent >= budget:
            break
        study.optimize(objective, n_trials=1, catch=(Exception,))
        spent = sum(int(trial_attrs(t).get("steps", 0) or 0) for t in study.trials)
    rows = []
    for t in study.trials:
        link = OneRunRecord.read(t)
        run = link is not None and link.role == "run"
        rows.append({"state": "RUN" if run and t.state.name == "COMPLETE" else t.state.name,
                     "steps": int(trial_attrs(t).get("steps", 0) or 0),
                     "values": list(t.values) if t.values is not None and not run else None,
                     "point": link is not None and link.role == "point",
                     "warm": t.user_attrs.get("warm_start", {}).get("from")})
    return {"task": task, "method": method, "seed": seed, "rows": rows,
            "wall_s": time.perf_counter() - start}


def run_job(job: tuple[str, str, int, int]) -> dict:
    if is_soup(job[1]):
        return run_soup(job)
    return bench_one_run.run_job(job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=40, help="full per-weight trials (the step budget)")
    parser.add_argument("--tasks", nargs="*", default=["posttrain", "digits", "multitask_regression"])
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
        print(f"soup vs per-weight (saved): {len(results)} runs, seeds {sorted({r['seed'] for r in results})}")
        print(bench_one_run.summarise(results, args.trials, methods, label="soup", mine=is_soup))
        return
    jobs = [(task, m, seed, args.trials) for seed in range(args.first_seed, args.first_seed + args.seeds)
            for task in args.tasks for m in args.methods]
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:  # saved as each study ends
        for done in as_completed([pool.submit(run_job, job) for job in jobs]):
            res = done.result()
            results.append(res)
            print(f"[{time.perf_counter() - start:.0f} s] {res['task']} {res['method']} seed {res['seed']}: "
                  f"{len(res['rows'])} trials, {res['wall_s']:.0f} s", file=sys.stderr, flush=True)
            if args.save:
                args.save.write_text(json.dumps(results))
    print(f"soup vs per-weight: {len(jobs)} studies ({', '.join(args.methods)}; {args.seeds} seeds), "
          f"{args.workers} processes, {time.perf_counter() - start:.0f} s wall")
    print(bench_one_run.summarise(results, args.trials, args.methods, label="soup", mine=is_soup))


if __name__ == "__main__":
    main()
