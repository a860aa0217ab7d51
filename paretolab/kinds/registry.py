"""Which kind of trial a study file (or a stored configuration) runs: the registered kinds, most
recently registered first, so a more specific kind (a new one-run method) goes before the one it
refines. Adding a kind: its module under :mod:`paretolab.kinds` and one :func:`register` call here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paretolab.kinds.base import TrialKind
from paretolab.kinds.command import CommandKind
from paretolab.kinds.function import FunctionKind
from paretolab.kinds.one_run import OneRunKind
from paretolab.kinds.repeat import Repeated
from paretolab.kinds.task import TaskKind
from paretolab.kinds.warm_start import WarmStartKind

if TYPE_CHECKING:
    import optuna

    from paretolab.records import RepeatRecord
    from paretolab.search_space import TrialConfig
    from paretolab.spec import StudySpec

_KINDS: list[TrialKind] = []
_DEFAULT: TrialKind = TaskKind()


def register(kind: TrialKind) -> None:
    """Add a kind of trial; it is asked before the ones registered earlier."""
    _KINDS.insert(0, kind)


def kinds() -> list[TrialKind]:
    """The registered kinds, in the order they are asked."""
    return [*_KINDS, _DEFAULT]


def for_spec(spec: StudySpec) -> TrialKind:
    """The kind of the study file's trials (the task kind when no other applies)."""
    return next(k for k in kinds() if k is _DEFAULT or k.applies(spec))


def for_trial(spec: StudySpec, repeat: RepeatRecord | None = None,
              trial: optuna.Trial | None = None) -> TrialKind:
    """The kind one trial runs: the study's kind, trained ``budget.repeats`` times, or once with
    the seed of a verify repeat (``repeat``). A kind that hands the rest of the budget over to
    per-weight trials (a one run with ``then: sampler``) gives ``trial`` the kind the study
    would have without it."""
    kind = for_spec(spec)
    hands_over = getattr(kind, "hands_over", None)
    if trial is not None and hands_over is not None and hands_over(trial, spec):
        kind = for_spec(spec.model_copy(update={"one_run": None}))
    seeds = int(getattr(spec.budget, "repeats", 1))
    if repeat is not None or seeds > 1:
        return Repeated(kind, seeds, repeat)
    return kind


def for_config(config: TrialConfig) -> TrialKind:
    """The kind that trained a stored configuration (``pick``, ``paretolab train``)."""
    return next(k for k in kinds() if k is _DEFAULT or k.stored(config))


register(FunctionKind())
register(CommandKind())
register(OneRunKind())
register(WarmStartKind())
