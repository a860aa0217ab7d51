"""Creating or resuming the Optuna study for a checked study file."""

from __future__ import annotations

import warnings

import optuna

from paretolab.errors import SpecError
from paretolab.records import META_KEY, StudyMeta
from paretolab.samplers import make_sampler
from paretolab.spec_check import CheckedStudy
from paretolab.storage import open_storage


def open_study(checked: CheckedStudy, *, create: bool = True) -> optuna.Study:
    """Create the study (first run) or load it (resume, other workers); check it still fits.

    Several processes creating one fresh SQLite study at once crash (optuna5.md), so the
    coordinator creates it once and workers call this with ``create=False``.
    """
    spec = checked.spec
    storage = open_storage(spec.storage_url)
    sampler = make_sampler(spec.sampler.name, spec.sampler.options, spec.seed, spec.budget.trials)
    meta = StudyMeta.from_spec(spec, checked.balanced_names)
    if create:
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                    directions=spec.directions, load_if_exists=True)
    else:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler)
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
