"""A study's results from Python: ``paretolab.open_study(...)`` and what it gives back.

``open_study("reports/my-study")`` (or a study file, or a storage URL with ``study=NAME``: the
forms of :mod:`paretolab.locate`) reads a stored study once and offers what the commands print:
``.trials`` (one row per trial, the columns of ``trials.csv``), ``.front``, ``.hypervolume()``,
``.pick(...)`` (``paretolab pick``'s choice, returned as a :class:`~paretolab.production.Pick`)
and ``.report(path)`` (``paretolab report``). The commands call the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paretolab.locate import StudySource, open_source
from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary, load_records

if TYPE_CHECKING:
    import pandas as pd

    from paretolab.production import Pick


class StudyResults:
    """One stored study, read back: its trials as a table, its front, hypervolume, pick, report.

    The records are read when the object is made; :meth:`refresh` reads them again (a study
    that is still running)."""

    def __init__(self, source: StudySource):
        self.source = source
        self.records: list[TrialRecord] = load_records(source.study)

    @property
    def name(self) -> str:
        return self.source.meta.name

    @property
    def meta(self) -> StudyMeta:
        return self.source.meta

    @property
    def study_dir(self) -> Path:
        """Where the study's files (report, tables, pick.yaml) go."""
        return self.source.study_dir

    @property
    def objectives(self) -> list[str]:
        return list(self.meta.objectives)

    @property
    def directions(self) -> list[str]:
        return list(self.meta.directions)

    def refresh(self) -> StudyResults:
        """Read the trials again from storage (for a study other processes still run)."""
        self.records = load_records(self.source.study)
        for cached in ("summary", "trials"):
            self.__dict__.pop(cached, None)
        return self

    @cached_property
    def summary(self) -> FrontSummary:
        """The constraint-aware front of the complete trials (trial numbers, values, reference)."""
        return front_summary(self.meta, self.records)

    @cached_property
    def trials(self) -> pd.DataFrame:
        """One row per trial, as ``trials.csv``: state, the objectives, ``feasible`` and
        ``violation:<constraint>``, ``w:<loss>`` weights, ``balancer`` and ``balancer_settings``,
        ``param:<name>`` searched params, ``metric:<name>``, ``seed``, ``verdict`` (after
        ``paretolab verify``), timing and the failure reason."""
        from paretolab.tables import trials_frame

        return trials_frame(self.meta, self.records, self.summary)

    @property
    def front(self) -> pd.DataFrame:
        """The rows of :attr:`trials` on the front, sorted by the first objective (``front.csv``)."""
        from paretolab.tables import front_frame

        return front_frame(self.meta, self.trials)

    def hypervolume(self, ref_point: Sequence[float] | None = None) -> float:
        """The feasible front's hypervolume, against the study's reference point (the file's
        ``ref`` where given, else the documented default) or ``ref_point``."""
        if ref_point is None:
            return self.summary.hypervolume
        from paretolab import dominance

        s = self.summary
        if len(ref_point) != len(self.objectives):
            raise ValueError(f"ref_point has {len(ref_point)} values; the study has "
                             f"{len(self.objectives)} objectives")
        points = np.asarray(s.values, float)[np.asarray(s.feasible, bool)]
        return float(dominance.hypervolume(points, self.directions, list(ref_point))) if len(points) else 0.0

    def pick(self, method: str = "knee", prefer: str | Mapping[str, float] | None = None,
             where: Sequence[str] = (), trial: int | None = None, raw: bool = False,
             write: bool = True) -> Pick:
        """Choose a point as ``paretolab pick`` does (``method`` knee / asf / pseudo-weights,
        ``prefer`` ``{"error": 0.7, ...}``, ``where`` requirements, or ``trial``) and return it as
        a :class:`~paretolab.production.Pick`; ``write`` also writes ``pick.yaml`` (and a one-run
        point's ``pick.pt``) to the study directory."""
        from paretolab.pick import pick_source

        return pick_source(self.source, method, prefer, where, trial, raw=raw, write=write).picked

    def report(self, path: str | Path | None = None, static: bool = False) -> Path:
        """Write ``report.html``, ``trials.csv`` and ``front.csv`` into ``path`` (default: the
        study directory) as ``paretolab report`` does; returns the report's path."""
        from paretolab.errors import UserError
        from paretolab.runner import finalize

        out = Path(path) if path is not None else self.study_dir
        location = self.source.location
        done = finalize(self.source.study, self.meta, out, static=static,
                        target=location.command if location is not None else None)
        if done.report is None:
            raise UserError("; ".join(done.problems) or "the report was not written")
        return Path(done.report.html)

    def __repr__(self) -> str:
        c = sum(r.state == "COMPLETE" for r in self.records)
        return (f"<StudyResults {self.name!r}: {len(self.records)} trials ({c} complete), "
                f"front of {len(self.summary.numbers)}>")


def open_study(target: str | Path, study: str | None = None) -> StudyResults:
    """Open a stored study: a study directory (``reports/<study>``), a study file, or a storage
    URL with ``study`` (its name). A :class:`~paretolab.errors.UserError` says what is wrong when
    it cannot be found."""
    return StudyResults(open_source(target, study))

