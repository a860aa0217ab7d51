"""PyTorch Lightning's own loop as a paretolab function trial (``trainer: {function: train.py:train}``).

The same two-target regression as ``examples/own_loop.py`` (two heads on one shared layer, their
losses competing for it), trained by a ``pytorch_lightning.Trainer``. Two places connect it to
paretolab:

* ``training_step`` uses manual optimisation and calls the trial's balancer,
  ``balancer.backward(losses, shared, heads)``, where automatic optimisation would have called
  ``loss.backward()`` on one summed loss: the balancer combines the losses (or their gradients on
  the shared parameters) with the trial's preference weights;
* :class:`ReportToParetolab`, a callback, hands each validation's metrics to ``trial.report``; at a
  pruning rung that raises ``paretolab.TrialPruned``, which stops ``trainer.fit`` and marks the
  trial pruned (MO-ASHA).

No logger or checkpoint files are written (``logger=False``, ``enable_checkpointing=False``); the
trained weights go to the trial's own folder. Run with
``paretolab run examples/lightning_loop/study.yaml`` (``pip install 'paretolab[examples]'``).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no banner lines per trial
# Lightning 2.6 asks torch's pytree in a way newer torch deprecates: not this example's concern
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def make_data(seed: int, n: int = 256) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    a = torch.sin(x[:, :4].sum(1, keepdim=True))
    b = torch.cos(x[:, 2:6].sum(1, keepdim=True))
    return TensorDataset(x, a, b)


class TwoHeads(pl.LightningModule):
    """A shared layer and two heads, trained with the trial's balancer."""

    def __init__(self, hidden: int, lr: float, balancer: Any, total_steps: int) -> None:
        super().__init__()
        self.automatic_optimization = False  # the balancer does the backward pass
        self.shared = nn.Sequential(nn.Linear(8, hidden), nn.Tanh())
        self.head_a = nn.Linear(hidden, 1)
        self.head_b = nn.Linear(hidden, 1)
        self.lr, self.balancer, self.total_steps = lr, balancer, total_steps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.shared(x)
        return self.head_a(z), self.head_b(z)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, a, b = batch
        pa, pb = self(x)
        losses = {"a": ((pa - a) ** 2).mean(), "b": ((pb - b) ** 2).mean()}
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.balancer.set_progress(self.global_step, self.total_steps)
        # here, instead of self.manual_backward(losses["a"] + losses["b"]):
        self.balancer.backward(losses, list(self.shared.parameters()),
                               [*self.head_a.parameters(), *self.head_b.parameters()])
        optimizer.step()

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, a, b = batch
        pa, pb = self(x)
        self.log_dict({"error_a": ((pa - a) ** 2).mean(), "error_b": ((pb - b) ** 2).mean()})

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # a balancer with learnable state (e.g. uncertainty weighting) trains with the model
        return torch.optim.Adam([*self.parameters(), *self.balancer.parameters()], lr=self.lr)


class ReportToParetolab(pl.Callback):
    """Each validation's metrics become a curve point of the trial; at a rung, MO-ASHA may stop it."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":  # not the final trainer.validate
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("error_")}
        self.trial.report(trainer.global_step, **metrics)  # may raise paretolab.TrialPruned


def _accelerator(device: str) -> dict[str, Any]:
    """The trial's device (``cpu``, ``cuda`` or ``cuda:N``) as Trainer arguments."""
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        return {"accelerator": "gpu", "devices": [index]}
    return {"accelerator": "cpu", "devices": 1}


def train(trial: Any) -> dict[str, float]:
    """paretolab calls this once per trial with a ``paretolab.TrialContext``."""
    pl.seed_everything(trial.seed, verbose=False)
    every = int(trial.params.get("eval_every", 10))
    model = TwoHeads(int(trial.params.get("hidden", 16)), float(trial.params["lr"]), trial.balancer(),
                     trial.steps)
    train_data = DataLoader(make_data(0), batch_size=32, shuffle=True)
    val_data = DataLoader(make_data(1), batch_size=256)
    trainer = pl.Trainer(max_steps=trial.steps, val_check_interval=every, check_val_every_n_epoch=None,
                         num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=trial.dir, callbacks=[ReportToParetolab(trial)],
                         **_accelerator(str(trial.device)))
    trainer.fit(model, train_data, val_data)
    torch.save(model.state_dict(), trial.dir / "model.pt")
    (final,) = trainer.validate(model, val_data, verbose=False)
    return {k: float(v) for k, v in final.items()}
