"""The training of examples/own_loop.py as a command trial script (``trainer: {command: ...}``).

paretolab runs it once per trial; the script reads its configuration with
``paretolab.client.config()`` (weights, params, seed, steps) and reports its metrics with
``paretolab.client.report(step, ...)``. The learning rate also arrives on the command line
(``--lr {lr}``), as any script's arguments would. Run alone it trains with equal weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from paretolab import client
from paretolab.balancers import make_balancer

sys.path.insert(0, str(Path(__file__).parent))
from own_loop import TwoHeads, make_data  # noqa: E402  (the same model and data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    cfg = client.config()
    weights = cfg.get("weights", {"a": 0.5, "b": 0.5})
    seed = cfg.get("seed", 0)
    hidden = int(cfg.get("params", {}).get("hidden", 16))
    balancer_cfg = cfg.get("balancer", {"method": "static", "settings": {}})

    torch.manual_seed(seed)
    x, a, b = make_data(0)
    xv, av, bv = make_data(1)
    model = TwoHeads(hidden)
    shared = list(model.shared.parameters())
    heads = list(model.head_a.parameters()) + list(model.head_b.parameters())
    balancer = make_balancer(balancer_cfg["method"], ["a", "b"], weights, balancer_cfg["settings"])
    optimizer = torch.optim.Adam(shared + heads + balancer.parameters(), lr=args.lr)
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(x), (32,))
        pa, pb = model(x[idx])
        losses = {"a": ((pa - a[idx]) ** 2).mean(), "b": ((pb - b[idx]) ** 2).mean()}
        optimizer.zero_grad()
        balancer.set_progress(step - 1, args.steps)
        balancer.backward(losses, shared, heads)
        optimizer.step()
        if step % 10 == 0 or step == args.steps:
            with torch.no_grad():
                pa, pb = model(xv)
            client.report(step, error_a=float(((pa - av) ** 2).mean()),
                          error_b=float(((pb - bv) ** 2).mean()))
            if client.should_stop():
                return


if __name__ == "__main__":
    main()
