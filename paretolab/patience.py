"""A spawned worker's first connection to the study storage, with ``storage_patience``.

``paretolab run`` reached the storage before it spawned its workers, so a spawned worker that
cannot connect meets an outage (a database restart, a network blip), not a mistake in the
study file: it retries with back-off for ``faults.storage_patience`` seconds, as a running
worker does, instead of quitting at once (the run then went on with one worker fewer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from paretolab.errors import StorageError
from paretolab.storage import storage_cause, storage_failure, storage_full

log = logging.getLogger(__name__)

T = TypeVar("T")


def transient(exc: BaseException) -> bool:
    """An outage worth waiting for: an unreachable or lost storage, not a full or read-only one."""
    if isinstance(exc, StorageError):
        return exc.message.startswith("cannot reach storage") and not storage_full(exc)
    return storage_failure(exc) and not storage_full(exc)


def with_patience(open_fn: Callable[[], T], patience: float, *, sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> T:
    """``open_fn()``, retried with back-off (0.5 s doubling to 15 s) while it fails for an
    outage, for at most ``patience`` seconds; then its last error is raised."""
    start, delay = clock(), 0.5
    while True:
        try:
            return open_fn()
        except Exception as exc:
            waited = clock() - start
            if not transient(exc) or waited >= patience:
                raise
            cause = exc.message if isinstance(exc, StorageError) else storage_cause(exc)
            log.warning("storage not reachable (%s); retrying in %.1f s (storage_patience %g s)",
                        cause, delay, patience)
            sleep(min(delay, max(0.1, patience - waited)))
            delay = min(delay * 2, 15.0)
