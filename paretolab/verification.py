"""The statistics of repeated configurations (Student, 1908): per configuration the mean of its
fresh seeds with a t-interval, and which raw front points the means confirm.

``paretolab verify`` (:mod:`paretolab.verify`) retrains front configurations with fresh seeds;
the tables, the report and ``pick`` read what those repeats say through :func:`verification`.
Per configuration (an original complete trial and its repeat trials):

* **draws**: the repeat trials' objective vectors (one per seed each trained) when the
  configuration has any: the *fresh* seeds. The original trial is left out of them: it was
  chosen because it looked good, so averaging it in would carry its luck into the verdict
  (the winner's curse). It stays shown (``original``, the raw point in the report). A
  configuration without repeats (``budget.repeats`` only) is described by its own seeds, and
  gets no verdict.
* ``mean``, and the 95% Student t-interval ``mean +- t(0.975, n-1) s / sqrt(n)`` per objective;
  ``cov``, the sample covariance of the mean (``S / n``, objectives jointly).
* the **verified front**: the constraint-aware non-dominated set of the means, among the
  configurations with two or more fresh draws, the mean violation standing for feasibility.
* each raw front point's **verdict**: ``robust`` (its mean is on the verified front),
  ``dominated`` (another verified configuration's mean dominates it), ``infeasible`` (its
  mean violates a constraint) or ``unverified`` (fewer than two fresh draws), with
  ``p_dominated``: the posterior probability, under a flat prior and normal noise, that
  another feasible verified configuration's true mean dominates its true mean (1 for an
  infeasible one when a feasible one exists). Each true mean is drawn from its posterior, the
  multivariate t with ``n - 1`` degrees of freedom centred at the mean with scale ``S / n``
  (exact for normal draws with unknown covariance; at n = 2 its tails are Cauchy's), the
  configurations independently; 4000 draws (fewer past ~100 configurations; fixed seed).
  "robust" is a statement about the means, ``p_dominated`` about how sure it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from paretolab import dominance
from paretolab.records import StudyMeta, TrialRecord, front_summary

MC_DRAWS = 4000


@dataclass
class ConfigStats:
    """One configuration's draws, reduced: mean, t-interval half-width, standard error."""

    number: int  # the original trial
    n: int  # draws (seeds): the fresh ones where the configuration was repeated
    repeats: int  # repeat trials that completed
    mean: np.ndarray
    ci: np.ndarray  # half-width of the 95% t-interval (nan with one draw)
    se: np.ndarray
    violation: float  # mean total constraint violation
    original: np.ndarray | None = None  # the original trial's values (shown, not averaged in)
    cov: np.ndarray | None = None  # sample covariance of the mean, S / n (None with one draw)

    @property
    def fresh(self) -> bool:
        """Are the statistics over fresh seeds (repeat trials), not the original's own?"""
        return self.repeats > 0


@dataclass
class Verification:
    """What the repeats say about the raw front."""

    stats: dict[int, ConfigStats] = field(default_factory=dict)  # every original complete trial
    front: list[int] = field(default_factory=list)  # the verified front (original trial numbers)
    raw_front: list[int] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)  # raw front point -> robust / dominated / unverified
    p_dominated: dict[int, float] = field(default_factory=dict)  # configurations with a verdict

    @property
    def verified(self) -> list[int]:
        """The configurations with at least two draws (what the report draws intervals for)."""
        return [k for k, s in self.stats.items() if s.n >= 2]

    @property
    def judged(self) -> list[int]:
        """The configurations with at least two fresh draws: the ones with a verdict."""
        return [k for k, s in self.stats.items() if s.n >= 2 and s.fresh]

    @property
    def any(self) -> bool:
        return bool(self.verified)


def draws(record: TrialRecord, meta: StudyMeta) -> list[list[float]]:
    """A trial's objective vectors, one per seed it trained (``budget.repeats``), else its values."""
    seeds = record.result.seeds
    rows = [[float(s["metrics"][o]) for o in meta.objectives] for s in seeds
            if all(o in (s.get("metrics") or {}) for o in meta.objectives)]
    if rows:
        return rows
    return [list(map(float, record.values))] if record.values is not None else []


def _reduce(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(mean, t-interval half-width, standard error, covariance of the mean)."""
    n = len(rows)
    mean = rows.mean(axis=0)
    if n < 2:
        nan = np.full(rows.shape[1], np.nan)
        return mean, nan, nan, None
    cov = np.atleast_2d(np.cov(rows, rowvar=False, ddof=1)) / n
    se = np.sqrt(np.diag(cov))
    return mean, float(stats.t.ppf(0.975, n - 1)) * se, se, cov


def posterior_draws(mean: np.ndarray, cov: np.ndarray, n: int, count: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``count`` draws of a true mean from the multivariate t (``n - 1`` degrees of freedom,
    centre ``mean``, scale ``cov`` = S / n); a singular ``cov`` (n <= objectives) is fine."""
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    z = rng.standard_normal((count, len(mean))) @ root.T
    scale = np.sqrt((n - 1) / rng.chisquare(n - 1, size=(count, 1)))
    return mean[None, :] + z * scale


def _p_dominated(configs: Sequence[ConfigStats], sign: np.ndarray, feasible: np.ndarray,
                 seed: int = 0) -> np.ndarray:
    """P(each configuration's true mean is dominated by another feasible one's), minimisation
    view (``sign``), from the posterior draws of :func:`posterior_draws`."""
    rng = np.random.default_rng(seed)
    k, m = len(configs), len(sign)
    n_draws = int(min(MC_DRAWS, max(200, 20_000_000 // max(1, k * k * m))))  # memory cap
    draw = np.stack([posterior_draws(c.mean * sign, c.cov * np.outer(sign, sign), c.n, n_draws, rng)
                     if c.cov is not None else np.repeat((c.mean * sign)[None, :], n_draws, axis=0)
                     for c in configs], axis=1)  # [draws, configs, objectives]
    le = (draw[:, :, None, :] <= draw[:, None, :, :]).all(-1)  # [d, j, i]: j <= i everywhere
    lt = (draw[:, :, None, :] < draw[:, None, :, :]).any(-1)
    dom = le & lt & feasible[None, :, None]
    idx = np.arange(k)
    dom[:, idx, idx] = False
    return dom.any(axis=1).mean(axis=0)


def verification(meta: StudyMeta, records: Sequence[TrialRecord]) -> Verification:
    """Group each complete original trial with its complete repeats and read the verified front."""
    done = [r for r in records if r.state == "COMPLETE" and r.values is not None]
    originals = {r.number: r for r in done if r.repeat is None}
    repeats: dict[int, list[TrialRecord]] = {n: [] for n in originals}
    for r in done:
        rep = r.repeat
        if rep is not None and rep.of in repeats:
            repeats[rep.of].append(r)
    out = Verification(raw_front=front_summary(meta, list(records)).numbers)
    for number, original in originals.items():
        members = repeats[number] or [original]  # fresh seeds where there are any
        rows, violations = [], []
        for r in members:
            d = draws(r, meta)
            rows += d
            violations += [r.total_violation] * len(d)
        mean, ci, se, cov = _reduce(np.array(rows, dtype=float))
        out.stats[number] = ConfigStats(number, len(rows), len(repeats[number]), mean, ci, se,
                                        float(np.mean(violations)), np.array(original.values, float), cov)
    judged = out.judged
    if not judged:
        out.labels = {n: "unverified" for n in out.raw_front}
        return out
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in meta.directions])
    means = np.array([out.stats[n].mean for n in judged])
    viol = np.array([out.stats[n].violation for n in judged])
    mask = dominance.nondominated_mask(means, meta.directions, viol)
    out.front = [n for n, on in zip(judged, mask) if on]
    feasible = viol == 0.0
    p = _p_dominated([out.stats[n] for n in judged], sign, feasible)
    if feasible.any():
        p = np.where(feasible, p, 1.0)
    out.p_dominated = {n: float(v) for n, v in zip(judged, p)}
    out.labels = {n: ("unverified" if n not in out.p_dominated else "robust" if n in out.front else
                      "infeasible" if out.stats[n].violation > 0 else "dominated") for n in out.raw_front}
    return out
