"""A study's trials counted by how they ended, with interrupted and lost trials apart from
failed ones: a trial cut by Ctrl-C or SIGTERM, or lost with its worker, is redone (it does not
use up the budget), so it is no failure of the task and is not counted as one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

STATES = ("COMPLETE", "FAIL", "PRUNED", "RUNNING", "INTERRUPTED")


def is_failure(record: Any) -> bool:
    """A FAIL the trial itself caused (it recorded why), not an interrupted or lost one."""
    failure = record.failure
    return record.state == "FAIL" and failure is not None and failure.reason is not None \
        and not failure.interrupted


def tally(records: Iterable[Any], *, repeats: bool = True) -> dict[str, int]:
    """Trials per state; ``FAIL`` counts only failures, ``INTERRUPTED`` the interrupted or lost
    trials (redone). ``repeats=False`` leaves out the repeats of ``paretolab verify``."""
    counts = dict.fromkeys(STATES, 0)
    for r in records:
        if not repeats and r.repeat is not None:
            continue
        if r.state == "FAIL" and not is_failure(r):
            counts["INTERRUPTED"] += 1
        elif r.state in counts:
            counts[r.state] += 1
    return counts


def interrupted_text(counts: dict[str, int]) -> str:
    """``", 2 interrupted or lost (redone)"``, or nothing."""
    n = counts.get("INTERRUPTED", 0)
    return f", {n} interrupted or lost (redone)" if n else ""
