"""Which device a worker trains on, how many local workers a run starts, with how many threads.

``device: auto`` is decided in one place, :func:`resolve_device`. ``workers: auto`` gives one
worker per visible GPU (``trials_per_gpu`` more per GPU), each seeing only its own device;
without a GPU it gives one single-threaded worker per usable core, which keeps every core busy
without oversubscription. ``workers: N`` splits the cores evenly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerSlot:
    """One local worker process: its index, the device it uses, its env and torch threads."""

    index: int
    device: str
    threads: int
    env: dict[str, str]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a Slurm or cgroup allocation)."""
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


def resolve_device(device: str) -> str:
    """What the study file's ``device`` means in this process: the one definition of ``auto``.

    ``auto`` and ``cuda``: the first visible GPU (``cuda:0``), else the CPU; ``cuda:N``, ``cpu``
    and anything else torch understands: as given. A spawned GPU worker sees only its own GPU
    (``CUDA_VISIBLE_DEVICES``), so its ``cuda:0`` is that GPU.
    """
    if device in ("auto", "cuda"):
        return "cuda:0" if visible_gpus(device) else "cpu"
    return device


def resolve_workers(workers: int | str, device: str, trials_per_gpu: int = 1) -> int:
    """``auto``: one per visible GPU (times ``trials_per_gpu``), else one per usable core."""
    if workers != "auto":
        return int(workers)
    gpus = visible_gpus(device)
    if gpus:
        return len(gpus) * max(1, trials_per_gpu)
    return usable_cores()


def plan_workers(n_workers: int, device: str, threads: int | None = None) -> list[WorkerSlot]:
    """Device, environment and torch thread count of each local worker process.

    GPU: worker i sees only GPU ``i mod n_gpus`` (``CUDA_VISIBLE_DEVICES``) and uses ``cuda:0``.
    CPU: the usable cores are split evenly (the first ``cores mod n`` workers get one more), and
    OpenMP/MKL get the same count, so N workers never run more threads than there are cores.
    ``threads`` (the study file's ``threads:``, ``--threads``) gives every worker that count.
    """
    gpus = visible_gpus(device)
    cores = usable_cores()
    slots = []
    for i in range(n_workers):
        count = threads or max(1, cores // n_workers + (1 if i < cores % n_workers else 0))
        env = {"OMP_NUM_THREADS": str(count), "MKL_NUM_THREADS": str(count)}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            slots.append(WorkerSlot(i, "cuda:0", count, env))
        else:
            slots.append(WorkerSlot(i, resolve_device(device), count, env))
    return slots
