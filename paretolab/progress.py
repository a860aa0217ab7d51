"""The progress bar: trials done/total, failed, front size, hypervolume, ETA (read from storage).

Without a terminal (output piped to a file, CI, a Slurm log) a bar cannot redraw, so a plain
progress line is printed instead at least every ``line_every`` seconds (default 30), from a
thread of its own, also while one long trial runs: trials done/running/failed/pruned, the best
hypervolume so far, the time elapsed and an estimate of the time left.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import optuna
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from paretolab.records import StudyMeta, count_done, front_summary, load_records
from paretolab.records.tally import interrupted_text, is_failure, tally

LINE_EVERY_S = 30.0


def clock(seconds: float) -> str:
    """``1h02m``, ``3m05s``, ``42s``."""
    s = int(max(0.0, seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class StudyProgress:
    """A rich progress bar fed from the study's storage, so it is right for any number of workers;
    without a terminal, a progress line every ``line_every`` seconds instead."""

    def __init__(self, study: optuna.Study, meta: StudyMeta, console: Console | None = None,
                 enabled: bool = True, line_every: float | None = None):
        self.study = study
        self.meta = meta
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.line_every = LINE_EVERY_S if line_every is None else float(line_every)
        self.lines = enabled and not self.console.is_terminal and self.line_every > 0
        self.seen_failures: set[int] = set()
        self.lock = threading.Lock()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"), TextColumn("front {task.fields[front]}"),
            TextColumn("HV {task.fields[hv]}"), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not enabled or self.lines,
            refresh_per_second=4, auto_refresh=sys.stderr.isatty(),
        )
        self.task_id = self.progress.add_task(meta.name, total=meta.trials_budget, failed=0,
                                              front=0, hv="-")
        self._started_at = count_done(study)
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> StudyProgress:
        self.progress.__enter__()
        self.update()
        if self.lines:
            self._ticker = threading.Thread(target=self._tick, name="paretolab-progress-line", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        try:
            self.update()
            if self.lines:
                self.line()
        except Exception:  # noqa: BLE001 - never hide the real error behind a display one
            pass
        self.progress.__exit__(*exc)

    def _tick(self) -> None:
        while not self._stop.wait(self.line_every):
            try:
                self.line()
            except Exception:  # noqa: BLE001 - a storage hiccup: the next line tries again
                pass

    def line(self) -> str:
        """Print (and return) one progress line."""
        records = load_records(self.study)
        c = tally(records)
        done = sum(1 for r in records if r.counts_toward_budget)
        summary = front_summary(self.meta, records)
        hv = f"{summary.hypervolume:.4g}" if len(summary.numbers) else "-"
        elapsed = time.monotonic() - self._start
        finished_here = done - self._started_at
        left = self.meta.trials_budget - done
        eta = clock(elapsed / finished_here * left) if finished_here > 0 and left > 0 else \
            "0s" if left <= 0 else "-"
        text = (f"{self.meta.name}: {done}/{self.meta.trials_budget} trials done, {c['RUNNING']} running, "
                f"{c['FAIL']} failed, {c['PRUNED']} pruned{interrupted_text(c)}; best hypervolume {hv}; "
                f"elapsed {clock(elapsed)}, about {eta} left")
        with self.lock:
            self.console.print(Text(text), soft_wrap=True)
        return text

    def update(self) -> None:
        if not self.enabled:  # nothing is shown: skip reading every trial and the front
            return
        records = load_records(self.study)
        done = sum(1 for r in records if r.counts_toward_budget)
        with self.lock:
            for r in records:
                if r.state == "FAIL" and r.number not in self.seen_failures and r.repeat is None:
                    self.seen_failures.add(r.number)
                    if is_failure(r) and r.failure is not None:  # is_failure: it has a reason
                        what, msg = "failed", r.failure.reason
                    else:
                        what = "interrupted" if r.failure is not None and r.failure.interrupted else "lost"
                        msg = r.failure.reason if r.failure and r.failure.reason else "worker lost; redone"
                    self.progress.console.print(
                        Text.assemble((f"trial {r.number} {what}: ", "yellow"), str(msg)))
        failed = sum(1 for r in records if is_failure(r))
        summary = front_summary(self.meta, records)
        hv = f"{summary.hypervolume:.4g}" if len(summary.numbers) else "-"
        self.progress.update(self.task_id, completed=min(done, self.meta.trials_budget),
                             failed=failed, front=len(summary.numbers), hv=hv)
        if not sys.stderr.isatty():
            self.progress.refresh()
