"""Ctrl-C and SIGTERM as one kind of interrupt: :class:`Terminated` (SIGTERM raised like Ctrl-C),
installed by the process entry points, and held around a trial's creation (:class:`HeldInterrupts`)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, systemd, Kubernetes, Slurm), handled exactly like Ctrl-C."""

    signum = int(signal.SIGTERM)


def interrupt_signal(exc: BaseException) -> int:
    """The signal behind an interrupt: SIGTERM for :class:`Terminated`, else SIGINT."""
    return int(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


class SignalsAsInterrupts:
    """While active, SIGTERM raises :class:`Terminated` in the main thread, as Ctrl-C raises
    KeyboardInterrupt, so both stop a worker the same way. Installed by process entry points
    only (the CLI, a spawned worker), never by ``run_study`` itself; restores what it replaced."""

    def __enter__(self) -> SignalsAsInterrupts:
        def on_term(signum: int, frame: Any) -> None:
            raise Terminated()

        self.previous = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGTERM, self.previous)


class HeldInterrupts:
    """While active, Ctrl-C and SIGTERM are recorded instead of raised; :meth:`deliver` (or the
    end of the block) restores the handlers and raises the first one as they would have. Used around a trial's creation:
    an interrupt inside ``study.ask()`` used to leave the new trial RUNNING and unmarked, as
    nobody held it yet. Only the main thread can install handlers; elsewhere nothing is held.
    A signal whose handler is not a Python callable (ignored, default) is left as it is."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> HeldInterrupts:
        if threading.current_thread() is not threading.main_thread():
            return self

        def hold(signum: int, frame: Any) -> None:
            if self.pending is None:
                self.pending = signum

        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):
                self.previous[signum] = signal.signal(signum, hold)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.deliver()  # not delivered yet (an error while holding): the interrupt still wins

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def deliver(self) -> None:
        """Restore the handlers and call the one of the held signal, if any (it raises)."""
        self.restore()
        signum, self.pending = self.pending, None
        handler = signal.getsignal(signum) if signum is not None else None
        if signum is not None and callable(handler):
            handler(signum, None)  # raises KeyboardInterrupt, or Terminated (SignalsAsInterrupts)
