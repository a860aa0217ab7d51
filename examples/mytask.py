# mytask.py — use as `task: mytask.py:Regression` in the study file
import torch
from torch import nn
from paretolab import Task
from paretolab.tasks import infinite_minibatches


class Regression(Task):
    losses = ("fit", "smooth")       # names compute_losses returns
    metrics = ("mse", "roughness")   # names evaluate returns

    def __init__(self, n: int = 256):
        g = torch.Generator().manual_seed(0)    # the data must not depend on the trial seed
        self.x = torch.linspace(-3, 3, n).unsqueeze(1)
        self.y = torch.sin(self.x) + 0.3 * torch.randn(n, 1, generator=g)

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))

    def batches(self, batch_size, generator):
        return infinite_minibatches((self.x, self.y), batch_size, generator)

    def compute_losses(self, model, batch):
        x, y = batch
        pred = model(x)
        return {"fit": ((pred - y) ** 2).mean(), "smooth": (pred.diff(dim=0) ** 2).mean()}

    def evaluate(self, model, device):
        pred = model(self.x.to(device)).cpu()
        return {"mse": float(((pred - torch.sin(self.x)) ** 2).mean()),
                "roughness": float((pred.diff(dim=0) ** 2).sum())}
