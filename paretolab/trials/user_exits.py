"""A trainer function's own exits (``sys.exit``, a ``KeyboardInterrupt`` it raises) are its
trial's failure, told apart from a real Ctrl-C or SIGTERM of the process by the signal itself.

A real interrupt reaches Python through a signal handler; while the function runs, the
handlers of SIGINT and SIGTERM are wrapped so that they first note the signal. A
``KeyboardInterrupt`` with no signal noted was raised by the user's code: the trial fails with
that reason and the study goes on, instead of the trial being taken for an interrupt (and
redone on every resume).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from paretolab.errors import TrialFailure


class SignalNotes:
    """While active (main thread only), SIGINT and SIGTERM are noted before their handler runs."""

    def __init__(self) -> None:
        self.seen: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> SignalNotes:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):
                self.previous[signum] = signal.signal(signum, self._noting(handler))
        return self

    def _noting(self, handler: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def note(signum: int, frame: Any) -> Any:
            self.seen = signum
            return handler(signum, frame)

        return note

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


def call_trainer(fn: Callable[[Any], Any], ctx: Any, what: str = "the trainer function") -> Any:
    """``fn(ctx)``; its ``SystemExit`` and its own ``KeyboardInterrupt`` become a TrialFailure."""
    with SignalNotes() as notes:
        try:
            return fn(ctx)
        except SystemExit as exc:
            raise TrialFailure(f"{what} called sys.exit({'' if exc.code is None else repr(exc.code)}); "
                               "a trial ends by returning its metrics") from None
        except KeyboardInterrupt:
            if notes.seen is not None:
                raise  # Ctrl-C or SIGTERM of this process: the trial is interrupted, redone on resume
            raise TrialFailure(f"{what} raised KeyboardInterrupt itself (no Ctrl-C or SIGTERM "
                               "reached the process)") from None
