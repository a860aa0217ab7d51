"""How many worker processes, on which device, with how many threads; the knobs for faults.

``workers: auto`` gives one worker per visible GPU (``trials_per_gpu`` more per GPU), each seeing
only its own device; without a GPU it gives one single-threaded worker per usable core, which
keeps every core busy without oversubscription. ``workers: N`` splits the cores evenly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from paretolab import storage as _storage
from paretolab.spec.defaults import grace_problem


@dataclass(frozen=True)
class WorkerOptions:
    """Fault-handling settings shared by ``run`` and ``worker``: the study file's ``faults``
    section and ``trials_per_gpu``, overridden by keyword options / CLI flags."""

    heartbeat_interval: int = _storage.HEARTBEAT_INTERVAL_S  # seconds between heartbeats
    grace_period: int = _storage.GRACE_PERIOD_S  # no heartbeat this long: the trial is failed
    max_retries: int = _storage.MAX_RETRIES  # re-runs of a lost trial's params
    storage_patience: float = _storage.STORAGE_PATIENCE_S  # seconds of retrying a lost storage
    trials_per_gpu: int = 1  # workers per GPU with workers: auto
    report_every: float = 180.0  # seconds between report.html refreshes during a run

    @classmethod
    def from_spec(cls, spec: Any, **overrides: Any) -> WorkerOptions:
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        values = {k: fields[k].default for k in fields}
        faults = getattr(spec, "faults", None)
        if faults is not None:
            values.update({k: v for k, v in faults.model_dump().items() if k in fields})
        values["trials_per_gpu"] = getattr(spec, "trials_per_gpu", values["trials_per_gpu"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        opts = cls(**values)
        problem = grace_problem(opts.heartbeat_interval, opts.grace_period)
        if problem:
            from paretolab.errors import SpecError

            raise SpecError(problem, where="faults.grace_period")
        return opts

    def storage_kwargs(self) -> dict[str, int]:
        return {"heartbeat_interval": int(self.heartbeat_interval),
                "grace_period": int(self.grace_period), "max_retries": int(self.max_retries)}


@dataclass(frozen=True)
class WorkerSlot:
    """One local worker process: its index, the device it uses, its env and torch threads."""

    index: int
    device: str
    threads: int
    env: dict[str, str]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def visible_gpus(device: str) -> list[str]:
    """The CUDA device ids this study may use (``CUDA_VISIBLE_DEVICES`` order)."""
    if device not in ("auto", "cuda") and not device.startswith("cuda:"):
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    if device.startswith("cuda:"):
        return [device.split(":", 1)[1]]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else []
    return ids[: torch.cuda.device_count()] or [str(i) for i in range(torch.cuda.device_count())]


def resolve_workers(workers: int | str, device: str, trials_per_gpu: int = 1) -> int:
    """``auto``: one per visible GPU (times ``trials_per_gpu``), else one per usable core."""
    if workers != "auto":
        return int(workers)
    gpus = visible_gpus(device)
    if gpus:
        return len(gpus) * max(1, trials_per_gpu)
    return usable_cores()


def plan_workers(n_workers: int, device: str) -> list[WorkerSlot]:
    """Device, environment and torch thread count of each local worker process.

    GPU: worker i sees only GPU ``i mod n_gpus`` (``CUDA_VISIBLE_DEVICES``) and uses ``cuda:0``.
    CPU: the usable cores are split evenly (the first ``cores mod n`` workers get one more), and
    OpenMP/MKL get the same count, so N workers never run more threads than there are cores.
    """
    gpus = visible_gpus(device)
    cores = usable_cores()
    slots = []
    for i in range(n_workers):
        threads = max(1, cores // n_workers + (1 if i < cores % n_workers else 0))
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            slots.append(WorkerSlot(i, "cuda:0", threads, env))
        else:
            slots.append(WorkerSlot(i, "cpu" if device in ("auto", "cuda") else device, threads, env))
    return slots
