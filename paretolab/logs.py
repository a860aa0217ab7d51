"""Where a worker's log lines go: ``<study dir>/worker-<label>.log``, set up by the process entry.

Every module logs through ``logging.getLogger(__name__)`` (the ``paretolab`` hierarchy) and
installs nothing itself, so ``run_study`` called from a notebook leaves the caller's logging and
hooks alone. The command line (``paretolab run`` / ``paretolab worker``) and the entry point of
a spawned worker process call :func:`setup_worker_logging`: one file per worker, Optuna's own
lines in it too, nothing from Optuna on the terminal, and errors of background threads in the
file rather than over the progress bar.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("paretolab")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class WorkerLogHandler(logging.FileHandler):
    """A log file that, when it cannot be written (a full disk), says so once and goes quiet.

    ``logging`` prints a "--- Logging error ---" page with a traceback for every record it
    fails to write; on a full disk that is a page per log line. Here the first failure prints
    one line to stderr and the handler drops what follows.
    """

    def __init__(self, path: Path):
        super().__init__(path, delay=True)
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # flushing the last lines onto a full disk
            self.stream = None  # type: ignore[assignment]

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if self.broken:
            return
        self.broken = True
        exc = sys.exc_info()[1]
        try:
            sys.stderr.write(f"warning: cannot write the log {self.baseFilename} ({exc}); "
                             "its further lines are dropped\n")
        except Exception:  # noqa: BLE001 - stderr gone too: nothing left to tell
            pass


def setup_worker_logging(study_dir: Path, worker: int | str) -> Path:
    """Send paretolab's and Optuna's log lines of this process to ``study_dir/worker-<worker>.log``.

    Replaces a file handler an earlier call installed (one process, one log file), turns off
    Optuna's terminal handler and installs :func:`quiet_background_errors`. Returns the path.
    """
    import optuna

    path = (Path(study_dir) / f"worker-{worker}.log").resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # the handler reports the failure once when it first writes
    handler = WorkerLogHandler(path)
    handler.setFormatter(logging.Formatter(_FORMAT))
    optuna.logging.disable_default_handler()
    for logger in (log, logging.getLogger("optuna")):
        for old in [h for h in logger.handlers if isinstance(h, WorkerLogHandler)]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    quiet_background_errors()
    return path


def quiet_background_errors() -> None:
    """Errors in background threads and the noise of an interrupted interpreter go to the log.

    A worker's background threads (its heartbeat, the parent watch, the progress refresher) may
    meet a lost storage; the main loop reports the cause itself in one line, so their tracebacks
    belong in the worker log, not over the terminal. Only a process entry point calls this.
    """

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.warning("background thread %s: %s: %s", getattr(args.thread, "name", "?"),
                    args.exc_type.__name__, args.exc_value,
                    exc_info=None if args.exc_value is None else (args.exc_type, args.exc_value, args.exc_traceback))

    def unraisable_hook(info: Any) -> None:
        log.debug("ignored %s: %s", getattr(info, "object", None), getattr(info, "exc_value", None))

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook
