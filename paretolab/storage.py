"""Optuna storage for a study: the embedded SQLite default or any URL, checked before use.

Also the study lock that makes "is the budget reached? then start a trial" one atomic step for
every worker of a study, local or on other machines (see :class:`StudyLock`).
"""

from __future__ import annotations

import fcntl
import os
import re
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import optuna

from paretolab._compat.optuna_internals import StaleTrialsStorage
from paretolab.errors import StorageError
from paretolab.spec.defaults import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, MAX_RETRIES, STORAGE_PATIENCE_S, grace_problem  # noqa: F401 - the study file owns the fault defaults

SQLITE_BUSY_TIMEOUT_S = 300
SQLITE_CREATE_ATTEMPTS = 5  # opening a fresh SQLite file that another process is creating


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/?#@]*):(?P<pw>.*)@(?P<host>[^@/?#]*)")
_QUERY_PW = re.compile(r"(?i)([?&](?:password|passwd|pwd)=)[^&#]*")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs).

    The password may itself hold ``@``, ``:`` or ``/``: everything between the user's ``:`` and
    the last ``@`` before the host goes. ``?password=...`` query parameters go too.
    """
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@{m['host']}", url)
    return _QUERY_PW.sub(r"\1***", text)


def sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def is_storage_error(exc: BaseException) -> bool:
    """True for a failure to talk to the database (connection lost, server gone), not a bug."""
    try:
        import sqlalchemy.exc as sa_exc
    except ImportError:  # pragma: no cover - sqlalchemy comes with optuna
        return False
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                            sa_exc.TimeoutError)) or (
        isinstance(exc, sa_exc.DBAPIError) and bool(getattr(exc, "connection_invalidated", False)))


def _chain(exc: BaseException | None, limit: int = 8) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and len(seen) < limit and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def storage_failure(exc: BaseException) -> bool:
    """A lost or unwritable database, directly or wrapped (Optuna's StorageInternalError)."""
    return any(is_storage_error(e) or isinstance(e, optuna.exceptions.StorageInternalError)
               for e in _chain(exc))


_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded",
         "readonly database", "read-only file system", "disk i/o error")


def storage_full(exc: BaseException) -> bool:
    """The database cannot be written at all (full disk, read-only file): retrying will not help."""
    return any(marker in str(e).lower() for e in _chain(exc) for marker in _FULL)


def storage_cause(exc: BaseException) -> str:
    """The real cause of a storage failure in one line, passwords redacted.

    Optuna wraps a failed commit in a StorageInternalError that blames "invalid data ... e.g.
    exceeding max length"; the database's own message (``database or disk is full``, ``password
    authentication failed``) is further down the chain, on the driver's error; SQLAlchemy's own
    notes (``raised as a result of Query-invoked autoflush; ...``) are left out.
    """
    chain = _chain(exc)
    found = [e for e in chain if is_storage_error(e)] or chain
    orig = getattr(found[0], "orig", None)  # the driver's own error, without SQLAlchemy's notes
    text = str(orig if isinstance(orig, Exception) and str(orig).strip() else found[0]).strip()
    first = text.splitlines()[0].strip() if text else type(found[0]).__name__
    return redact(first)


class HeartbeatStorage(StaleTrialsStorage):
    """Optuna's RDB storage, with one more kind of stale trial: a RUNNING trial that never beat.

    Optuna fails a RUNNING trial once its heartbeat is older than the grace period, but skips
    one with no heartbeat at all. A worker that dies (or loses the database) between creating
    a trial and its first heartbeat leaves such a trial RUNNING for ever, and the study then
    never reaches its budget: the last worker waits for it. Here a trial that this storage
    object has seen RUNNING without a heartbeat for the grace period, by this process's own
    clock (no comparison of clocks across machines), is stale too. A live trial beats as soon
    as it starts, so it is never seen without a heartbeat for long.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._no_beat_since: dict[int, float] = {}

    def more_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self.grace_period if self.grace_period is not None else 2 * (self.heartbeat_interval or 0)
        silent = self.running_without_heartbeat(study_id)
        now = time.monotonic()
        self._no_beat_since = {tid: self._no_beat_since.get(tid, now) for tid in silent}
        return [tid for tid, since in self._no_beat_since.items() if now - since >= grace]


def open_storage(url: str, *, create_dir: bool = True, heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
                 grace_period: int = GRACE_PERIOD_S, max_retries: int | None = None,
                 ) -> optuna.storages.BaseStorage:
    """Open an RDB storage with heartbeats (so a killed worker's trial is failed, not stuck).

    A trial whose worker stops beating for ``grace_period`` seconds is failed by the next worker
    that looks; with ``max_retries`` it is re-enqueued with the same params (Optuna's
    ``RetryHeartbeatStaleTrialCallback``) at most that many times.
    SQLite gets a long busy timeout so several local workers wait instead of failing with
    'database is locked'. PostgreSQL/MySQL connections are checked before use (a server restart
    does not leave dead connections in the pool).
    """
    engine_kwargs: dict = {}
    path = sqlite_path(url)
    if path is not None:
        if create_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    elif url.startswith(("postgresql", "mysql")):
        engine_kwargs = {"pool_pre_ping": True}
        if url.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
    elif not re.match(r"^[a-z0-9+]+://", url):
        raise StorageError(f"{redact(url)!r} is not a storage URL", where="storage",
                           hint="use e.g. sqlite:///path/study.db or postgresql://user@host/db")
    problem = grace_problem(heartbeat_interval, grace_period)
    if problem:
        raise StorageError(problem, where="storage")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            callback = None
            if max_retries:
                callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retries)
            import sqlalchemy.exc as sa_exc  # sqlalchemy comes with optuna

            attempts = SQLITE_CREATE_ATTEMPTS if path is not None else 1
            for attempt in range(attempts):
                try:
                    return HeartbeatStorage(url, engine_kwargs=engine_kwargs,
                                            heartbeat_interval=heartbeat_interval,
                                            grace_period=grace_period,
                                            heartbeat_stale_trial_callback=callback)
                except Exception as exc:  # noqa: BLE001 - retried below, else reported
                    # two processes opening a fresh SQLite file at once (a run starting while a
                    # dashboard or `paretolab report` opens it) both create the tables; the
                    # loser fails ("table ... already exists", "database is locked", a unique
                    # alembic_version row) and succeeds on a second look, when they are there
                    if not isinstance(exc, sa_exc.DBAPIError) or attempt == attempts - 1:
                        raise
                    time.sleep(0.2 * (attempt + 1))
            raise RuntimeError("no attempt made to open the storage")  # pragma: no cover
    except ImportError as exc:
        raise StorageError(f"the driver for {redact(url)} is not installed ({exc})", where="storage",
                           hint="pip install the database driver (psycopg[binary] for PostgreSQL)") from None
    except Exception as exc:  # sqlalchemy OperationalError and friends
        raise StorageError(f"cannot reach storage {redact(url)}: {storage_cause(exc)}", where="storage",
                           hint=_hint(exc)) from None


def _hint(exc: BaseException) -> str:
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if "password" in text or "authentication" in text:
        return "check the user name and password in the storage URL"
    if "does not exist" in text or "unknown database" in text:
        return "create the database first (e.g. createdb NAME), or fix its name in the URL"
    if storage_full(exc):
        return "free space on the disk that holds the storage, then run the same command again"
    return "check that the database server is running and the URL is right"


def check_storage(url: str) -> None:
    """Fail early with one clear line if the storage cannot be used: an SQLite file that cannot
    be created or written where it should be, a database server that refuses the connection
    (with the server's reason: wrong password, missing database, nobody listening)."""
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_location(path)
        return
    if not re.match(r"^[a-z0-9+]+://", url):
        raise StorageError(f"{redact(url)!r} is not a storage URL", where="storage",
                           hint="use e.g. sqlite:///path/study.db or postgresql://user@host/db")
    try:
        import sqlalchemy

        kwargs = {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, **kwargs)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except ImportError as exc:
        raise StorageError(f"the driver for {redact(url)} is not installed ({exc})", where="storage",
                           hint="pip install the database driver (psycopg[binary] for PostgreSQL)") from None
    except Exception as exc:  # noqa: BLE001 - the driver's own error names the cause
        raise StorageError(f"cannot reach storage {redact(url)}: {storage_cause(exc)}", where="storage",
                           hint=_hint(exc)) from None


def _check_sqlite_location(path: Path) -> None:
    """The SQLite file (or the folder it will be created in) can be written by this process.

    Tried for real (a probe folder or file made and removed again), since permission bits do
    not tell: root passes every access check, and ``/proc`` or a read-only mount refuse anyway.
    """
    import tempfile

    if path.exists():
        if path.is_dir():
            raise StorageError(f"the SQLite path {str(path)!r} is a folder", where="storage")
        if not os.access(path, os.R_OK | os.W_OK):
            raise StorageError(f"cannot write the SQLite file {str(path)!r}: permission denied",
                               where="storage")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise StorageError(f"cannot create the SQLite file {str(path)!r}: {str(parent)!r} is a file, "
                           "not a folder", where="storage")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".paretolab-probe-", dir=parent))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StorageError(f"cannot create the SQLite file {str(path)!r} ({reason} in {str(parent)!r})",
                           where="storage",
                           hint="choose a storage path in a folder you can write") from None


class StudyLock:
    """A lock shared by every worker of one study, wherever it runs.

    Workers hold it from "count finished + running trials" until their new trial exists in
    storage (RUNNING), so N workers racing for the last trial of the budget start exactly one.
    SQLite: ``flock`` on ``<db>.lock`` beside the database (the OS drops it if the process dies).
    PostgreSQL: a session-level ``pg_advisory_lock`` keyed by the study name (the server drops it
    when the connection goes). Other storages: no lock; the budget may then be overrun by up to
    ``workers - 1`` trials at the very end.
    """

    def __init__(self, url: str, study_name: str):
        self.url = url
        self.key = zlib.crc32(f"paretolab:{study_name}".encode()) - 2**31  # signed 32-bit
        self._file: Any = None
        self._engine: Any = None
        self._conn: Any = None
        self.held = False
        path = sqlite_path(url)
        self._path = Path(f"{path}.lock") if path is not None else None
        self._pg = url.startswith("postgresql")

    def acquire(self) -> None:
        if self.held:
            return
        if self._path is not None:
            if self._file is None:
                self._file = open(self._path, "a+")  # noqa: SIM115 - kept open for the process
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        elif self._pg:
            import sqlalchemy

            if self._engine is None:
                self._engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool,
                                                        connect_args={"connect_timeout": 10})
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
            except Exception:
                self._drop_connection()
                raise
        self.held = True

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._path is not None and self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        elif self._pg and self._conn is not None:
            import sqlalchemy

            try:
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except Exception:  # noqa: BLE001 - a lost connection released the lock anyway
                self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
        self._conn = None

    def close(self) -> None:
        self.release()
        self._drop_connection()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
