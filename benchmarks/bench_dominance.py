"""Benchmark paretolab.dominance against moocore, pymoo, Optuna and paretoset.

Run:  python -m benchmarks.bench_dominance [--quick]

1. Non-dominated filtering (front extraction) of n = 10^4, 10^5, 10^6 points (--quick: 10^4,
   10^5) with m = 2, 3, 5 objectives, two kinds of data: "uniform" (i.i.d. uniform in the unit
   cube: small front) and "front" (|N(0,1)| directions normalised onto the positive unit
   sphere, negated: every point is non-dominated).  Competitors:
     ours      paretolab.dominance.nondominated_mask (validation + pivot pre-filter + moocore)
     moocore   moocore.is_nondominated(x, keep_weakly=True)
     pymoo     NonDominatedSorting().do(x, only_non_dominated_front=True)
     optuna    optuna.study._multi_objective._is_pareto_front(x, assume_unique_lexsorted=False)
     paretoset paretoset.paretoset(x, distinct=False) (numba; JIT warm-up excluded), if installed
   A competitor is skipped at a size when its time extrapolated from the previous size
   (quadratic growth assumed until two sizes are measured) exceeds the per-case limit
   (60 s for pymoo, 30 s for the others); the table says "skip (est. ...)".  Every result is
   checked against ours.
2. Incremental archive: 10^5 two-objective points inserted one at a time into ParetoArchive,
   versus keeping the front with moocore by re-filtering (front + new batch) after each batch.
3. Hypervolume: moocore.hypervolume vs pymoo's HV on fronts, and hypervolume_history.

Filtering times: 3 interleaved rounds (2 for n = 10^6, 1 if a round takes over 10 s) in which
every competitor is timed in turn, in rotating order (best of up to 10 calls within 0.2 s, one
call for n = 10^6); the best time is kept, so that load from other processes affects all alike.
Other times are the best of a few repetitions.  "x ours" is each time
divided by ours (> 1: slower than ours).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable

import moocore
import numpy as np

from paretolab.dominance import (
    ParetoArchive,
    hypervolume,
    hypervolume_history,
    nondominated_mask,
)


def best_time(fn: Callable[[], object], budget: float = 0.5, max_reps: int = 25) -> tuple[float, object]:
    """Best wall time over repetitions: as many as fit in ``budget`` seconds (1..max_reps)."""
    start = time.perf_counter()
    result = fn()
    best = time.perf_counter() - start
    reps = 1
    while reps < max_reps and best * (reps + 1) < budget:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return best, result


def make_data(kind: str, n: int, m: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000 * m + n % 997)
    if kind == "uniform":
        return rng.random((n, m))
    x = np.abs(rng.standard_normal((n, m)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return -x


def competitors() -> dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]]:
    """name -> (function returning a bool mask, per-case time limit in seconds)."""
    out: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
        "ours": (lambda x: nondominated_mask(x), 30.0),
        "moocore": (lambda x: moocore.is_nondominated(x, keep_weakly=True), 30.0),
    }
    try:
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        nds = NonDominatedSorting()

        def pymoo_front(x: np.ndarray) -> np.ndarray:
            mask = np.zeros(len(x), dtype=bool)
            mask[nds.do(x, only_non_dominated_front=True)] = True
            return mask

        out["pymoo"] = (pymoo_front, 60.0)
    except ImportError:
        print("pymoo not installed: skipped")
    try:
        from optuna.study._multi_objective import _is_pareto_front

        out["optuna"] = (lambda x: _is_pareto_front(x, assume_unique_lexsorted=False), 30.0)
    except ImportError:
        print("optuna.study._multi_objective._is_pareto_front not found: skipped")
    try:
        import paretoset

        warm = np.random.default_rng(0).random((200, 3))
        paretoset.paretoset(warm, distinct=False)  # numba JIT compilation, not timed
        out["paretoset"] = (lambda x: np.asarray(paretoset.paretoset(x, distinct=False)), 30.0)
    except ImportError:
        print("paretoset not installed: skipped (pip install paretoset)")
    return out


def fmt_time(t: float) -> str:
    return f"{t:.3g}" if t < 100 else f"{t:.0f}"


def bench_filtering(sizes: list[int], dims: list[int]) -> list[str]:
    comps = competitors()
    names = list(comps)
    header = "| m | data | n | front size | " + " | ".join(
        f"{name} s" + ("" if name == "ours" else " (x ours)") for name in names
    ) + " |"
    lines = [header, "|" + "---|" * (4 + len(names))]
    print(*lines, sep="\n", flush=True)
    for m in dims:
        for kind in ("uniform", "front"):
            history: dict[str, list[tuple[int, float]]] = {name: [] for name in names}
            skipped: set[str] = set()  # per (m, data) series: once skipped, larger n are too
            for n in sizes:
                x = make_data(kind, n, m)
                cells: dict[str, str] = {}
                active: list[str] = []
                for name in names:
                    fn, limit = comps[name]
                    if name in skipped:
                        cells[name] = "skip"
                        continue
                    past = history[name]
                    if past:
                        if len(past) >= 2:
                            (n0, t0), (n1, t1) = past[-2], past[-1]
                            expo = max(1.0, math.log(max(t1, 1e-6) / max(t0, 1e-6)) / math.log(n1 / n0))
                        else:
                            expo = 2.0
                        n1, t1 = past[-1]
                        estimate = t1 * (n / n1) ** expo
                        if estimate > limit:
                            cells[name] = f"skip (est. {estimate:.0f} s)"
                            skipped.add(name)
                            continue
                    active.append(name)
                # Interleaved rounds (each competitor timed in turn, in rotating order, best time
                # kept) so that load from other processes hits all of them alike.
                best = {name: math.inf for name in active}
                masks: dict[str, np.ndarray] = {}
                small = n <= 100_000
                rounds = 0
                while True:
                    shift = rounds % len(active)
                    round_start = time.perf_counter()
                    for name in active[shift:] + active[:shift]:
                        fn = comps[name][0]
                        t, result = best_time(lambda: fn(x), budget=0.2 if small else 0.0, max_reps=10)
                        best[name] = min(best[name], t)
                        masks.setdefault(name, np.asarray(result, dtype=bool))
                    rounds += 1
                    if rounds >= (3 if small else 2) or time.perf_counter() - round_start > 10.0:
                        break
                ours_time, ours_mask = best["ours"], masks["ours"]
                for name in active:
                    history[name].append((n, best[name]))
                    if name == "ours":
                        cells[name] = fmt_time(ours_time)
                    else:
                        ok = np.array_equal(masks[name], ours_mask)
                        cells[name] = f"{fmt_time(best[name])} ({best[name] / ours_time:.2f}x)" + (
                            "" if ok else " MISMATCH"
                        )
                front = int(ours_mask.sum()) if ours_mask is not None else -1
                line = f"| {m} | {kind} | {n:.0e} | {front} | " + " | ".join(cells[nm] for nm in names) + " |"
                print(line, flush=True)
                lines.append(line)
    return lines


def bench_archive(n: int) -> list[str]:
    lines = ["| data | method | time s | (x ours) | front size |", "|---|---|---|---|---|"]
    print(lines[0], lines[1], sep="\n", flush=True)
    for kind in ("uniform", "front"):
        x = make_data(kind, n, 2, seed=7)
        if kind == "front":
            x = x[np.random.default_rng(1).permutation(n)]
        rows = x.tolist()

        def incremental() -> int:
            archive = ParetoArchive(2)
            for p in rows:
                archive.insert(p)
            return len(archive)

        t_ours, size = best_time(incremental, budget=3.0, max_reps=3)
        results = [("ParetoArchive.insert, one at a time", t_ours, size)]
        for batch in (1, 100, 1000):
            est = None
            if kind == "front":  # the front grows to n: each re-filter sorts it all
                est = (n / batch) * 1e-7 * n * math.log2(n) / 2
            if est is not None and est > 60:
                results.append(
                    (f"moocore re-filter front+batch, batch={batch}", None, f"skip (est. {est:.0f} s)")
                )
                continue

            def rebuild() -> int:
                front = np.empty((0, 2))
                for start in range(0, n, batch):
                    both = np.concatenate([front, x[start : start + batch]])
                    front = both[moocore.is_nondominated(both, keep_weakly=True)]
                return len(front)

            t, size_b = best_time(rebuild, budget=3.0, max_reps=3)
            results.append((f"moocore re-filter front+batch, batch={batch}", t, size_b))
        for method, t, size_or_note in results:
            if t is None:
                line = f"| {kind} | {method} | {size_or_note} | | |"
            else:
                line = f"| {kind} | {method} | {fmt_time(t)} | {t / t_ours:.2f}x | {size_or_note} |"
            print(line, flush=True)
            lines.append(line)
    return lines


def bench_hypervolume(sizes: list[int]) -> list[str]:
    from pymoo.indicators.hv import HV

    lines = ["| m | n (front) | moocore.hypervolume s | pymoo HV s (x moocore) | ours hypervolume s "
             "| hypervolume_history s |",
             "|---|---|---|---|---|---|"]
    print(lines[0], lines[1], sep="\n", flush=True)
    for m in (2, 3):
        for n in sizes:
            x = make_data("front", n, m, seed=3)
            ref = np.zeros(m)
            t_moo, v_moo = best_time(lambda: moocore.hypervolume(x, ref=ref))
            t_pymoo, v_pymoo = best_time(lambda: HV(ref_point=ref)(x))
            t_ours, v_ours = best_time(lambda: hypervolume(x, None, ref))
            assert math.isclose(v_moo, v_pymoo, rel_tol=1e-12) and math.isclose(v_moo, v_ours, rel_tol=1e-12)
            hist = "-"
            if n <= 5000:
                t_hist, h = best_time(lambda: hypervolume_history(x, None, ref), budget=0.0)
                assert math.isclose(h[-1], v_moo, rel_tol=1e-9)
                hist = fmt_time(t_hist)
            line = (f"| {m} | {n:.0e} | {fmt_time(t_moo)} | {fmt_time(t_pymoo)} ({t_pymoo / t_moo:.2f}x) | "
                    f"{fmt_time(t_ours)} | {hist} |")
            print(line, flush=True)
            lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10^4 and 10^5 only (< 2 min)")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    import optuna
    import pymoo

    versions = (f"moocore {moocore.__version__}, pymoo {pymoo.__version__}, "
                f"optuna {optuna.__version__}, numpy {np.__version__}")
    try:
        import paretoset

        versions += f", paretoset {getattr(paretoset, '__version__', '?')}"
    except ImportError:
        pass
    print(f"# bench_dominance ({'quick' if args.quick else 'full'}) -- {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, {versions}", flush=True)
    start = time.perf_counter()
    print("\n## Non-dominated filtering (first front)\n", flush=True)
    bench_filtering(sizes, [2, 3, 5])
    print("\n## Incremental 2-objective archive, 10^5 insertions\n", flush=True)
    bench_archive(100_000)
    print("\n## Hypervolume of on-front points (reference point 0)\n", flush=True)
    bench_hypervolume([1_000, 5_000] if args.quick else [1_000, 5_000, 100_000])
    print(f"\ntotal {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
