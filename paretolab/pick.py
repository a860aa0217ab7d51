"""``paretolab pick``: choose a trial of a study and write ``pick.yaml``.

``pick.yaml`` holds, once each, what the trial measured (objective values, metrics,
constraints) and what its training run was: the preference weights, the balancer with its
settings, the training hyperparameters, the task with its params, the loss groups, the seed and
the steps. :func:`paretolab.production.load_pick` reads those visible fields back (editing them
changes what production trains); ``knobs`` records what the sampler drew.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from paretolab import __version__, decision, kinds
from paretolab.errors import UserError
from paretolab.locate import StudySource, open_source
from paretolab.records import StudyMeta, TrialRecord, front_candidates, trial_record
from paretolab.search_space import TrialConfig

PICK_FILE = "pick.yaml"
#: the fields of pick.yaml that say what production trains (read back by ``load_pick``), in
#: the order they are written
RUN_FIELDS = ("weights", "balancer", "params", "train", "task", "task_params", "loss_groups", "seed",
              "steps", "eval_every", "extra")
_RUN_HEADER = ("# the training run: load_pick() reads these fields (edit them to change what "
               "production trains)\n")


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
    verified: bool = False  # chosen among the verified front, by the means over seeds


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
                 where: Sequence[str] = (), trial: int | None = None, raw: bool = False) -> Choice:
    """Apply ``--where``, keep the feasible non-dominated trials, and choose one by ``method``
    (or take ``trial``). User errors for unknown names, no feasible trial, an unknown trial.

    On a verified study (``paretolab verify`` ran) the candidates are the verified front's
    configurations, each with its objectives' means over seeds; ``raw`` keeps the raw front."""
    meta = source.meta
    frozen = {t.number: t for t in source.study.get_trials(deepcopy=False)}
    records = [trial_record(t) for t in frozen.values()]
    complete = front_candidates(records)
    verified = False
    if not raw and trial is None:
        from paretolab.verification import verification

        check = verification(meta, records)
        if check.front:  # repeated with fresh seeds: the verified front's means
            by_number = {r.number: r for r in complete}
            complete = [replace(by_number[n], values=[float(v) for v in check.stats[n].mean])
                        for n in check.front]
            verified = True
    if not complete:
        raise UserError(f"study {meta.name!r} has no complete trial to pick from")
    pref = None
    if prefer:
        pref = dict(prefer)
        (decision.reference_levels if method == "reference" else decision.preference_vector)(
            pref, meta.objectives)  # validates names and numbers
    if trial is not None:
        if prefer or where:
            raise UserError("--trial takes one trial as it is; drop --prefer / --where")
        found = next((r for r in complete if r.number == trial), None)
        if found is None:
            link = next((r.one_run for r in records if r.number == trial), None)
            if link is not None and link.role == "run":
                raise UserError(f"trial {trial} is a one-run training; its points are trials "
                                f"{', '.join(map(str, link.points)) or '(none)'}",
                                hint="pick one of its points (see trials.csv)")
            state = frozen[trial].state.name if trial in frozen else "not in the study"
            raise UserError(f"trial {trial} cannot be picked: it is {state}",
                            hint="pick a COMPLETE trial (see trials.csv)")
        method, pool, chosen = "trial", complete, found
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
        weights = None if not pref else (decision.reference_levels(pref, meta.objectives) if method == "reference"
                                         else decision.preference_vector(pref, meta.objectives))
        index = decision.choose(method, values, meta.directions, violations, weights)
        chosen = pool[index]
    on_front = any(r.number == chosen.number for r in front)
    knobs = chosen.knobs
    return Choice(chosen, knobs, method, pref, list(where), front, on_front, verified)


def knee_scale(choice: Choice, meta: StudyMeta) -> str:
    """What the knee was scaled over, in words: each objective's range on the front it was
    chosen from, and how to aim at levels of one's own instead."""
    values = np.array([r.values for r in choice.front], dtype=float).reshape(len(choice.front), -1)
    ranges = ", ".join(f"{name} {values[:, j].min():.4g} to {values[:, j].max():.4g}"
                       for j, name in enumerate(meta.objectives)) if len(values) else "no front"
    example = ",".join(f"{name}={values[:, j].mean():.3g}" for j, name in enumerate(meta.objectives[:2]))
    return (f"knee: the front point closest to the ideal point, each objective scaled to [0, 1] over "
            f"the front's range ({ranges}), so every objective counts the same whatever its units; "
            "a point at the end of a range (with a KL objective: KL 0, the reference policy itself) "
            "is a trade-off like the others. To aim at levels of your own: --method reference "
            f"--prefer {example}")


def _first_value(record: TrialRecord) -> float:
    """The first objective of a complete trial (the front and the chosen trial are complete)."""
    assert record.values is not None
    return record.values[0]


def neighbours(choice: Choice, meta: StudyMeta, width: int = 2) -> list[TrialRecord]:
    """The chosen trial with up to ``width`` front neighbours each side, along the first objective."""
    rows = list(choice.front) if choice.on_front else [*choice.front, choice.record]
    sign = 1.0 if meta.directions[0] == "minimize" else -1.0
    rows.sort(key=lambda r: (sign * _first_value(r), r.number))
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
    """The content of ``pick.yaml`` for ``choice``: what the trial measured, then its run
    (:data:`RUN_FIELDS`, each once)."""
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
        "verified": choice.verified,  # objectives: the means over seeds of the verified front
        "objectives": {n: float(v) for n, v in zip(meta.objectives, r.values or [])},
        "directions": dict(zip(meta.objectives, meta.directions)),
        "metrics": dict(r.metrics),
        "feasible": r.feasible,
        "constraints": {k: float(v) for k, v in r.violations.items()},
        "knobs": choice.knobs,
        "base_dir": str(source.base_dir.resolve()) if source.base_dir else None,
        "weights": dict(config.weights),
        "balancer": config.balancer.to_attr(),
        "train": dict(config.train),
        "task": config.task,
        "task_params": dict(config.task_params),
        "loss_groups": dict(config.loss_groups),
        "seed": config.seed,
        "steps": config.steps,
        "eval_every": config.eval_every,
    }
    kind = kinds.for_config(config)
    doc.update(kind.pick_fields(r, config))  # a one-run point's checkpoint, a trainer's params
    if config.extra:
        doc["extra"] = dict(config.extra)
    if config.extra.get("trainer"):  # your own training code: its params, not the recipe's settings
        doc["params"] = trainer_params(config, choice.knobs)
        del doc["train"], doc["task_params"]
    return _plain(doc)


def trainer_params(config: TrialConfig, knobs: Mapping[str, Any]) -> dict[str, Any]:
    """What a function or command trial's own code was given: its fixed and searched params and
    the training settings the study file set or searched; the built-in recipe's defaults it left
    alone (optimizer, batch size, clipping, ...) stay out."""
    from paretolab.spec.models import TrainSpec

    defaults = TrainSpec().model_dump()
    own = {k: v for k, v in config.train.items()
           if k in knobs or k not in defaults or v != defaults[k]}
    return {**own, **config.task_params}


def write_pick(doc: Mapping[str, Any], path: Path) -> Path:
    """Write ``pick.yaml`` atomically (a temporary file renamed into place); a comment line
    marks where the fields ``load_pick`` reads begin."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    record = {k: v for k, v in doc.items() if k not in RUN_FIELDS}
    run = {k: doc[k] for k in RUN_FIELDS if k in doc}
    tmp.write_text("# written by 'paretolab pick'; load it with paretolab.load_pick()\n"
                   + yaml.safe_dump(record, sort_keys=False)
                   + (_RUN_HEADER + yaml.safe_dump(run, sort_keys=False) if run else ""))
    tmp.replace(path)
    return path


@dataclass
class Picked:
    """A choice, its pick document and, once written, where ``pick.yaml`` is."""

    choice: Choice
    source: StudySource
    document: dict[str, Any]
    path: Path  # pick.yaml (written unless ``write=False``)

    @property
    def picked(self) -> Any:
        """The choice as :func:`paretolab.load_pick` would read it back (a ``Pick``)."""
        from paretolab.production import pick_from_document

        return pick_from_document(self.document, self.path)


def pick_source(source: StudySource, method: str = "knee", prefer: str | Mapping[str, float] | None = None,
                where: Sequence[str] = (), trial: int | None = None, raw: bool = False,
                write: bool = True) -> Picked:
    """Choose a point of a loaded study (see :func:`choose_trial`) and, with ``write``, write
    ``<study_dir>/pick.yaml`` (and a one-run point's ``pick.pt``)."""
    pref = parse_prefer(prefer) if isinstance(prefer, str) or prefer is None else dict(prefer)
    choice = choose_trial(source, method, pref, where, trial, raw=raw)
    doc = pick_document(choice, source)
    path = source.study_dir / PICK_FILE
    if write:
        if doc.get("checkpoint"):
            write_point_checkpoint(choice, source, path.parent / doc["checkpoint"])
        path = write_pick(doc, path)
    return Picked(choice, source, doc, path)


def pick(target: str | Path, method: str = "knee", prefer: str | Mapping[str, float] | None = None,
         where: Sequence[str] = (), trial: int | None = None,
         study_name: str | None = None, raw: bool = False) -> tuple[Choice, StudySource, Path]:
    """Choose a point of the study at ``target`` (a study directory, a study file, or a storage
    URL with ``study_name``; see :mod:`paretolab.locate`) and write ``<study_dir>/pick.yaml``."""
    done = pick_source(open_source(target, study_name), method, prefer, where, trial, raw=raw)
    return done.choice, done.source, done.path


def write_point_checkpoint(choice: Choice, source: StudySource, path: Path) -> Path:
    """Save the picked one-run point's model, ``theta(preference)`` mixed from its run's saved
    anchors, as a plain state dict of the task's model (``torch.load`` + ``load_state_dict``)."""
    import torch

    from paretolab.one_run.train import load_point_model
    from paretolab.records import OneRunRecord

    link = choice.record.one_run
    assert link is not None
    trials = source.study.get_trials(deepcopy=False)
    run = OneRunRecord.read(trials[link.run]) if link.run < len(trials) else None
    anchors = Path(run.anchors) if run is not None and run.anchors else None
    if anchors is None or not anchors.is_file():
        raise UserError(f"the anchors of run {link.run} (trial {choice.record.number}'s training) are not "
                        f"on this machine{f' ({anchors})' if anchors else ''}",
                        hint="pick on the machine that ran it, or copy its runs/ folder here")
    config = TrialConfig.from_dict(choice.record.config)
    _, model = load_point_model(config, anchors, link.preference, source.base_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pt.tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    return path


def __getattr__(name: str) -> Any:
    # production moved to paretolab.production; these names stay importable from here
    if name in ("Pick", "load_pick", "retrain", "Retrained"):
        from paretolab import production

        return getattr(production, name)
    raise AttributeError(f"module 'paretolab.pick' has no attribute {name!r}")
