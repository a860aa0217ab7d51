"""``paretolab pick`` and production: choose a trial, write ``pick.yaml``, load it, retrain it.

``pick.yaml`` holds everything needed to rebuild the trial's training run: its objective values
and metrics, the balancer with its settings and preference weights, the training
hyperparameters, every sampled knob, the task with its params, the seed, and a ``config`` block
that :meth:`TrialConfig.from_dict` accepts. :func:`load_pick` turns it back into a :class:`Pick`
from which a user's own loop gets the same balancer, optimizer and task.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

from paretolab import __version__, decision
from paretolab.errors import UserError
from paretolab.records import StudyMeta, TrialRecord, trial_record
from paretolab.search_space import TrialConfig

PICK_FILE = "pick.yaml"


# --- finding the study --------------------------------------------------------------------------
@dataclass
class StudySource:
    """A loaded study with where its files go and where relative task paths start."""

    study: optuna.Study
    meta: StudyMeta
    study_dir: Path
    base_dir: Path | None


def open_study(target: str | Path) -> StudySource:
    """A study directory (``<dir>/study.db``, its single study) or a study file (its storage)."""
    from paretolab.storage import open_storage

    path = Path(target)
    if path.is_dir():
        db = path / "study.db"
        if not db.is_file():
            raise UserError(f"{path} has no study.db", hint="give the study directory "
                            "(reports/<study>) or the study file")
        storage = open_storage(f"sqlite:///{db.as_posix()}", create_dir=False)
        names = optuna.get_all_study_names(storage)
        if len(names) != 1:
            raise UserError(f"{db} holds {len(names)} studies ({', '.join(names) or 'none'})",
                            hint="give the study file instead, which names the study")
        name, study_dir, base_dir = names[0], path, None
    elif path.is_file():
        from paretolab.spec import load_spec

        spec = load_spec(path)
        storage = open_storage(spec.storage_url, create_dir=False)
        name, study_dir, base_dir = spec.name, spec.study_dir, spec.base_dir
    else:
        raise UserError(f"{path} is neither a study directory nor a study file")
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise UserError(f"study {name!r} has not been run yet",
                        hint=f"run 'paretolab run {path}' first") from None
    try:
        meta = StudyMeta.from_study(study)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    return StudySource(study, meta, study_dir, base_dir)


# --- choosing -----------------------------------------------------------------------------------
@dataclass
class Choice:
    """The chosen trial, how it was chosen, and the front it was chosen from."""

    record: TrialRecord
    knobs: dict[str, Any]
    method: str
    prefer: dict[str, float] | None
    where: list[str]
    front: list[TrialRecord]  # the candidates (feasible, non-dominated, meeting --where)
    on_front: bool


def parse_prefer(text: str | None) -> dict[str, float] | None:
    """``"error=0.7,sparsity=0.3"`` -> ``{"error": 0.7, "sparsity": 0.3}``."""
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, number = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise UserError(f"cannot read --prefer {text!r}",
                            hint="write it as name=number,name=number") from None
    return out


def _column(record: TrialRecord, meta: StudyMeta, name: str) -> float:
    if name in meta.objectives and record.values is not None:
        return float(record.values[meta.objectives.index(name)])
    value = record.metrics.get(name)
    return float(value) if isinstance(value, int | float) else math.nan


def _describe(record: TrialRecord, names: Iterable[str], meta: StudyMeta) -> str:
    return ", ".join(f"{n}={_column(record, meta, n):.4g}" for n in names)


def apply_where(records: list[TrialRecord], meta: StudyMeta, where: Sequence[str]) -> list[TrialRecord]:
    """The complete trials that meet every ``--where`` requirement; a user error naming the
    closest trial (smallest total normalised shortfall) when none does."""
    if not where:
        return records
    reqs = [decision.parse_requirement(w) for w in where]
    known = list(dict.fromkeys([*meta.objectives, *(k for r in records for k in r.metrics)]))
    for name, _, _ in reqs:
        if name not in known:
            raise UserError(f"--where names unknown metric {name!r}", hint=f"valid: {', '.join(known)}")
    columns = {name: np.array([_column(r, meta, name) for r in records]) for name, _, _ in reqs}
    gaps = decision.requirement_gaps(columns, reqs)
    kept = [r for r, g in zip(records, gaps) if g == 0.0]
    if not kept:
        closest = records[int(np.argmin(gaps))]
        names = list(dict.fromkeys(n for n, _, _ in reqs))
        raise UserError(f"no trial meets {' and '.join(where)}; the closest is trial {closest.number} "
                        f"({_describe(closest, names, meta)})", hint="relax a requirement")
    return kept


def choose_trial(source: StudySource, method: str = "knee", prefer: Mapping[str, float] | None = None,
                 where: Sequence[str] = (), trial: int | None = None) -> Choice:
    """Apply ``--where``, keep the feasible non-dominated trials, and choose one by ``method``
    (or take ``trial``). User errors for unknown names, no feasible trial, an unknown trial."""
    meta = source.meta
    frozen = {t.number: t for t in source.study.get_trials(deepcopy=False)}
    complete = [trial_record(t) for t in frozen.values()
                if t.state.name == "COMPLETE" and t.values is not None]
    if not complete:
        raise UserError(f"study {meta.name!r} has no complete trial to pick from")
    pref = None
    if prefer:
        pref = dict(prefer)
        decision.preference_vector(pref, meta.objectives)  # validates names and numbers
    if trial is not None:
        if prefer or where:
            raise UserError("--trial takes one trial as it is; drop --prefer / --where")
        chosen = next((r for r in complete if r.number == trial), None)
        if chosen is None:
            state = frozen[trial].state.name if trial in frozen else "not in the study"
            raise UserError(f"trial {trial} cannot be picked: it is {state}",
                            hint="pick a COMPLETE trial (see trials.csv)")
        method, pool = "trial", complete
    else:
        if method not in decision.METHODS:
            raise UserError(f"unknown method {method!r}", hint=f"valid: {', '.join(decision.METHODS)}")
        pool = apply_where(complete, meta, where)
    values = np.array([r.values for r in pool], dtype=float)
    violations = np.array([r.total_violation for r in pool])
    try:
        mask = decision.candidate_mask(values, meta.directions, violations)
    except decision.NoFeasiblePoint as exc:
        if trial is not None:
            mask = np.zeros(len(pool), bool)
        else:
            c = pool[exc.closest]
            raise UserError(
                f"no trial{' meeting --where' if where else ''} meets the study's constraints "
                f"({', '.join(meta.constraints)}); the closest is trial {c.number} (violations: "
                + ", ".join(f"{k} by {max(v, 0):.4g}" for k, v in c.violations.items()) + ")",
                hint="relax a constraint or run more trials") from None
    front = [r for r, on in zip(pool, mask) if on]
    if trial is None:
        weights = decision.preference_vector(pref, meta.objectives) if pref else None
        index = decision.choose(method, values, meta.directions, violations, weights)
        chosen = pool[index]
    on_front = any(r.number == chosen.number for r in front)
    knobs = chosen.knobs
    return Choice(chosen, knobs, method, pref, list(where), front, on_front)


def neighbours(choice: Choice, meta: StudyMeta, width: int = 2) -> list[TrialRecord]:
    """The chosen trial with up to ``width`` front neighbours each side, along the first objective."""
    rows = list(choice.front) if choice.on_front else [*choice.front, choice.record]
    rows.sort(key=lambda r: (r.values[0] if meta.directions[0] == "minimize" else -r.values[0],
                             r.number))
    pos = next(i for i, r in enumerate(rows) if r.number == choice.record.number)
    return rows[max(0, pos - width): pos + width + 1]


# --- pick.yaml --------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """numpy scalars / tuples -> plain YAML-safe values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def pick_document(choice: Choice, source: StudySource) -> dict[str, Any]:
    """The content of ``pick.yaml`` for ``choice``."""
    meta, r = source.meta, choice.record
    config = TrialConfig.from_dict(r.config)  # checks the stored config is complete
    doc = {
        "paretolab_version": __version__,
        "study": meta.name,
        "trial": r.number,
        "method": choice.method,
        "prefer": choice.prefer,
        "where": choice.where,
        "on_front": choice.on_front,
        "objectives": {n: float(v) for n, v in zip(meta.objectives, r.values or [])},
        "directions": dict(zip(meta.objectives, meta.directions)),
        "metrics": dict(r.metrics),
        "feasible": r.feasible,
        "constraints": {k: float(v) for k, v in r.violations.items()},
        "weights": dict(config.weights),
        "balancer": {"method": config.balancer["method"],
                     "settings": dict(config.balancer.get("settings") or {})},
        "train": dict(config.train),
        "knobs": choice.knobs,
        "task": config.task,
        "task_params": dict(config.task_params),
        "loss_groups": dict(config.loss_groups),
        "seed": config.seed,
        "steps": config.steps,
        "base_dir": str(source.base_dir.resolve()) if source.base_dir else None,
        "config": config.to_dict(),
    }
    return _plain(doc)


def write_pick(doc: Mapping[str, Any], path: Path) -> Path:
    """Write ``pick.yaml`` atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text("# written by 'paretolab pick'; load it with paretolab.load_pick()\n"
                   + yaml.safe_dump(dict(doc), sort_keys=False))
    tmp.replace(path)
    return path


def pick(target: str | Path, method: str = "knee", prefer: str | Mapping[str, float] | None = None,
         where: Sequence[str] = (), trial: int | None = None) -> tuple[Choice, StudySource, Path]:
    """Choose a point of the study at ``target`` and write ``<study_dir>/pick.yaml``."""
    source = open_study(target)
    pref = parse_prefer(prefer) if isinstance(prefer, str) or prefer is None else dict(prefer)
    choice = choose_trial(source, method, pref, where, trial)
    path = write_pick(pick_document(choice, source), source.study_dir / PICK_FILE)
    return choice, source, path


# --- production ---------------------------------------------------------------------------------
@dataclass
class Pick:
    """A picked configuration, loaded from ``pick.yaml``, for a user's own training loop."""

    config: TrialConfig
    study: str = ""
    trial: int | None = None
    objectives: dict[str, float] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The training hyperparameters (lr, optimizer, batch_size, weight_decay, ...)."""
        return dict(self.config.train)

    @property
    def loss_names(self) -> list[str]:
        """The balanced losses, in the order the trial used."""
        return list(self.config.loss_groups)

    def balancer(self, loss_names: Sequence[str] | None = None) -> Any:
        """A fresh balancer of the trial's class, with its settings and preference weights."""
        from paretolab.balancers import make_balancer

        names = list(loss_names) if loss_names is not None else self.loss_names
        if sorted(names) != sorted(self.loss_names):
            raise UserError(f"the pick balances losses {self.loss_names}, not {names}")
        try:
            return make_balancer(self.config.balancer["method"], names, self.config.weights,
                                 self.config.balancer.get("settings"))
        except (KeyError, ValueError) as exc:
            raise UserError(f"cannot rebuild balancer {self.config.balancer.get('method')!r}: "
                            f"{exc.args[0] if exc.args else exc}") from None

    def optimizer(self, params: Iterable[Any], balancer: Any = None) -> Any:
        """The trial's optimizer over ``params`` (tensors or param groups), plus the balancer's
        own learnable parameters when it has any (as the trainer does)."""
        from paretolab.trainer import build_optimizer

        items = list(params)
        groups = items if items and isinstance(items[0], Mapping) else [{"params": items}]
        extra = list(balancer.parameters()) if balancer is not None else []
        if extra:
            groups = [*groups, {"params": extra}]
        return build_optimizer(groups, self.config.train)

    def scheduler(self, optimizer: Any, total_steps: int) -> Any:
        """The trial's learning-rate schedule (warm-up, then constant / cosine / linear)."""
        import torch

        from paretolab.trainer import lr_factor

        train = self.config.train
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_factor(s, total_steps, train["lr_schedule"],
                                           int(train["warmup_steps"])))

    def group_losses(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The task's loss terms summed into the balanced losses, as in the trial."""
        from paretolab.trainer import combine_groups

        return combine_groups(raw, self.config.loss_groups, step=0)

    def make_task(self) -> Any:
        """The trial's task (built-in or the user's), with its params."""
        from paretolab.tasks import make_task

        return make_task(self.config.task, self.config.task_params, self.base_dir)


def load_pick(path: str | Path) -> Pick:
    """Read ``pick.yaml`` (written by ``paretolab pick``) into a :class:`Pick`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist", hint="run 'paretolab pick <study>' first")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("config"), Mapping):
        raise UserError(f"{path} is not a pick file: it has no 'config' block",
                        hint="write it with 'paretolab pick'")
    try:
        config = TrialConfig.from_dict(data["config"])
    except TypeError as exc:
        raise UserError(f"{path}: the config block does not describe a trial: {exc}") from None
    base = data.get("base_dir")
    return Pick(config=config, study=str(data.get("study", "")), trial=data.get("trial"),
                objectives=dict(data.get("objectives") or {}),
                directions=dict(data.get("directions") or {}),
                metrics=dict(data.get("metrics") or {}), knobs=dict(data.get("knobs") or {}),
                base_dir=Path(base) if base else path.parent)


@dataclass
class Retrained:
    """A retraining run next to the trial: (objective, direction, trial value, retrained value)."""

    rows: list[tuple[str, str, float | None, float | None]]
    steps: int
    trial_steps: int
    wall_time_s: float
    device: str


def retrain(p: Pick, steps: int | None = None, device: str = "auto") -> Retrained:
    """Train the picked configuration again (``steps`` overrides the trial's budget)."""
    from paretolab.errors import TrialFailure
    from paretolab.trainer import train

    if steps is not None and steps < 1:
        raise UserError(f"--steps must be a positive number, got {steps}")
    n = steps or p.config.steps
    every = max(1, min(p.config.eval_every * n // max(1, p.config.steps), n)) if steps else \
        p.config.eval_every
    config = dataclasses.replace(p.config, steps=n, eval_every=every)
    try:
        result = train(config, device, base_dir=p.base_dir)
    except TrialFailure as exc:
        raise UserError(f"retraining failed: {exc}") from None
    rows = [(name, p.directions.get(name, "minimize"), value, result.metrics.get(name))
            for name, value in p.objectives.items()]
    return Retrained(rows, n, p.config.steps, result.wall_time_s, result.device)
