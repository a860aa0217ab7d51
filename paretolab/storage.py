"""Optuna storage for a study: the embedded SQLite default or any URL, checked before use."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import optuna

from paretolab.errors import StorageError

HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def open_storage(url: str, *, create_dir: bool = True) -> optuna.storages.BaseStorage:
    """Open an RDB storage with heartbeats (so a killed worker's trial is failed, not stuck).

    SQLite gets a long busy timeout so several local workers wait instead of failing with
    'database is locked'.
    """
    engine_kwargs: dict = {}
    path = sqlite_path(url)
    if path is not None:
        if create_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith(("postgresql", "mysql")):
        engine_kwargs = {"pool_pre_ping": True}
    elif not re.match(r"^[a-z0-9+]+://", url):
        raise StorageError(f"{url!r} is not a storage URL", where="storage",
                           hint="use e.g. sqlite:///path/study.db or postgresql://user@host/db")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                              heartbeat_interval=HEARTBEAT_INTERVAL_S,
                                              grace_period=GRACE_PERIOD_S)
    except ImportError as exc:
        raise StorageError(f"the driver for {redact(url)} is not installed ({exc})", where="storage",
                           hint="pip install the database driver (psycopg[binary] for PostgreSQL)") from None
    except Exception as exc:  # sqlalchemy OperationalError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot reach storage {redact(url)}: {redact(first)}", where="storage",
                           hint="check that the database server is running and the URL is right") from None


def check_storage(url: str) -> None:
    """Fail early with a clear message if a non-default storage cannot be reached."""
    path = sqlite_path(url)
    if path is not None:
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise StorageError(f"cannot create the SQLite file {str(path)!r}", where="storage")
        return
    open_storage(url, create_dir=False)
