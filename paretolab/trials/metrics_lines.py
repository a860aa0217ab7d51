"""The metrics lines a command trial appends (``{"step": n, "metric": value, ...}``), read back
while it runs: each line checked, with one clear failure per kind of bad line.

A step is a whole number (``3`` or ``3.0``; not ``true``, ``2.7``, ``Infinity`` nor a number too
large for a float), at most the trial's steps, and never below the step before it; a value is a
number a float can hold (or ``"inf"``/``"nan"`` as :mod:`paretolab.client` writes non-finite
values). The last line may lack its newline once the program has ended.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from paretolab.errors import TrialFailure

METRICS_FILE = "metrics.jsonl"


def _bad(line: bytes, why: str) -> TrialFailure:
    return TrialFailure(f"{METRICS_FILE}: {why}: {line[:200].decode(errors='replace')}")


def parse_step(value: Any, line: bytes, last: int | None, max_steps: int | None) -> int:
    """The line's step as an int, or the failure that names what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(line, f"the step must be a whole number, got {json.dumps(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(line, f"the step must be a whole number, got {value}")
    if isinstance(value, float) and not value.is_integer():
        raise _bad(line, f"the step must be a whole number, got {value:g}")
    step = int(value)
    if step < 0:
        raise _bad(line, f"the step must not be negative, got {step}")
    if max_steps is not None and step > max_steps:
        raise _bad(line, f"step {step} is beyond the trial's {max_steps} steps (budget.steps)")
    if last is not None and step < last:
        raise _bad(line, f"step {step} comes after step {last}: steps must not decrease")
    return step


def parse_value(name: str, value: Any, line: bytes) -> float:
    """A metric's value as a float (non-finite allowed: the trial's checks judge it)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(line, f"metric {name!r} must be a number, got {json.dumps(value)}")
    try:
        return float(value)
    except OverflowError:
        raise _bad(line, f"metric {name!r} is too large for a float") from None
    except ValueError:
        raise _bad(line, f"metric {name!r} must be a number, got {json.dumps(value)}") from None


def parse_line(line: bytes, last: int | None, max_steps: int | None) -> tuple[int, dict[str, float]]:
    """One line -> (step, metrics); a TrialFailure naming what is wrong."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise _bad(line, 'a line is not {"step": n, "metric": value}') from None
    if not isinstance(record, dict) or "step" not in record:
        raise _bad(line, 'a line is not {"step": n, "metric": value}')
    step = parse_step(record.pop("step"), line, last, max_steps)
    return step, {str(k): parse_value(str(k), v, line) for k, v in record.items()}


class MetricsTail:
    """Reads the complete lines appended to the metrics file since the last read (with
    ``final``, also an unfinished last line: the program has ended)."""

    def __init__(self, path: Path, max_steps: int | None = None):
        self.path = path
        self.max_steps = max_steps
        self.offset = 0
        self.buffer = b""
        self.last: int | None = None

    def read(self, final: bool = False) -> list[tuple[int, dict[str, float]]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.buffer + data).split(b"\n")
        self.buffer = b"" if final else lines.pop()  # an unfinished line waits for its end
        out = []
        for line in lines:
            if not line.strip():
                continue
            step, metrics = parse_line(line, self.last, self.max_steps)
            self.last = step
            out.append((step, metrics))
        return out
