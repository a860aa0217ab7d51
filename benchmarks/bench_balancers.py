"""Step time of every balancer relative to the static weighted sum, measured side by side.

An MLP with about 0.92M shared parameters (256 -> 1024 -> 512 -> 256, ReLU) and one linear head
per task, T = 2, 4 and 8 regression tasks, batch 128, on CPU. One step is what the trainer does:
zero the grads, forward, ``set_progress``, ``balancer.backward`` (the balancer ``attach``-ed once
to the model and its trunk, as the trainer does), an SGD step. Methods are timed
in interleaved rounds (every method once per round, in turn) and the fastest round's per-step
time is reported: other processes on the machine can only add time, so the minimum is the
least disturbed measurement, and interleaving spreads slow periods over all methods alike. The
``floor`` row is a forward pass plus the task Jacobian alone (T backward passes) plus the SGD
step: what any method that needs every task gradient pays at least.

    python benchmarks/bench_balancers.py            # full run (a few minutes)
    python benchmarks/bench_balancers.py --quick    # fewer rounds, for a smoke check
    python benchmarks/bench_balancers.py --threads 1
    python benchmarks/bench_balancers.py --methods rgb mgda_ub   # these rows (and static, floor)

``--threads 1`` gives steadier ratios on a machine shared with other work: a multi-threaded
kernel waits at its barrier whenever another process holds one of its cores.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from paretolab.balancers import available, make_balancer
from paretolab.balancers.jacobian import TaskJacobian

WIDTHS = (256, 1024, 512, 256)
BATCH = 128
#: extra configurations worth a row of their own: label -> (method, settings)
VARIANTS = {"gradnorm[all]": ("gradnorm", {"norm_on": "all"})}


class Net(nn.Module):
    def __init__(self, tasks: int):
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip(WIDTHS[:-1], WIDTHS[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(WIDTHS[-1], 1) for _ in range(tasks))


def make_step(method: str | None, settings: dict, tasks: int) -> Callable[[], None]:
    """A closure doing one training step with ``method`` (None: the floor)."""
    torch.manual_seed(0)
    net = Net(tasks)
    names = [f"task{i}" for i in range(tasks)]
    x = torch.randn(BATCH, WIDTHS[0])
    y = torch.randn(tasks, BATCH, 1)
    shared = list(net.trunk.parameters())
    heads = list(net.heads.parameters())
    balancer = make_balancer(method, names, settings=settings) if method else None
    if balancer is not None:
        balancer.attach(net, net.trunk)
    params = shared + heads + (balancer.parameters() if balancer else [])
    optimizer = torch.optim.SGD(params, lr=1e-4)
    counter = [0]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        z = net.trunk(x)
        losses = {n: ((h(z) - t) ** 2).mean() for n, h, t in zip(names, net.heads, y)}
        if balancer is None:
            TaskJacobian.compute(list(losses.values()), shared)
        else:
            balancer.set_progress(counter[0], 10**6)
            balancer.backward(losses, shared, heads)
        optimizer.step()
        counter[0] += 1

    return step


def measure(tasks: int, rows: dict[str, tuple[str | None, dict]], rounds: int,
            steps: int) -> dict[str, float]:
    """Seconds per step of each row: the minimum over interleaved rounds."""
    closures = {label: make_step(method, settings, tasks) for label, (method, settings) in
                rows.items()}
    for step in closures.values():  # warm-up (allocations, lazy state)
        step()
        step()
    samples: dict[str, list[float]] = {label: [] for label in closures}
    for _ in range(rounds):
        for label, step in closures.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            samples[label].append((time.perf_counter() - start) / steps)
    return {label: min(values) for label, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 step")
    parser.add_argument("--tasks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--rounds", type=int, default=10,
                        help="interleaved rounds (more: closer to an idle machine's minimum)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="only these methods (static, upgrad and the floor are always measured)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, steps = (3, 1) if args.quick else (args.rounds, 2)

    rows: dict[str, tuple[str | None, dict]] = {}
    skipped = []
    wanted = None if args.methods is None else {"static", "upgrad", *args.methods}
    unknown = sorted((wanted or set()) - set(available()) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}")
    for name, cls in available().items():
        if wanted is not None and name not in wanted:
            continue
        if cls.missing_dependencies():
            skipped.append(f"{name} ({cls.install_hint})")
            continue
        rows[name] = (name, {})
    rows.update({k: v for k, v in VARIANTS.items() if wanted is None or k in wanted})
    rows["floor"] = (None, {})

    params = sum(p.numel() for p in Net(1).trunk.parameters())
    print(f"bench_balancers: {params / 1e6:.2f}M shared parameters, batch {BATCH}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}; {rounds} rounds x {steps} steps, "
          "fastest round")
    results = {t: measure(t, rows, rounds, steps) for t in args.tasks}

    header = f"| {'method':14s} | level    |" + "".join(
        f" T={t} ms | x static |" for t in args.tasks)
    print()
    print(header)
    print("|" + "---|" * (2 + 2 * len(args.tasks)))
    for label, (method, _) in rows.items():
        level = available()[method].level if method else "-"
        cells = "".join(f" {results[t][label] * 1e3:7.1f} |"
                        f" {results[t][label] / results[t]['static']:8.2f} |" for t in args.tasks)
        print(f"| {label:14s} | {level:8s} |{cells}")
    print()
    ratios = (("rgb", "upgrad"), ("gradnorm", "upgrad"), ("gradnorm[all]", "upgrad"),
              ("mgda_ub", "static"), ("upgrad", "floor"), ("floor", "static"))
    for t in args.tasks:
        r = results[t]
        print(f"T={t}: " + "  ".join(f"{a}/{b} {r[a] / r[b]:.2f}" for a, b in ratios
                                     if a in r and b in r))
    if skipped:
        print("\nnot installed, not measured: " + "; ".join(skipped))


if __name__ == "__main__":
    main()
