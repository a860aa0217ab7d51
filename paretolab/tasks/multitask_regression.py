"""Built-in task ``multitask_regression``: the synthetic benchmark of GradNorm (Chen et al. 2018, section 4).

T regression tasks y_i = sigma_i * tanh((B + eps_i) x) + noise share a random matrix B; the
task-specific perturbation eps_i sets how much the tasks conflict, and the scales sigma_i make
the raw MSE losses differ by up to (max sigma / min sigma)^2, the imbalance GradNorm targets.
Entries of B are N(0, 1/d) and of eps_i N(0, conflict^2/d), so ``conflict`` is the ratio of their
standard deviations (the paper's N(0, 10) / N(0, 3.5) corresponds to conflict ~= 0.59, but its
pre-activations are far larger; ours are scaled so tanh is nonlinear without saturating).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from paretolab.errors import TaskError
from paretolab.tasks.base import Task, infinite_minibatches


class MultitaskNet(nn.Module):
    """Shared ReLU trunk plus one linear head per task (the GradNorm synthetic architecture, smaller)."""

    def __init__(self, input_dim: int, output_dim: int, n_tasks: int, hidden: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(width, output_dim) for _ in range(n_tasks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions for every task, shape (n, n_tasks, output_dim)."""
        z = self.trunk(x)
        return torch.stack([head(z) for head in self.heads], dim=1)


def default_scales(n_tasks: int, spread: float) -> list[float]:
    """Task scales sigma_i geometric from 1 to ``spread`` (GradNorm uses differing sigma_i to unbalance the losses)."""
    if n_tasks == 1:
        return [1.0]
    return [spread ** (i / (n_tasks - 1)) for i in range(n_tasks)]


def _trunk(model: nn.Module) -> nn.Module:
    """The shared trunk of a :class:`MultitaskNet` (``nn.Module`` attributes are typed loosely)."""
    trunk = model.trunk
    assert isinstance(trunk, nn.Module)
    return trunk


class MultitaskRegressionTask(Task):
    """Built-in task ``multitask_regression``: T conflicting, differently scaled regressions on a shared trunk."""

    def __init__(
        self,
        n_tasks: int = 2,
        input_dim: int = 32,
        output_dim: int = 8,
        n_train: int = 1024,
        n_val: int = 512,
        conflict: float = 1.0,
        scales: Sequence[float] | None = None,
        scale_spread: float = 10.0,
        noise: float = 0.01,
        hidden: int = 64,
        depth: int = 3,
        data_seed: int = 0,
    ):
        def bad(name: str, message: str) -> TaskError:
            return TaskError(message, where=f"task.params.{name}")

        for name, value, least in (("n_tasks", n_tasks, 1), ("input_dim", input_dim, 1),
                                   ("output_dim", output_dim, 1), ("n_train", n_train, 1),
                                   ("n_val", n_val, 2), ("hidden", hidden, 1), ("depth", depth, 1)):
            if int(value) < least:
                raise bad(name, f"{name} must be >= {least}, got {value!r}")
        if not float(conflict) >= 0:
            raise bad("conflict", f"conflict must be >= 0, got {conflict!r}")
        if not float(noise) >= 0:
            raise bad("noise", f"noise must be >= 0, got {noise!r}")
        n_tasks = int(n_tasks)
        if scales is None:
            if not float(scale_spread) > 0:
                raise bad("scale_spread", f"scale_spread must be > 0, got {scale_spread!r}")
            scales = default_scales(n_tasks, float(scale_spread))
        try:
            scales = [float(s) for s in scales]
        except (TypeError, ValueError):
            raise bad("scales", f"scales must be a list of {n_tasks} positive numbers, got {scales!r}") from None
        if len(scales) != n_tasks or not all(s > 0 and math.isfinite(s) for s in scales):
            raise bad("scales", f"scales must be {n_tasks} positive numbers (one per task), got {scales!r}")

        self.n_tasks = n_tasks
        self.scales = tuple(scales)
        self.conflict = float(conflict)
        self.hidden, self.depth = int(hidden), int(depth)
        self.losses = tuple(f"task{i}" for i in range(n_tasks))
        self.metrics = (*self.losses, "mean")

        gen = torch.Generator().manual_seed(int(data_seed))  # independent of the global RNG
        d, k = int(input_dim), int(output_dim)
        shared = torch.randn(k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
        mats = [shared + self.conflict * torch.randn(k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
                for _ in range(n_tasks)]
        self.task_matrices = torch.stack(mats).to(torch.float32)  # (T, k, d), kept for inspection

        def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.randn(n, d, generator=gen, dtype=torch.float64)
            ys = [s * (torch.tanh(x @ m.T) + float(noise) * torch.randn(n, k, generator=gen, dtype=torch.float64))
                  for s, m in zip(scales, mats)]
            return x.to(torch.float32), torch.stack(ys, dim=1).to(torch.float32)

        self.x_train, self.y_train = sample(int(n_train))  # y: (n, T, output_dim)
        self.x_val, self.y_val = sample(int(n_val))
        # per-task validation target variance (mean over output dims): normalises the metric MSEs
        self.val_variance = self.y_val.var(dim=0).mean(dim=1)

    def build_model(self) -> nn.Module:
        """A fresh shared-trunk network, initialised from the torch global RNG."""
        return MultitaskNet(self.x_train.shape[1], self.y_train.shape[2], self.n_tasks, self.hidden, self.depth)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        """Endless shuffled (x, y) minibatches of the training set; y has shape (batch, n_tasks, output_dim)."""
        return infinite_minibatches((self.x_train, self.y_train), batch_size, generator)

    def compute_losses(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Raw (unnormalised) MSE of each task on one minibatch; their scales differ by sigma_i^2."""
        x, y = batch
        pred = model(x)
        return {name: F.mse_loss(pred[:, i], y[:, i]) for i, name in enumerate(self.losses)}

    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """The trunk's parameters: the only ones every task loss depends on."""
        return [p for p in _trunk(model).parameters() if p.requires_grad]

    def representation_module(self, model: nn.Module) -> nn.Module:
        """The trunk: its output is the shared representation (for MGDA-UB)."""
        return _trunk(model)

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Per-task validation MSE divided by that task's target variance (1 ~ predicting the mean), and their mean."""
        pred = model(self.x_val.to(device)).float().cpu()
        mse = ((pred - self.y_val) ** 2).mean(dim=(0, 2)) / self.val_variance
        out = {name: float(mse[i]) for i, name in enumerate(self.losses)}
        out["mean"] = float(mse.mean())
        return out
