"""The ``posttrain`` task's shared starting checkpoint: supervised pre-training on the generated
corpus, done once per configuration and cached on disk.

The cache folder is ``<root>/<hash>/`` where ``hash`` is the SHA-256 of the pre-training
configuration (architecture, corpus mixture, steps, seed) and ``root`` is the task's
``cache_dir`` param, else ``$PARETOLAB_POSTTRAIN_CACHE``, else
``$XDG_CACHE_HOME/paretolab/posttrain`` (``~/.cache/paretolab/posttrain``). ``model.pt`` is
written to a temporary file and renamed into place, so a reader never sees half a file; a lock
file makes concurrent workers wait for the one that pre-trains instead of all doing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from paretolab.tasks.posttrain.corpus import MAX_DIFFICULTY, corpus_batch
from paretolab.tasks.posttrain.model import LMConfig, TinyLM

CACHE_ENV = "PARETOLAB_POSTTRAIN_CACHE"
_FORMAT = 1  # bump when the corpus or the model code changes what a configuration means


@dataclass(frozen=True)
class PretrainConfig:
    """Everything the starting checkpoint depends on (its hash names the cache folder)."""

    model: LMConfig = field(default_factory=LMConfig)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    boxed: float = 0.3    # fraction of corpus answers written "[46]"
    verbose: float = 0.4  # fraction followed by " (12+34)"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "format": _FORMAT}

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds one ``<hash>/`` per pre-training configuration."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "paretolab" / "posttrain"


def checkpoint_path(config: PretrainConfig, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the starting checkpoint of ``config`` is (or will be) cached."""
    return cache_root(cache_dir) / config.digest() / "model.pt"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (a no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pretrain(config: PretrainConfig) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Supervised next-token training on the corpus, on the CPU, seeded by ``config.seed``
    (the global RNG is left as it was). Returns the state dict and final training figures."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = TinyLM(config.model)
        generator = torch.Generator().manual_seed(config.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps,
                                                       pct_start=0.1)
        loss = torch.zeros(())
        for _ in range(config.steps):
            ids, mask = corpus_batch(config.batch_size, generator, config.boxed, config.verbose,
                                     MAX_DIFFICULTY)
            logits = model(ids[:, :-1])
            per_token = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
            target = mask[:, 1:].float()
            loss = (per_token * target).sum() / target.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
    return model.state_dict(), {"final_loss": float(loss.detach())}


def load_or_pretrain(config: PretrainConfig, cache_dir: str | os.PathLike[str] | None = None
                     ) -> dict[str, torch.Tensor]:
    """The starting checkpoint's state dict: read from the cache, or pre-trained once and cached."""
    path = checkpoint_path(config, cache_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path.parent / "lock"):
            if not path.exists():  # another worker may have written it while this one waited
                start = time.perf_counter()
                state, figures = pretrain(config)
                info = {**config.to_dict(), **figures, "seconds": time.perf_counter() - start}
                _atomic_write(path.parent / "config.json", json.dumps(info, indent=2).encode())
                with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
                    torch.save(state, tmp)
                os.replace(tmp.name, path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _atomic_write(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)
