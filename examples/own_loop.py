"""Your own PyTorch loop as a paretolab function trial (``trainer: {function: ...}``).

Two regression targets share one small network: ``a`` (a smooth function of the inputs) and
``b`` (a different one). Their losses compete for the shared layer; the study searches the
preference weights (and the learning rate) for the trade-off front of the two validation errors.
Run with ``paretolab run studies/own_loop.yaml``.
"""

from __future__ import annotations

import torch
from torch import nn


def make_data(seed: int, n: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    a = torch.sin(x[:, :4].sum(1, keepdim=True))
    b = torch.cos(x[:, 2:6].sum(1, keepdim=True))
    return x, a, b


class TwoHeads(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(8, hidden), nn.Tanh())
        self.head_a = nn.Linear(hidden, 1)
        self.head_b = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.shared(x)
        return self.head_a(z), self.head_b(z)


def train(trial) -> dict[str, float]:
    """paretolab calls this once per trial with a ``paretolab.TrialContext``."""
    torch.manual_seed(trial.seed)
    x, a, b = make_data(0)
    xv, av, bv = make_data(1)
    model = TwoHeads(int(trial.params.get("hidden", 16))).to(trial.device)
    shared = list(model.shared.parameters())
    heads = list(model.head_a.parameters()) + list(model.head_b.parameters())
    balancer = trial.balancer()  # the trial's balancer, with its preference weights
    optimizer = torch.optim.Adam(shared + heads + balancer.parameters(), lr=trial.params["lr"])

    def val() -> dict[str, float]:
        with torch.no_grad():
            pa, pb = model(xv)
            return {"error_a": float(((pa - av) ** 2).mean()), "error_b": float(((pb - bv) ** 2).mean())}

    for step in range(1, trial.steps + 1):
        idx = torch.randint(0, len(x), (32,))
        pa, pb = model(x[idx])
        losses = {"a": ((pa - a[idx]) ** 2).mean(), "b": ((pb - b[idx]) ** 2).mean()}
        optimizer.zero_grad()
        balancer.set_progress(step - 1, trial.steps)
        balancer.backward(losses, shared, heads)  # here: instead of sum(losses).backward()
        optimizer.step()
        if step % 10 == 0:
            trial.report(step, **val())  # a curve point; at a pruning rung it may stop the trial
    torch.save(model.state_dict(), trial.dir / "model.pt")
    return val()
