"""Torch's intra-op threads: one count per worker, recorded with each trial, used again by
``pick``/``paretolab train`` and the production recipe.

Two workers that each use every core oversubscribe the machine (a trial ran 3x slower), and a
CPU result depends on the thread count (reductions sum in another order), so a production loop
reproduces a trial's metrics only at the trial's count. A run splits the usable cores between
its local workers (:func:`paretolab.devices.plan_workers`) unless the study file's ``threads:``
or ``--threads`` gives the count; each trial stores the count it trained with
(``extra.threads`` of its configuration, in ``pick.yaml`` too), and :func:`use_recorded` sets it
again wherever the configuration is trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEY = "threads"


def current() -> int:
    """Torch's intra-op thread count in this process."""
    import torch

    return int(torch.get_num_threads())


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads to ``n`` (None: leave them); returns the count before."""
    import torch

    before = int(torch.get_num_threads())
    if n is not None and int(n) >= 1 and int(n) != before:
        torch.set_num_threads(int(n))
    return before


def recorded(extra: Mapping[str, Any] | None) -> int | None:
    """The thread count a trial recorded (None for a trial stored before counts were recorded)."""
    value = (extra or {}).get(KEY)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def use_recorded(config: Any) -> int | None:
    """Train with the thread count ``config`` (a TrialConfig) recorded; returns it."""
    n = recorded(getattr(config, "extra", None))
    set_threads(n)
    return n


def env(n: int | None) -> dict[str, str]:
    """``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for a program that should use ``n`` threads."""
    return {} if n is None else {"OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)}
