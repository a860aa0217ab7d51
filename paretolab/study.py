"""Creating or resuming the Optuna study for a checked study file."""

from __future__ import annotations

import warnings
import zlib
from typing import Any, Literal, cast

import optuna

from paretolab.errors import SpecError
from paretolab.records import META_KEY, StudyMeta
from paretolab.samplers import make_sampler
from paretolab.search_space import mixed_seed, trial_seed
from paretolab.spec.checks import CheckedStudy
from paretolab.spec.resume import check_unchanged
from paretolab.storage import open_storage, redact


class TrialSeededRandomSampler(optuna.samplers.BaseSampler):
    """Random sampling where each value depends only on (study seed, trial number, param name).

    Optuna's ``RandomSampler`` draws from one generator per process, so with several workers a
    trial's params depend on which worker took it. Here trial ``n`` gets the same params
    whichever worker runs it and whatever ran before: a parallel run reproduces a sequential
    one trial by trial.
    """

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: dict) -> dict:
        return {}

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        seed = trial_seed(self.seed, trial.number) ^ zlib.crc32(param_name.encode())
        return optuna.samplers.RandomSampler(seed=seed & 0xFFFFFFFF).sample_independent(
            study, trial, param_name, param_distribution)


def study_sampler(spec: Any, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The study file's sampler, seeded with ``seed`` (default: the study's); ``random`` is made
    per-trial seeded from the study seed (reproducible in parallel, whatever ``seed`` says)."""
    if spec.sampler.name == "random" and not spec.sampler.options:
        return TrialSeededRandomSampler(spec.seed)
    return make_sampler(spec.sampler.name, spec.sampler.options, spec.seed if seed is None else seed,
                        spec.budget.trials)


def session_seed(study_seed: int, worker: int | str, trials_before: int) -> int:
    """The sampler seed of one worker session on a study.

    A sampler draws its start-up trials (and TPE its candidates) from its own generator, so two
    workers, or a resumed run, seeded alike would propose the same params again: with two
    workers every trial had a twin. Worker 0 of a fresh study keeps the study seed (a one-worker
    run is reproducible as before); any other session mixes in its worker label and the number
    of trials already in storage.
    """
    if str(worker) == "0" and trials_before == 0:
        return int(study_seed)
    return mixed_seed(study_seed, zlib.crc32(str(worker).encode()), trials_before)


def _redacted_meta(meta: StudyMeta) -> StudyMeta:
    """The stored copy of the study file never holds the storage password."""
    if meta.spec.get("storage"):
        return StudyMeta(**{**meta.to_attr(), "spec": {**meta.spec, "storage": redact(meta.spec["storage"])}})
    return meta


def open_study(checked: CheckedStudy, *, create: bool = True, storage_options: dict | None = None,
               worker: int | str | None = None, storage: optuna.storages.BaseStorage | None = None,
               ) -> optuna.Study:
    """Create the study (first run) or load it (resume, other workers); check it still fits.

    Several processes creating one fresh SQLite study at once crash (optuna5.md), so the
    coordinator creates it once and workers call this with ``create=False``.
    ``storage_options``: heartbeat interval, grace period and retries (see ``open_storage``).
    ``storage``: a storage this process already opened (then ``storage_options`` is unused).
    ``worker``: the worker that will sample trials from this object; its sampler gets the
    :func:`session_seed` of that worker (without it, the study seed).
    """
    spec = checked.spec
    if storage is None:
        storage = open_storage(spec.storage_url, **(storage_options or {}))
    seed = None if worker is None else session_seed(spec.seed, worker, _stored_trials(storage, spec.name))
    sampler = study_sampler(spec, seed)  # built once, with this session's seed
    meta = _redacted_meta(StudyMeta.from_spec(spec, checked.balanced_names))
    if create:
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                    directions=cast(list[Literal["minimize", "maximize"]], spec.directions),
                                    load_if_exists=True)
    else:
        try:
            study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler)
        except KeyError:
            raise SpecError(f"the storage {redact(spec.storage_url)} holds no study named {spec.name!r}",
                            where="name", hint="start it first with 'paretolab run' on one machine, "
                            "then start workers with the same study file and storage") from None
    existing = study.user_attrs.get(META_KEY)
    if existing is None:
        if study.get_trials(deepcopy=False):
            raise SpecError(f"storage already holds a study named {spec.name!r} that paretolab did "
                            "not create", where="name", hint="choose another study name")
        study.set_user_attr(META_KEY, meta.to_attr())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.objective_names)
    else:
        old = StudyMeta(**existing)
        check_unchanged(old.spec, spec, old.overrides)  # before any trial: refuse an edit that changes their meaning
        if old.objectives != meta.objectives or old.directions != meta.directions:
            raise SpecError(
                f"the stored study {spec.name!r} has objectives "
                f"{list(zip(old.objectives, old.directions))}; the file now says "
                f"{list(zip(meta.objectives, meta.directions))}", where="objectives",
                hint="give the study a new name, or delete its directory to start over")
        if old.losses != meta.losses:
            raise SpecError(f"the stored study balances losses {old.losses}; the file now gives "
                            f"{meta.losses}", where="losses",
                            hint="give the study a new name to change the losses")
        if old != meta:  # budget or search changed: keep going with the new file
            study.set_user_attr(META_KEY, meta.to_attr())
    return study


def _stored_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    """How many trials the study ``name`` holds in ``storage`` (0: no such study yet)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))
