"""Fault-handling defaults: how workers notice a lost worker, a lost storage and a broken task.

The study file owns these values (``faults:``); the storage and the workers import them from
here, so reading a study file never imports Optuna.
"""

from __future__ import annotations

HEARTBEAT_INTERVAL_S = 10
"""Seconds between a running trial's heartbeats."""
GRACE_PERIOD_S = 30
"""A trial without a heartbeat for this long is lost (its worker died)."""
MAX_RETRIES = 2
"""A trial lost with its worker is re-run with the same params and seed this many times."""
STORAGE_PATIENCE_S = 120.0
"""Seconds a worker retries a lost storage (with back-off) before it stops with an error."""
MAX_CONSECUTIVE_FAILURES = 5
"""Failed trials in a row, with no completed trial, after which a study stops with an error."""


def grace_problem(heartbeat_interval: float, grace_period: float) -> str | None:
    """Why a heartbeat interval and grace period cannot work together, or None when they can.

    A grace period not longer than the heartbeat interval fails live trials as lost.
    """
    if grace_period <= heartbeat_interval:
        return (f"grace_period ({grace_period} s) must be longer than "
                f"heartbeat_interval ({heartbeat_interval} s)")
    return None
