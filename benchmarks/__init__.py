"""paretolab's benchmarks, a package so that they share code without ``sys.path`` edits.

Run each one as a module from the repository root, e.g. ``python -m benchmarks.bench_dominance``;
the figures and the exact commands are in ``benchmarks/RESULTS.md``.
"""
