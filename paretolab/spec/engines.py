"""The study file's ``workers:`` on a cluster engine: ``{engine: ray, address: ..., count: N}``.

``workers: N`` and ``workers: auto`` stay local processes (:mod:`paretolab.pool`); the mapping
form starts the study's workers on a Ray cluster (:mod:`paretolab.engines.ray`). Slurm workers
are submitted by ``paretolab submit`` rather than described here: a batch job outlives the
command that submitted it. This module imports neither Ray nor Optuna.
"""

from __future__ import annotations

import socket
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError

from paretolab.spec.base import _Model

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_this_machine(host: str) -> bool:
    """Whether ``host`` names this machine: a loopback name, or an address of one of its network
    interfaces (one it can bind a socket to)."""
    if host in LOCAL_HOSTS:
        return True
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    for family, _, _, _, address in infos:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((address[0], 0))
            return True
        except OSError:
            continue
    return False


class PerWorker(_Model):
    """What each Ray worker reserves on its node (Ray's ``num_gpus`` / ``num_cpus``)."""

    num_gpus: float | None = Field(None, ge=0, description="GPUs per worker; default: 1 when the "
                                   "cluster has GPUs and device is not cpu, else 0")
    num_cpus: float = Field(1, gt=0, description="CPU cores per worker (also its torch threads)")


class RayWorkers(_Model):
    """``workers: {engine: ray, ...}``: the study's workers as Ray tasks on a cluster."""

    engine: Literal["ray"] = Field(description="the cluster engine (ray)")
    address: str = Field("auto", description="the cluster: auto (the one this machine belongs to), "
                         "local (start one in this process), host:port, or ray://host:10001")
    count: int = Field(1, ge=1, description="how many workers")
    per_worker: PerWorker = Field(default_factory=PerWorker)

    @property
    def multi_node(self) -> bool | None:
        """True for an address on another machine, False for one that is surely this machine,
        None for ``auto`` (whatever cluster this machine joined: known once connected)."""
        if self.address == "local":
            return False
        if self.address == "auto":
            return None
        host = urlparse(self.address if "://" in self.address else f"ray://{self.address}").hostname
        return not is_this_machine(host or "")


def parse_workers(value: Any) -> Any:
    """``workers:`` as written: a mapping is a :class:`RayWorkers`, with one error naming the
    wrong key (pydantic would list every alternative of the union instead)."""
    if not isinstance(value, dict):
        return value
    if value.get("engine") != "ray":
        raise ValueError(f"unknown engine {value.get('engine')!r}: the cluster engine of workers: is "
                         "ray (Slurm workers are submitted with paretolab submit --slurm)")
    try:
        return RayWorkers.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else first["msg"]) from None


def ray_workers(current: Any, address: str, count: int | str | None) -> RayWorkers:
    """``run --ray ADDRESS [--workers N]``: the study file's Ray settings (``per_worker``) with
    this address; the count from ``--workers``, else the file's (``workers: N`` or its Ray count)."""
    if count == "auto":
        raise ValueError("--workers with --ray is a number of Ray workers, not auto")
    base = current if isinstance(current, RayWorkers) else RayWorkers(
        engine="ray", count=current if isinstance(current, int) else 1)
    return base.model_copy(update={"address": address, **({"count": int(count)} if count else {})})


SQLITE_ACROSS_NODES = "an SQLite storage is a file on one machine: workers on other nodes cannot share it"
ACROSS_NODES_HINT = "use PostgreSQL: storage: postgresql+psycopg://user:pass@host/db (or --storage)"


def storage_across_nodes(storage_url: str, engine: str) -> str | None:
    """Why ``storage_url`` cannot serve workers spread over several nodes by ``engine``, or None."""
    if storage_url.startswith("sqlite"):
        return f"{SQLITE_ACROSS_NODES} ({engine})"
    return None
