"""Does a rung's standing predict the final front? Per-objective Kendall's tau against front recall.

The evidence behind MO-ASHA's agreement guard (:mod:`paretolab.pruning`). For each task of
``bench_sample_efficiency`` it runs full studies WITHOUT pruning (``sampler: auto``, the default
weights; every trial trains all its steps and is evaluated at the default rungs, steps / 9 and
steps / 3), then, at each rung, over all the study's trials:

  front       the size of the final front (of the study's complete trials)
  tau k       Kendall's tau between objective k at the rung and at the end (the old guard
              used the smallest; 0.3 was its threshold)
  recall      the share of the final front that the rung rule (non-dominated rank, then
              hypervolume contribution; top ceil(n / eta)) applied to the rung values keeps,
              computed by ``paretolab.pruning.rung_agreement`` itself
  break-even  ``paretolab.pruning.break_even_recall``: the threshold of ``min_agreement: auto``
  random      what pruning the same number of trials at random keeps on average (1 / eta)

  --growth N ...   also the recall over the first N complete trials only (what the guard
                   sees as the study grows; it judges a rung from 10 on)
  --shared-seed    every trial of a study trains with the seed of its trial 0 (common random
                   numbers: the same initialisation and batch order, so trials differ by their
                   weights only)

    python -m benchmarks.bench_rung_agreement --seeds 3 --trials 80
    python -m benchmarks.bench_rung_agreement --seeds 4 --trials 80 --growth 10 15 20 30 40 60 80
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

from benchmarks._common import ETA, TASKS, spec_text


def run_study(job: tuple[str, int, int, bool]) -> dict:
    """One unpruned study: each trial's objective values at every evaluation, and at the end."""
    import torch
    torch.set_num_threads(1)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    from paretolab.objective import Objective
    from paretolab.records import trial_attrs
    from paretolab.samplers import make_sampler
    from paretolab.spec import parse_spec
    from paretolab.spec.checks import check_study

    task, seed, trials, shared_seed = job
    if shared_seed:  # this process only (a pool worker): every trial gets trial 0's seed
        import paretolab.search_space as search_space
        per_trial = search_space.trial_seed
        search_space.trial_seed = lambda study_seed, _number: per_trial(study_seed, 0)
    spec = parse_spec(spec_text(task, "auto", seed, trials))
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler("auto", {}, seed, trials))
    study.optimize(Objective(check_study(spec, check_storage_reachable=False), "cpu"), n_trials=trials)
    names = spec.objective_names
    rows = []
    for t in study.trials:
        if t.state.name != "COMPLETE":
            continue
        curves = trial_attrs(t)["curves"]
        rows.append({"final": list(t.values), "step": curves["step"],
                     "curves": [curves[n] for n in names]})
    return {"task": task, "seed": seed, "directions": spec.directions, "rows": rows}


def rung_stats(result: dict, rung: int, steps: int) -> dict:
    """tau per objective and the front recall at ``rung``, through paretolab's own guard code."""
    import optuna
    from scipy.stats import kendalltau

    from paretolab import dominance
    from paretolab.pruning import break_even_recall, rung_agreement, rung_key
    directions = result["directions"]
    study = optuna.create_study(directions=directions)
    early, final = [], []
    for row in result["rows"]:
        at = row["step"].index(rung)
        values = [c[at] for c in row["curves"]]
        early.append(values)
        final.append(row["final"])
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=row["final"],
                                                  user_attrs={rung_key(rung): {"values": values}}))
    taus = [float(kendalltau([e[k] for e in early], [f[k] for f in final]).statistic)
            for k in range(len(directions))]
    n, recall = rung_agreement(study.trials, rung, directions, ETA)
    front = int(dominance.nondominated_mask(final, directions).sum())
    return {"n": n, "front": front, "taus": taus, "recall": recall,
            "break_even": break_even_recall(rung, steps, ETA)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--growth", type=int, nargs="*", default=None, metavar="N",
                        help="also the recall over the first N complete trials, for each N")
    parser.add_argument("--shared-seed", action="store_true",
                        help="every trial of a study trains with one seed (common random numbers)")
    args = parser.parse_args()
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    jobs = [(task, seed, args.trials, args.shared_seed) for task in args.tasks for seed in range(args.seeds)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_study, jobs))
    print(f"rung agreement: {len(jobs)} unpruned studies of {args.trials} trials"
          f"{' (one shared seed per study)' if args.shared_seed else ''}, "
          f"{time.perf_counter() - start:.0f} s wall; eta {ETA}, random pruning keeps {1 / ETA:.2f}\n")
    print("| task | seed | rung (of steps) | final front (of trials) | Kendall's tau per objective "
          "| front recall | break-even | old guard (tau >= 0.3) | new guard (recall >= break-even) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for res in results:
        steps = TASKS[res["task"]][3]
        for rung in (steps // ETA ** 2, steps // ETA):
            s = rung_stats(res, rung, steps)
            print(f"| {res['task']} | {res['seed']} | {rung} ({steps}) | {s['front']} ({s['n']}) | "
                  f"{' / '.join(f'{t:.2f}' for t in s['taus'])} | {s['recall']:.2f} | "
                  f"{s['break_even']:.2f} | "
                  f"{'prunes' if min(s['taus']) >= 0.3 else 'off'} | "
                  f"{'prunes' if s['recall'] >= s['break_even'] else 'off'} |")
    if args.growth:
        print(f"\nfront recall over the first N complete trials (N = {', '.join(map(str, args.growth))})\n")
        print(f"| task | seed | rung (of steps) | break-even | {' | '.join(f'N={n}' for n in args.growth)} |")
        print(f"|---|---|---|---|{'---|' * len(args.growth)}")
        for res in results:
            steps = TASKS[res["task"]][3]
            for rung in (steps // ETA ** 2, steps // ETA):
                stats = [rung_stats(dict(res, rows=res["rows"][:n]), rung, steps) for n in args.growth]
                recalls = " | ".join(f"{s['recall']:.2f}" for s in stats)
                print(f"| {res['task']} | {res['seed']} | {rung} ({steps}) | "
                      f"{stats[0]['break_even']:.2f} | {recalls} |")


if __name__ == "__main__":
    main()
