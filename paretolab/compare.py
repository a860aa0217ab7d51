"""``paretolab compare A B [C ...]``: studies of the same objectives, side by side.

Did the new balancer help? Each study's feasible front is measured against ONE reference point
shared by all (the studies' ``ref`` where every study gives the same, else the documented
default over the union of their complete trials), next to the training steps and time it spent,
and each front point is checked against the other studies' fronts: which of them dominate it.
With two objectives the empirical attainment function of the studies (one study one set,
computed by ``moocore.eaf``) gives the surfaces attained by at least 1, ..., all of the studies
(see Fonseca, Guerreiro, Lopez-Ibanez & Paquete 2011, "On the computation of the empirical
attainment function"); the report page draws them over the fronts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paretolab import dominance
from paretolab.errors import UserError
from paretolab.records import TrialRecord, front_candidates, reference_point
from paretolab.results import StudyResults, open_study


@dataclass
class StudyInCompare:
    """One study of a comparison: its feasible front and what it cost."""

    label: str  # its name, made unique among the compared studies
    results: StudyResults
    front: list[TrialRecord]  # the feasible non-dominated complete trials, by first objective
    points: np.ndarray  # (len(front), m), as measured
    hypervolume: float  # against the shared reference point
    steps: int  # training steps over every trial (complete, pruned and failed)
    seconds: float  # training time over every trial
    trials: int  # trials that counted toward the budget
    dominated_by: dict[int, list[str]] = field(default_factory=dict)  # front trial -> other labels


@dataclass
class Comparison:
    """Studies of the same objectives, measured alike (see the module docstring)."""

    objectives: list[str]
    directions: list[str]
    ref_point: list[float]
    studies: list[StudyInCompare]
    eaf: np.ndarray | None = None  # moocore.eaf rows (objective values as measured, percentile)
    eaf_note: str = ""

    def label(self, index: int) -> str:
        return self.studies[index].label


def _spent(records: list[TrialRecord]) -> tuple[int, float, int]:
    steps, seconds, counted = 0, 0.0, 0
    for r in records:
        if not r.counts_toward_budget or r.repeat is not None:
            continue
        counted += 1
        result = r.result
        done = result.pruned_at if r.state == "PRUNED" and result.pruned_at is not None else result.steps
        if done is None and r.state == "COMPLETE":
            done = r.config.get("steps")
        steps += int(done or 0)
        seconds += float(result.wall_time_s if result.wall_time_s is not None else r.duration_s or 0.0)
    return steps, seconds, counted


def _feasible_front(results: StudyResults) -> list[TrialRecord]:
    meta = results.meta
    done = [r for r in front_candidates(results.records) if r.feasible]
    if not done:
        return []
    values = np.array([r.values for r in done], float)
    mask = dominance.nondominated_mask(values, meta.directions)
    front = [r for r, on in zip(done, mask) if on]
    sign = 1.0 if meta.directions[0] == "minimize" else -1.0
    return sorted(front, key=lambda r: (sign * r.values[0], r.number))  # type: ignore[index]


def _labels(studies: Sequence[StudyResults]) -> list[str]:
    names = [s.name for s in studies]
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` dominates ``b`` (minimisation form)."""
    return bool(np.all(a <= b) and np.any(a < b))


def compare_studies(studies: Sequence[StudyResults]) -> Comparison:
    """Measure ``studies`` alike; a user error when they do not share objectives and directions."""
    if len(studies) < 2:
        raise UserError("compare needs at least two studies", hint="paretolab compare A B [C ...]")
    first = studies[0].meta
    for s in studies[1:]:
        if (s.meta.objectives, s.meta.directions) != (first.objectives, first.directions):
            mine = ", ".join(f"{o} ({d})" for o, d in zip(first.objectives, first.directions))
            theirs = ", ".join(f"{o} ({d})" for o, d in zip(s.meta.objectives, s.meta.directions))
            raise UserError(f"study {s.name!r} has other objectives than {first.name!r}: {theirs} "
                            f"vs {mine}", hint="compare studies that measure the same objectives, "
                            "in the same directions")
    directions = list(first.directions)
    fronts = [_feasible_front(s) for s in studies]
    every = [np.array([r.values for r in front_candidates(s.records)], float).reshape(-1, len(directions))
             for s in studies]
    union = np.vstack(every)
    if not len(union):
        ref: list[float] = [float("nan")] * len(directions)
    elif len({tuple(s.meta.refs) for s in studies}) == 1:  # the file's ref where given
        ref = reference_point(first, union)
    else:  # the studies disagree on ref: the default over all of their trials
        ref = [float(v) for v in dominance.default_reference_point(union, directions)]
    labels = _labels(studies)
    out = []
    for label, s, front in zip(labels, studies, fronts):
        points = np.array([r.values for r in front], float).reshape(len(front), len(directions))
        hv = float(dominance.hypervolume(points, directions, ref)) if len(points) else 0.0
        steps, seconds, counted = _spent(s.records)
        out.append(StudyInCompare(label, s, front, points, hv, steps, seconds, counted))
    mins = [dominance.to_minimization(c.points, directions) if len(c.points) else c.points for c in out]
    for i, c in enumerate(out):
        for k, r in enumerate(c.front):
            c.dominated_by[r.number] = [out[j].label for j in range(len(out)) if j != i
                                        and any(_dominates(p, mins[i][k]) for p in mins[j])]
    comparison = Comparison(list(first.objectives), directions, [float(v) for v in ref], out)
    comparison.eaf, comparison.eaf_note = _attainment(out, directions)
    return comparison


def _attainment(studies: list[StudyInCompare], directions: list[str]) -> tuple[np.ndarray | None, str]:
    """The EAF over the studies' feasible fronts (one set per study), as measured values."""
    if len(directions) != 2:
        return None, (f"attainment surfaces are drawn for two objectives; these studies have "
                      f"{len(directions)}")
    if any(not len(s.points) for s in studies):
        empty = ", ".join(s.label for s in studies if not len(s.points))
        return None, f"no attainment surfaces: no feasible trial in {empty}"
    import moocore

    points = np.vstack([dominance.to_minimization(s.points, directions) for s in studies])
    sets = np.concatenate([np.full(len(s.points), i + 1) for i, s in enumerate(studies)])
    eaf = np.asarray(moocore.eaf(points, sets), float)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    eaf[:, :2] *= signs  # back to the objectives as measured
    return eaf, ""


def compare(targets: Sequence[str | Path], study_names: Sequence[str] = ()) -> Comparison:
    """Open each study (a study directory, a study file, or a storage URL; ``study_names``: one
    name for all, or one per target) and compare them."""
    if study_names and len(study_names) not in (1, len(targets)):
        raise UserError(f"{len(study_names)} --study names for {len(targets)} studies",
                        hint="give one --study for all, or one per study, in order")
    names = list(study_names) * len(targets) if len(study_names) == 1 else list(study_names)
    opened = [open_study(t, names[i] if names else None) for i, t in enumerate(targets)]
    return compare_studies(opened)
