"""What the report shows, computed once from a study's records: front, ranks, knee, hover texts."""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paretolab import decision, dominance
from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary


def _objective_value(j: int, trial: Any) -> float:
    """Objective ``j`` of a finished trial (fANOVA's target)."""
    return float(trial.values[j])


def esc(value: Any) -> str:
    """A user string made safe for HTML and for Plotly's own pseudo-HTML text."""
    return html.escape(str(value), quote=True)


def knee_point(values: Any, directions: Any = None) -> int:
    """Index (into ``values``) of the knee: :func:`paretolab.decision.knee`, the one
    implementation ``pick`` uses too (the candidate closest to the ideal point of the normalised
    front; ties to the earliest point)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("knee_point needs at least one point")
    return decision.knee(values, list(directions or ["minimize"] * values.shape[1]))


def _knee(data: ReportData) -> int:
    """The knee ``paretolab pick`` chooses: on a verified study among the verified front's
    means, else on the raw front (the least-violating trial when none is feasible)."""
    check, meta = data.verification, data.meta
    row = {r.number: i for i, r in enumerate(data.complete)}
    if check is not None and check.front:
        numbers = [n for n in check.front if n in row]
        means = np.array([check.stats[n].mean for n in numbers], float)
        violations = np.array([check.stats[n].violation for n in numbers], float)
        try:
            return row[numbers[decision.knee(means, meta.directions, violations)]]
        except decision.NoFeasiblePoint:
            pass
    try:
        return decision.knee(data.values, meta.directions, data.violations)
    except decision.NoFeasiblePoint as exc:
        return exc.closest


def settings_text(settings: Any) -> str:
    """Settings as text, ``alpha=1.5, schedule=linear`` (numbers to 4 digits; ``-`` for none)."""
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(dict(settings).items())) or "-"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


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
    verification: Any = None  # paretolab.verification.Verification (repeats of ``paretolab verify``)
    logs: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # see trial_logs
    analyses: dict[int, dict[str, Any]] = field(default_factory=dict)  # paretolab.analyze, by trial

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
        else:
            data.ranks = np.zeros(0, int)
        data.hover = [data._hover(i) for i in range(len(data.complete))]
        from paretolab.verification import verification

        data.verification = verification(meta, records)
        if len(data.complete):
            data.knee = int(_knee(data))
        return data

    # --- per-trial attributes -------------------------------------------------------------
    def weights(self, r: TrialRecord) -> dict[str, float]:
        return r.weights

    def balancer(self, r: TrialRecord) -> str:
        return r.balancer_method

    def settings(self, r: TrialRecord) -> str:
        """The balancer's settings as text: ``alpha=1.5, schedule=linear``."""
        balancer = r.balancer
        return settings_text(balancer.settings if balancer is not None else {})

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
        from paretolab.records.tally import tally

        return tally(self.records, repeats=False)

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


# --- a command trial's kept output ------------------------------------------------------------

def trial_logs(study_dir: Path, records: list[TrialRecord]) -> dict[int, list[tuple[str, str]]]:
    """Per trial that kept its program's output (command trials), ``(label, link)`` for its stdout
    and stderr, then those of its extra seeds (``budget.repeats``: ``seed-<k>/``). Each link is
    relative to the study folder (``trials/<number>/stdout.log``), so the report's links work
    wherever the folder is copied. A log not on disk is left out."""
    from paretolab.trials.command import STDERR_FILE, STDOUT_FILE

    out: dict[int, list[tuple[str, str]]] = {}
    for r in records:
        base = Path(study_dir) / "trials" / str(r.number)
        if not base.is_dir():
            continue
        seeds = sorted((p.name for p in base.glob("seed-*") if p.name[5:].isdigit()), key=lambda n: int(n[5:]))
        found = []
        for sub in ["", *seeds]:
            for label, name in (("stdout", STDOUT_FILE), ("stderr", STDERR_FILE)):
                link = f"trials/{r.number}/{sub + '/' if sub else ''}{name}"
                try:
                    size = (Path(study_dir) / link).stat().st_size
                except OSError:
                    continue
                found.append((f"{sub + ' ' if sub else ''}{label} ({_size(size)})", link))
        if found:
            out[r.number] = found
    return out


def _size(n: int) -> str:
    """A file size as people read it."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MB"



@dataclass
class VerifiedPoints:
    """The repeated configurations the front figures draw with intervals: each one's mean over
    its seeds (``paretolab verify`` repeats or ``budget.repeats``), the 95% t-interval's
    half-width, its single-trial value, and what the repeats say about it."""

    numbers: list[int]
    mean: np.ndarray  # [k, m]
    ci: np.ndarray  # [k, m] half-widths (0 where a configuration has one draw)
    raw: np.ndarray  # [k, m] the original trial's values (the raw front's points)
    on_front: list[bool]  # on the verified front
    labels: list[str]  # robust / dominated / infeasible for raw front points, else on / off the verified front
    text: list[str]  # hover texts


def verified_points(data: ReportData) -> VerifiedPoints | None:
    """The raw front's points, the verified front's and every configuration ``verify --top``
    repeated, among those with two or more draws (``None`` when nothing was repeated). With
    ``budget.repeats`` every trial has draws: only its front is drawn, the rest would bury it."""
    check = data.verification
    if check is None or not check.any:
        return None
    raw_front, front = set(check.raw_front), set(check.front)
    numbers = [n for n in check.verified if n in raw_front or n in front or check.stats[n].repeats > 0]
    if not numbers:
        return None
    row = {r.number: i for i, r in enumerate(data.complete)}
    mean = np.array([check.stats[n].mean for n in numbers], float)
    ci = np.nan_to_num(np.array([check.stats[n].ci for n in numbers], float))
    raw = np.array([data.values[row[n]] for n in numbers], float)
    on = [n in front for n in numbers]
    labels = [check.labels.get(n, "on the verified front" if o else "off the verified front")
              for n, o in zip(numbers, on)]
    text = []
    for i, n in enumerate(numbers):
        p = check.p_dominated.get(n)
        text.append(f"<b>trial {n}</b>: mean of {check.stats[n].n} seeds<br>"
                    + "<br>".join(f"{esc(name)}: {fmt(mean[i, j])} ± {fmt(ci[i, j])} (trial: {fmt(raw[i, j])})"
                                  for j, name in enumerate(data.meta.objectives))
                    + f"<br>{labels[i]}" + ("" if p is None else f", P(dominated) {p:.2f}"))
    return VerifiedPoints(numbers, mean, ci, raw, on, labels, text)


def verified_cells(data: ReportData, number: int) -> tuple[list[str], list[str]]:
    """The front table's verified columns (headings, cells) for one trial; none when unverified."""
    check = data.verification
    if check is None or not check.any:
        return [], []
    heads = [f"<th>mean ± 95% CI {esc(n)}</th>" for n in data.meta.objectives]
    heads += ["<th>seeds</th>", "<th class=text>verdict</th>", "<th>P(dominated)</th>"]
    st = check.stats.get(number)
    if st is None or st.n < 2:
        return heads, ["<td></td>"] * len(data.meta.objectives) + [
            f'<td data-value="{st.n if st else 0}">{st.n if st else 0}</td>',
            "<td class=text>unverified</td>", "<td></td>"]
    cells = [f'<td data-value="{float(m)!r}">{fmt(m)} ± {fmt(c)}</td>'
             for m, c in zip(st.mean, np.nan_to_num(st.ci))]
    p = check.p_dominated.get(number)
    cells += [f'<td data-value="{st.n}">{st.n}</td>',
              f"<td class=text>{esc(check.labels.get(number, 'robust' if number in check.front else 'dominated'))}"
              "</td>",
              "<td></td>" if p is None else f'<td data-value="{p!r}">{p:.2f}</td>']
    return heads, cells

# --- searched params, constraint metrics, param importance ------------------------------------

MIN_IMPORTANCE_TRIALS = 5  # fANOVA on fewer complete trials says nothing
MAX_IMPORTANCE_TRIALS = 300  # fANOVA's cost grows with the trials: a larger study is subsampled
FANOVA = dict(n_trees=32, max_depth=8, seed=0)  # Optuna's defaults (64, 64) take minutes at 1,000 trials


def constraint_metric(constraint: str) -> str:
    """The metric a stored constraint (``"metric <= value"``) bounds."""
    match = re.match(r"^\s*(.*?)\s*(<=|>=)", constraint)
    return match[1] if match else constraint


def param_names(records: list[TrialRecord]) -> list[str]:
    """The searched params (Optuna params other than the preference weights) of ``records``."""
    return sorted({k for r in records for k in r.knobs})


def searched_values(data: ReportData) -> dict[str, list[Any]]:
    """Per searched param and per preference weight (``w:<loss>``), its value for each complete
    trial (``None`` where a trial did not sample it: a balancer's setting in another's trial)."""
    columns: dict[str, list[Any]] = {k: [r.knobs.get(k) for r in data.complete]
                                     for k in param_names(data.complete)}
    if len(data.meta.losses) > 1:
        for loss in data.meta.losses:
            columns[f"w:{loss}"] = [data.weights(r).get(loss) for r in data.complete]
    return columns


def _distribution(values: list[Any]) -> Any:
    """An Optuna distribution spanning what the trials sampled (``None``: constant, nothing to learn)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    seen = [v for v in values if v is not None]
    if len(set(map(repr, seen))) < 2:
        return None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
        if all(isinstance(v, int) for v in seen):
            return IntDistribution(int(min(seen)), int(max(seen)))
        return FloatDistribution(float(min(seen)), float(max(seen)))
    return CategoricalDistribution(sorted({str(v) for v in seen}))


def param_importance(data: ReportData) -> tuple[dict[str, dict[str, float]], str]:
    """Per objective, each searched param's and weight's importance (Optuna's fANOVA evaluator,
    Hutter et al. 2014, "An Efficient Approach for Assessing Hyperparameter Importance"), or an
    empty dict and the reason it is not shown.

    The records carry each trial's params and weights, not Optuna's distributions: the trials are
    rebuilt in an in-memory study with distributions spanning the sampled values (categorical for
    strings), so the importance reads the same for a live or a stored study, whatever its storage.
    Above ``MAX_IMPORTANCE_TRIALS`` complete trials, that many evenly spread ones are used.
    """
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    n = len(data.complete)
    if n < MIN_IMPORTANCE_TRIALS:
        return {}, (f"param importance needs at least {MIN_IMPORTANCE_TRIALS} complete trials "
                    f"({n} so far).")
    columns = searched_values(data)
    if len(data.meta.losses) == 2:  # two weights sum to one: the first says everything
        columns.pop(f"w:{data.meta.losses[1]}", None)
    dists = {k: d for k, v in columns.items() if (d := _distribution(v)) is not None}
    if not dists:
        return {}, "no searched param or weight varies between the complete trials."
    if len(dists) < 2:  # one thing explains all of whatever it explains: nothing to rank
        only = next(iter(dists))
        return {}, (f"only one thing was searched ({esc(only)}"
                    + (", the weight that stands for both losses" if only.startswith("w:") else "")
                    + "): importance ranks two or more; see its effect in the views above.")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per report
    try:
        study = optuna.create_study(directions=[optuna.study.StudyDirection[d.upper()] for d in data.meta.directions])
    finally:
        optuna.logging.set_verbosity(verbosity)
    rows = range(n) if n <= MAX_IMPORTANCE_TRIALS else \
        np.linspace(0, n - 1, MAX_IMPORTANCE_TRIALS).round().astype(int)
    for i in rows:
        params = {}
        for k, d in dists.items():
            v = columns[k][i]
            if v is not None:
                params[k] = str(v) if isinstance(d, optuna.distributions.CategoricalDistribution) else v
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: dists[k] for k in params},
            values=[float(x) for x in data.values[i]]))
    out: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    for j, name in enumerate(data.meta.objectives):
        if np.ptp(data.values[list(rows), j]) == 0:  # fANOVA has no variance to split
            skipped.append(f"{name} is the same in every trial")
            continue
        try:
            found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(**FANOVA),
                                          target=functools.partial(_objective_value, j))
        except (RuntimeError, ValueError) as exc:  # e.g. no variance left in the trees' splits
            skipped.append(f"{name}: {exc}")
            continue
        out[name] = {k: float(v) for k, v in found.items()}
    return out, ("no importance for " + "; ".join(skipped) + ".") if skipped else ""


def conflict_reason(data: ReportData) -> str:
    """Why the study has no gradient-conflict records, in one sentence the page shows instead."""
    spec = data.meta.spec or {}
    why = "Gradient conflict: not recorded"
    if spec.get("trainer"):
        return (f"{why}: your own training code trains the model, and paretolab sees only the metrics "
                "it reports, not its gradients.")
    mode = (spec.get("train") or {}).get("conflict_stats")
    methods = sorted({data.balancer(data.complete[i]) for i in np.flatnonzero(data.on_front)})
    if mode == "off":
        return f"{why}: the study file sets train.conflict_stats: off."
    if mode == "auto":
        return (f"{why}: with train.conflict_stats: auto it is recorded only by balancers that compute "
                f"each loss's gradient anyway, and the front's balancers ({esc(', '.join(methods))}) work on "
                "the summed losses. Set train.conflict_stats: on to record it (one extra backward pass "
                "per loss at each evaluation).")
    return f"{why} for this study."
