"""The progress bar: trials done/total, failed, front size, hypervolume, ETA (read from storage)."""

from __future__ import annotations

import sys
from typing import Any

import optuna
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from paretolab.records import StudyMeta, count_done, front_summary, load_records


class StudyProgress:
    """A rich progress bar fed from the study's storage, so it is right for any number of workers."""

    def __init__(self, study: optuna.Study, meta: StudyMeta, console: Console | None = None,
                 enabled: bool = True):
        self.study = study
        self.meta = meta
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.seen_failures: set[int] = set()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"), TextColumn("front {task.fields[front]}"),
            TextColumn("HV {task.fields[hv]}"), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not enabled,
            refresh_per_second=4, auto_refresh=sys.stderr.isatty(),
        )
        self.task_id = self.progress.add_task(meta.name, total=meta.trials_budget, failed=0,
                                              front=0, hv="-")
        self._started_at = count_done(study)

    def __enter__(self) -> StudyProgress:
        self.progress.__enter__()
        self.update()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.update()
        except Exception:  # noqa: BLE001 - never hide the real error behind a display one
            pass
        self.progress.__exit__(*exc)

    def update(self) -> None:
        if not self.enabled:  # nothing is shown: skip reading every trial and the front
            return
        records = load_records(self.study)
        done = sum(1 for r in records if r.counts_toward_budget)
        failed = [r for r in records if r.state == "FAIL"]
        for r in failed:
            if r.number not in self.seen_failures:
                self.seen_failures.add(r.number)
                msg = r.failure.reason if r.failure and r.failure.reason is not None else "worker lost"
                self.progress.console.print(
                    Text.assemble((f"trial {r.number} failed: ", "yellow"), str(msg)))
        summary = front_summary(self.meta, records)
        hv = f"{summary.hypervolume:.4g}" if len(summary.numbers) else "-"
        self.progress.update(self.task_id, completed=min(done, self.meta.trials_budget),
                             failed=len(failed), front=len(summary.numbers), hv=hv)
        if not sys.stderr.isatty():
            self.progress.refresh()
