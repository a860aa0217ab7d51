"""The supervisor of one command trial: it runs the program and leaves none of its processes behind.

A worker starts it (``python -I -S supervise.py <fd> <grace> -- <argv>``, standard library only,
so it starts in tens of milliseconds) in a session of its own. On Linux it makes itself a child
subreaper (``PR_SET_CHILD_SUBREAPER``), so every process the program starts — a shell's child,
torchrun's ranks, a data-loader pool, even one that called ``setsid`` — stays its descendant
however deep, and when that process's parent dies it is re-parented here rather than to init.
It then runs the program and waits for one of:

* the program exits: whatever it left running is killed (SIGKILL) and reaped, and the
  supervisor exits with the program's status (a signal death as the same signal), so the
  worker reads the program's exit as if it had run it itself;
* SIGTERM from the worker (the trial was pruned, timed out or interrupted): SIGTERM to every
  descendant, then SIGKILL to those left after ``grace`` seconds;
* its worker dies, even by SIGKILL, which no handler in the worker can see: the kernel closes the
  worker's end of the pipe whose other end is ``<fd>`` (end of file here), and sends
  SIGTERM as the parent-death signal (Linux): the program is stopped as above.

Elsewhere than Linux (no subreaper, no ``/proc``) the same is done to the supervisor's process
group, which the program and its children share unless they leave it.
If the program cannot be started, the supervisor writes ``START_FAILED`` and the reason as the last
line of stderr and exits with code 127.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

START_FAILED = "paretolab: cannot start the command"
LINUX = sys.platform.startswith("linux")
POLL_S = 0.05


def _prctl(option: int, value: int) -> None:
    """Linux prctl(2); does nothing where it is missing."""
    if not LINUX:
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def descendants(root: int) -> list[int]:
    """Every living (not zombie) process under ``root``, read from ``/proc`` (Linux)."""
    children: dict[int, list[int]] = {}
    zombies = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # it exited meanwhile
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        pid, state, ppid = int(name), fields[0], int(fields[1])
        children.setdefault(ppid, []).append(pid)
        if state == b"Z":
            zombies.add(pid)
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            todo.append(pid)
            if pid not in zombies:
                found.append(pid)
    return found


class Supervisor:
    """One program, its descendants, and the way they are stopped."""

    def __init__(self, control_fd: int, grace: float, argv: list[str]):
        self.control_fd, self.grace, self.argv = control_fd, grace, argv
        self.pid = 0
        self.status: int | None = None  # the program's wait status
        self.stop_requested = False

    def start(self) -> bool:
        """Start the program in this process group, its signals at their defaults."""
        defaults = [s for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGCHLD,
                                signal.SIGINT, signal.SIGHUP) if s is not None]
        try:
            self.pid = os.posix_spawnp(self.argv[0], self.argv, os.environ, setsigdef=defaults,
                                       setsigmask=())
        except OSError as exc:
            print(f"{START_FAILED} {self.argv[0]!r}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return False
        return True

    def reap(self) -> None:
        """Collect every child that exited (the program, or an orphan re-parented here)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.status = status

    def signal_all(self, sig: int) -> bool:
        """Send ``sig`` to every descendant; whether any was left to signal."""
        if LINUX:
            pids = descendants(os.getpid())
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            return bool(pids)
        # no /proc: this process group (SIGTERM reaches this supervisor too, which is stopping
        # already); SIGKILL only the program, the group's rest is killed by terminate() or by
        # the worker once this supervisor has exited
        try:
            if sig == signal.SIGTERM:
                os.killpg(0, sig)
            elif self.status is None:
                os.kill(self.pid, sig)
        except OSError:
            pass
        return self.status is None

    def kill_all(self, within: float = 10.0) -> None:
        """SIGKILL every descendant until none is left (or ``within`` seconds passed)."""
        deadline = time.monotonic() + within
        while self.signal_all(signal.SIGKILL) and time.monotonic() < deadline:
            time.sleep(0.01)
            self.reap()
        self.reap()

    def terminate(self) -> None:
        """SIGTERM to every descendant; SIGKILL to those left after the grace period."""
        deadline = time.monotonic() + self.grace
        if self.signal_all(signal.SIGTERM):
            while time.monotonic() < deadline:
                time.sleep(POLL_S)
                self.reap()
                if not (descendants(os.getpid()) if LINUX else self.status is None):
                    break
        self.kill_all()
        if not LINUX:  # the group's rest, this supervisor with it: its exit code is not read here
            os.killpg(0, signal.SIGKILL)

    def run(self) -> int:
        """Run the program to its end (or its stop); the exit code to leave with."""
        os.set_inheritable(self.control_fd, False)  # the program needs none of it
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the worker died
        if not self.start():
            return 127
        watched = [self.control_fd, wake_r]
        while self.status is None and not self.stop_requested:
            readable, _, _ = select.select(watched, [], [], 1.0)
            if self.control_fd in readable and not os.read(self.control_fd, 4096):
                self.stop_requested = True  # end of file: the worker is gone
            if wake_r in readable:
                os.read(wake_r, 4096)
            self.reap()
        if self.stop_requested and self.status is None:
            self.terminate()
        else:
            self.kill_all()  # what the program left behind
        status = self.status if self.status is not None else 0
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def _on_term(self, *_: object) -> None:
        self.stop_requested = True


def exit_like(code: int) -> None:
    """Leave with the program's exit code, or die of its signal."""
    if code >= 0:
        os._exit(code)
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if -code not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(-code, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [-code])
    os.kill(os.getpid(), -code)
    os._exit(128 - code)


def main(args: list[str]) -> None:
    """``supervise.py <control fd> <grace seconds> -- <program> [args...]``."""
    control_fd, grace, sep, *argv = args
    if sep != "--" or not argv:
        raise SystemExit("usage: supervise.py <control fd> <grace seconds> -- <program> [args...]")
    sys.stdout.flush()
    exit_like(Supervisor(int(control_fd), float(grace), argv).run())


if __name__ == "__main__":
    main(sys.argv[1:])
