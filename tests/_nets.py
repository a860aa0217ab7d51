"""The small multi-task network the balancer tests train: a shared trunk and one linear head per loss.

MSE losses, so every loss is positive (the log-based methods need that). One definition for
`test_balancers.py` and `test_balancer_properties.py`; they differ only in batch size.
"""
from __future__ import annotations

import torch
from torch import nn

NAMES = ["a", "b", "c"]
PREF = {"a": 0.5, "b": 0.3, "c": 0.2}


class MultiTaskNet(nn.Module):
    def __init__(self, tasks: int = 3, seed: int = 0, batch: int = 16):
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(6, 1) for _ in range(tasks))
        g = torch.Generator().manual_seed(seed + 1)
        self.x = torch.randn(batch, 5, generator=g)
        self.y = torch.randn(tasks, batch, 1, generator=g)

    def losses_and_features(self, names=NAMES) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each loss by name, and the trunk's output (the shared representation)."""
        z = self.trunk(self.x)
        return {n: ((h(z) - y) ** 2).mean() for n, h, y in zip(names, self.heads, self.y)}, z

    def losses(self, names=NAMES) -> dict[str, torch.Tensor]:
        return self.losses_and_features(names)[0]

    def shared(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_params(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())

    def grads(self) -> torch.Tensor:
        return torch.cat([p.grad.flatten() for p in self.parameters()])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            p.grad = None
