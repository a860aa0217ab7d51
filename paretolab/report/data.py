"""What the report shows, computed once from a study's records: front, ranks, knee, hover texts."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from paretolab import dominance
from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary


def esc(value: Any) -> str:
    """A user string made safe for HTML and for Plotly's own pseudo-HTML text."""
    return html.escape(str(value), quote=True)


def knee_point(values: Any, directions: Any = None) -> int:
    """Index (into ``values``) of the knee: the point closest to the ideal point.

    Each objective is put in minimisation form and scaled by its range over ``values`` to [0, 1]
    (a constant objective scales to 0); the knee is the point with the smallest Euclidean
    distance to the ideal point (0, ..., 0). Ties go to the earliest point. Pass the front's
    points: the knee is meant as a balanced default among non-dominated trade-offs.
    """
    points = dominance.to_minimization(values, directions)
    if len(points) == 0:
        raise ValueError("knee_point needs at least one point")
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (points - low) / span
    return int(np.argmin(np.sqrt((scaled ** 2).sum(axis=1))))


def fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


@dataclass
class ReportData:
    """Complete trials (in trial order) with everything the figures need."""

    meta: StudyMeta
    records: list[TrialRecord]
    summary: FrontSummary
    target: str  # how the user names the study on the command line (for pick commands)
    complete: list[TrialRecord] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    on_front: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    violations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ranks: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    hover: list[str] = field(default_factory=list)
    knee: int | None = None  # index into complete
    verification: Any = None  # paretolab.verify.Verification (repeats of ``paretolab verify``)

    @classmethod
    def build(cls, meta: StudyMeta, records: list[TrialRecord], summary: FrontSummary | None = None,
              target: str | None = None) -> ReportData:
        summary = summary or front_summary(meta, records)
        data = cls(meta, records, summary, target or "<study>")
        by_number = {r.number: r for r in records}
        data.complete = [by_number[n] for n in summary.complete]
        data.values = np.asarray(summary.values, float).reshape(len(data.complete), len(meta.objectives))
        data.on_front = np.asarray(summary.on_front, bool)
        data.feasible = np.asarray(summary.feasible, bool)
        data.violations = np.array([r.total_violation for r in data.complete], float)
        if len(data.complete):
            data.ranks = np.asarray(dominance.pareto_ranks(data.values, meta.directions, data.violations))
            front_idx = np.flatnonzero(data.on_front)
            data.knee = int(front_idx[knee_point(data.values[front_idx], meta.directions)])
        else:
            data.ranks = np.zeros(0, int)
        data.hover = [data._hover(i) for i in range(len(data.complete))]
        from paretolab.verify import verification

        data.verification = verification(meta, records)
        return data

    # --- per-trial attributes -------------------------------------------------------------
    def weights(self, r: TrialRecord) -> dict[str, float]:
        return {str(k): float(v) for k, v in (r.config.get("weights") or {}).items()}

    def balancer(self, r: TrialRecord) -> str:
        return str((r.config.get("balancer") or {}).get("method") or "?")

    def settings(self, r: TrialRecord) -> str:
        settings = (r.config.get("balancer") or {}).get("settings") or {}
        return json.dumps(settings, sort_keys=True, default=str)

    def _hover(self, i: int) -> str:
        r = self.complete[i]
        lines = [f"<b>trial {r.number}</b>"]
        lines += [f"{esc(n)}: {fmt(v)}" for n, v in zip(self.meta.objectives, self.values[i])]
        w = self.weights(r)
        if w:
            lines.append("weights: " + ", ".join(f"{esc(k)}={v:.3f}" for k, v in w.items()))
        lines.append(f"balancer: {esc(self.balancer(r))} {esc(self.settings(r))}")
        if not self.feasible[i]:
            lines.append(f"infeasible (violation {fmt(self.violations[i])})")
        return "<br>".join(lines)

    # --- derived ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """The study's own trials by state (repeats of ``paretolab verify`` left out)."""
        return {s: sum(1 for r in self.records if r.state == s and r.repeat is None)
                for s in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")}

    def front_indices(self) -> np.ndarray:
        """Indices (into complete) of the front, sorted by the first objective, best first."""
        idx = np.flatnonzero(self.on_front)
        order = np.argsort(self.values[idx, 0], kind="stable")
        if self.meta.directions[0] == "maximize":
            order = order[::-1]
        return idx[order]

    def pick_command(self, number: int) -> str:
        """``target`` is already shell-quoted (see ``paretolab.report.pick_target``)."""
        return f"paretolab pick {self.target} --trial {number}"
