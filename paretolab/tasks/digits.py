"""Built-in task ``digits``: an MLP on scikit-learn's 8x8 digits with accuracy, sparsity and calibration losses.

Three competing losses: cross-entropy, an L1 sparsity penalty on the weight matrices, and the
confidence penalty of Pereyra et al. 2017 ("Regularizing Neural Networks by Penalizing Confident
Output Distributions"). Metrics on a fixed validation split: error rate, weight sparsity, expected
calibration error (Guo et al. 2017) and validation NLL. The data ships with scikit-learn (no download).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paretolab.errors import TaskError
from paretolab.tasks.base import Task, infinite_minibatches

N_CLASSES = 10


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """Load the 1797 digit images once per process (features float64 (n, 64), labels int)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = data.data.astype(np.float64), data.target.astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017): bin predictions by confidence, average |accuracy - confidence|.

    ``probs`` is (n, C) predicted class probabilities, ``labels`` (n,) true classes. Confidence is
    the top probability; bins are ``n_bins`` equal-width intervals (lo, hi] of [0, 1], and
    ECE = sum over bins of (bin size / n) * |bin accuracy - bin mean confidence|. A model whose
    80%-confident predictions are right 80% of the time scores 0.
    """
    if probs.ndim != 2 or labels.ndim != 1 or len(probs) != len(labels):
        raise ValueError("probs must be (n, C) and labels (n,)")
    if len(labels) == 0:
        return 0.0
    probs = probs.detach().to(torch.float64).cpu()
    labels = labels.detach().cpu()
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).to(torch.float64)
    inner_edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)[1:-1]
    bin_index = torch.bucketize(confidence, inner_edges, right=False)  # (lo, hi] bins
    counts = torch.bincount(bin_index, minlength=n_bins).to(torch.float64)
    conf_sum = torch.bincount(bin_index, weights=confidence, minlength=n_bins)
    correct_sum = torch.bincount(bin_index, weights=correct, minlength=n_bins)
    # sum_b |correct_sum_b - conf_sum_b| / n  ==  sum_b (n_b / n) |acc_b - conf_b|
    return float((correct_sum - conf_sum).abs().sum() / counts.sum())


def confidence_penalty(logits: torch.Tensor) -> torch.Tensor:
    """Mean of log(C) - entropy of the softmax (Pereyra et al. 2017); in [0, log C], 0 for uniform outputs."""
    log_p = F.log_softmax(logits, dim=-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)
    return (math.log(logits.shape[-1]) - entropy).mean()


def weight_matrices(model: nn.Module) -> list[torch.Tensor]:
    """The model's weight matrices (parameters with 2+ dimensions), i.e. everything except biases."""
    return [p for p in model.parameters() if p.ndim >= 2]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Mean absolute value over all weight-matrix entries (biases excluded): the sparsity-inducing L1 loss."""
    weights = weight_matrices(model)
    total = functools.reduce(operator.add, (w.abs().sum() for w in weights))
    return total / sum(w.numel() for w in weights)


def build_mlp(in_dim: int, hidden: int, depth: int, out_dim: int) -> nn.Sequential:
    """A ReLU MLP with ``depth`` hidden layers of width ``hidden`` (depth 0 is a linear model)."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class DigitsTask(Task):
    """Built-in task ``digits``: accuracy vs. L1 sparsity vs. confidence penalty on 8x8 digits."""

    losses = ("ce", "l1", "confidence")
    metrics = ("error", "sparsity", "ece", "nll")

    def __init__(
        self,
        hidden: int = 64,
        depth: int = 1,
        data_seed: int = 0,
        val_fraction: float = 0.25,
        sparsity_threshold: float = 1e-2,
    ):
        if int(hidden) < 1:
            raise TaskError(f"hidden must be >= 1, got {hidden!r}", where="task.params.hidden")
        if int(depth) < 0:
            raise TaskError(f"depth must be >= 0, got {depth!r}", where="task.params.depth")
        if not 0.0 < float(val_fraction) < 1.0:
            raise TaskError(f"val_fraction must be in (0, 1), got {val_fraction!r}",
                            where="task.params.val_fraction")
        if not float(sparsity_threshold) > 0:
            raise TaskError(f"sparsity_threshold must be > 0, got {sparsity_threshold!r}",
                            where="task.params.sparsity_threshold")
        self.hidden, self.depth = int(hidden), int(depth)
        self.sparsity_threshold = float(sparsity_threshold)

        from sklearn.model_selection import train_test_split

        x, y = _raw_digits()
        x_tr, x_va, y_tr, y_va = train_test_split(
            x, y, test_size=float(val_fraction), stratify=y, random_state=int(data_seed)
        )
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
        std[std == 0] = 1.0  # constant border pixels
        self.x_train = torch.tensor((x_tr - mean) / std, dtype=torch.float32)
        self.y_train = torch.tensor(y_tr, dtype=torch.long)
        self.x_val = torch.tensor((x_va - mean) / std, dtype=torch.float32)
        self.y_val = torch.tensor(y_va, dtype=torch.long)

    def build_model(self) -> nn.Module:
        """A fresh MLP 64 -> hidden (x depth) -> 10, initialised from the torch global RNG."""
        return build_mlp(self.x_train.shape[1], self.hidden, self.depth, N_CLASSES)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        """Endless shuffled (features, labels) minibatches of the training split."""
        return infinite_minibatches((self.x_train, self.y_train), batch_size, generator)

    def compute_losses(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Cross-entropy, L1 weight penalty and confidence penalty on one minibatch."""
        x, y = batch
        logits = model(x)
        return {
            "ce": F.cross_entropy(logits, y),
            "l1": l1_penalty(model),
            "confidence": confidence_penalty(logits),
        }

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation error rate, weight sparsity (fraction |w| < threshold), ECE (15 bins) and NLL."""
        x, y = self.x_val.to(device), self.y_val.to(device)
        logits = model(x).float()
        probs = logits.softmax(dim=-1)
        weights = weight_matrices(model)
        small = sum(int((w.detach().abs() < self.sparsity_threshold).sum()) for w in weights)
        return {
            "error": float((logits.argmax(dim=-1) != y).float().mean()),
            "sparsity": small / sum(w.numel() for w in weights),
            "ece": expected_calibration_error(probs, y, n_bins=15),
            "nll": float(F.cross_entropy(logits, y)),
        }
